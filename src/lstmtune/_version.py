"""The installed distribution's version, importable without the package root (no cycles)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lstmtune")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+src"
