"""Files inside a zip archive, as the Monash forecasting repository and the UCR / UEA archive
ship their sets (``m1_yearly_dataset.zip``, ``Chinatown.zip``): a file inside one is named by
the archive's path, ``/`` and its name inside (``Chinatown.zip/Chinatown_TRAIN.ts``; local or
``s3://``), and read from the archive's bytes. An Excel workbook is a zip archive too: it is
told apart by its workbook part and refused by :mod:`lstmtune.data.io`.
"""

from __future__ import annotations

import io
import lzma
import re
import zipfile
import zlib

from lstmtune.errors import UserError

ZIP_MAGIC = b"PK\x03\x04"
#: ``<archive>.zip/<name inside>``: the archive's path and the member's name
_INSIDE = re.compile(r"^(?P<outer>.+?\.zip)/(?P<member>.+)$", re.IGNORECASE)


def split_zip(uri: str) -> tuple[str, str] | None:
    """The archive's path and the member's name of ``a.zip/b.csv`` (None: no member named)."""
    found = _INSIDE.match(uri)
    return None if found is None else (found["outer"], found["member"])


def _open(uri: str, raw: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile as exc:
        raise UserError(f"{uri}: a damaged zip archive ({exc})") from None


def is_workbook(raw: bytes) -> bool:
    """Whether zip bytes are an Excel workbook (``.xlsx``: its ``xl/workbook.xml`` part)."""
    try:
        return "xl/workbook.xml" in zipfile.ZipFile(io.BytesIO(raw)).namelist()
    except zipfile.BadZipFile:
        return False


def members(uri: str, raw: bytes) -> list[str]:
    """The files inside (no folders, no macOS ``__MACOSX/`` copies, no hidden files)."""
    names = [info.filename for info in _open(uri, raw).infolist() if not info.is_dir()]
    return [
        n
        for n in names
        if not n.startswith("__MACOSX/") and not n.rsplit("/", 1)[-1].startswith(".")
    ]


def member_bytes(outer: str, raw: bytes, member: str) -> bytes:
    """The bytes of the file ``member`` inside the archive ``outer`` (``raw``: its bytes)."""
    archive = _open(outer, raw)
    try:
        return archive.read(member)
    except KeyError:
        inside = members(outer, raw)
        shown = ", ".join(inside[:5]) + (f", … ({len(inside)} in all)" if len(inside) > 5 else "")
        raise UserError(f"{outer}/{member}: file not found in {outer} (it holds {shown})") from None
    except RuntimeError as exc:  # an encrypted member: "File ... is encrypted, password required"
        raise UserError(f"{outer}: {exc}; unzip it and name the file") from None
    except (
        zipfile.BadZipFile,
        NotImplementedError,
        OSError,
        EOFError,
        zlib.error,
        lzma.LZMAError,
    ) as exc:
        raise UserError(f"{outer}/{member}: cannot read it from the zip archive ({exc})") from None
