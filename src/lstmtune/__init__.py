"""lstmtune: find the best hyperparameters for an LSTM, retrain the winner, publish it to MLflow."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lstmtune")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+src"

__all__ = ["__version__"]
