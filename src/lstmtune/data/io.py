"""Read a CSV or Parquet table from a local path or an ``s3://`` URI (boto3; MinIO via endpoint)."""

from __future__ import annotations

import csv
import functools
import gzip
import hashlib
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from lstmtune.data.headerless import headerless_names, headerless_note
from lstmtune.data.note_rows import without_notes, without_title
from lstmtune.data.number_text import numbers_as_written
from lstmtune.data.zipped import ZIP_MAGIC, is_workbook, member_bytes, split_zip
from lstmtune.errors import UserError

PARQUET_MAGIC = b"PAR1"


@dataclass(frozen=True)
class RawTable:
    frame: pd.DataFrame
    source: str
    sha256: str
    notes: tuple[str, ...] = ()  # warning lines about how the file was read (its encoding)
    header_note: str | None = None  # of them, the one saying its first line held values

    @property
    def headerless(self) -> bool:
        """Whether the file had no header: its columns are named by lstmtune."""
        return self.header_note is not None


def split_s3_uri(uri: str) -> tuple[str, str]:
    rest = uri[len("s3://") :]
    bucket, _, key = rest.partition("/")
    if not bucket or not key:
        raise UserError(f"{uri}: an S3 URI must look like s3://bucket/key")
    return bucket, key


def s3_client(endpoint_url: str | None = None) -> Any:
    """A boto3 S3 client; the endpoint comes from the argument or ``AWS_ENDPOINT_URL``."""
    import boto3

    endpoint = (
        endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    )
    return boto3.client("s3", endpoint_url=endpoint or None)


def read_bytes(uri: str, *, s3_endpoint_url: str | None = None) -> bytes:
    """The file's bytes; ``a.zip/b.csv`` names the file ``b.csv`` inside the archive ``a.zip``
    (:mod:`lstmtune.data.zipped`)."""
    inside = split_zip(uri)
    if inside is not None and not Path(uri).exists():
        outer, member = inside
        return member_bytes(outer, read_bytes(outer, s3_endpoint_url=s3_endpoint_url), member)
    if uri.startswith("s3://"):
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, key = split_s3_uri(uri)
        try:
            obj = s3_client(s3_endpoint_url).get_object(Bucket=bucket, Key=key)
            body: bytes = obj["Body"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise UserError(f"{uri}: cannot read from S3 ({code})") from None
        except BotoCoreError as exc:
            raise UserError(f"{uri}: cannot read from S3 ({exc})") from None
        return body
    if "://" in uri:
        raise UserError(f"{uri}: unsupported URI scheme (use a local path or s3://)")
    path = Path(uri)
    if not path.exists():
        raise UserError(f"{uri}: file not found")
    if not path.is_file():
        raise UserError(f"{uri}: not a file")
    return path.read_bytes()


def _detect_format(uri: str, data: bytes, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    lower = uri.lower()
    if lower.endswith((".parquet", ".pq")) or data[:4] == PARQUET_MAGIC:
        return "parquet"
    return "csv"


def _text(uri: str, data: bytes) -> tuple[str, str | None]:
    """The CSV's text and a warning line where it was not all UTF-8: UTF-8 (with or without a
    byte-order mark), UTF-16 with its mark, else each line UTF-8 where it is and Windows-1252
    where not (a CSV that Excel saved on Windows: ``Año`` as ``41 f1 6f``; a UTF-8 file that one
    pasted cell made otherwise keeps its UTF-8 header)."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # Excel's "Unicode text", PowerShell's default
        return data.decode("utf-16"), None
    if data[:4] == ZIP_MAGIC and (uri.lower().endswith((".xlsx", ".xlsm")) or is_workbook(data)):
        raise UserError(f"{uri}: an Excel workbook; save the sheet as CSV (CSV UTF-8)")
    if data[:4] == ZIP_MAGIC:
        raise UserError(
            f"{uri}: a zip archive; name the file to read inside it: --data {uri}/<file>"
        )
    if b"\x00" in data[:8192]:
        raise UserError(f"{uri}: not a text CSV file (binary content)")
    note = None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        if not _western_text(data[:65536]):
            raise UserError(
                f"{uri}: not a text CSV file (neither UTF-8 nor {CP1252}: binary content?)"
            ) from None
        text, note = _by_line(uri, data.removeprefix(b"\xef\xbb\xbf"))
    if _JSON.match(text):  # not a header such as [Date],[Value] (SQL tools write those)
        raise UserError(f"{uri}: looks like JSON; lstmtune reads CSV or Parquet")
    return text, note


CP1252 = "Windows-1252"
#: latin-1's characters 0x80-0x9f as Windows-1252 reads those bytes (``€``, ``Ž``, ``—``, …);
#: the five it leaves undefined (0x81, 0x8d, 0x8f, 0x90, 0x9d) stay latin-1's
_CP1252 = {
    b: bytes([b]).decode("cp1252") for b in range(0x80, 0xA0) if b not in b"\x81\x8d\x8f\x90\x9d"
}


def _western_text(head: bytes) -> bool:
    """Whether bytes that are not UTF-8 read as Western European text: no control characters
    but tabs and line ends, and letters beyond ASCII (``ñ``, ``é``) at most a third of them."""
    if re.search(rb"[\x00-\x08\x0b\x0e-\x19\x1b-\x1f\x7f]", head):
        return False
    return sum(b >= 0x80 for b in head) <= len(head) / 3


def _by_line(uri: str, data: bytes) -> tuple[str, str]:
    """Bytes that are not UTF-8 throughout as text, line by line (UTF-8 where a line is, else
    Windows-1252), and the warning line saying so with a word as read."""
    texts, other, utf8 = [], [], False
    for i, line in enumerate(data.splitlines(keepends=True)):
        try:
            texts.append(line.decode("utf-8"))
            utf8 = utf8 or not line.isascii()
        except UnicodeDecodeError:
            texts.append(line.decode("latin-1").translate(_CP1252))
            other.append(i)
    text, first = "".join(texts), texts[other[0]]
    word = next((w for w in re.split(r"[\s,;|\t\"]+", first) if not w.isascii()), "")
    shown = f" ({word[:40]!r} as read)" if word else ""
    if utf8:  # UTF-8 beside Windows-1252: say which lines
        lines = f"line {other[0] + 1}" + (f" and {len(other) - 1} more" if len(other) > 1 else "")
        return text, (
            f"warning: {uri} mixes UTF-8 and {CP1252}: {lines} read as {CP1252}{shown}; if its"
            " text reads wrong, save it as CSV UTF-8"
        )
    return text, (
        f"warning: {uri} is not UTF-8: read as {CP1252}{shown}, as Excel saves a CSV on"
        " Windows; if its text reads wrong, save it as CSV UTF-8"
    )


_JSON = re.compile(r'\s*(\[\s*[{\["]|\{\s*")')  # [{…}, …], ["…"], {"key": …}


def _first_line(text: str) -> str:
    lines = text.lstrip().splitlines()  # \n, \r\n and the old Mac's \r alike
    return lines[0] if lines else ""


def _separator(uri: str, text: str) -> str:
    """``,`` unless the header has none and tabs or semicolons (a ``.tsv``, a European CSV)."""
    header = _first_line(text)
    if "," in header and not uri.lower().removesuffix(".gz").endswith(".tsv"):
        return ","
    for sep in ("\t", ";", "|"):
        if sep in header:
            return sep
    return ","


def _header(text: str, sep: str) -> list[str]:
    return [c.strip() for c in next(csv.reader([_first_line(text)], delimiter=sep), [])]


def _parse(
    uri: str, data: bytes, kind: str, ids: tuple[str, ...] = ()
) -> tuple[pd.DataFrame, tuple[str, ...], str | None]:
    """The table, the warning lines about how it was read and, of them, the one saying it had
    no header."""
    if kind == "parquet":
        return pd.read_parquet(io.BytesIO(data)), (), None
    text, note = _text(uri, data)
    text, titles, skipped = without_title(uri, text)  # a title above the table, notes below
    sep = _separator(uri, text)
    text, below = without_notes(uri, text, sep, skipped)
    notes = (*((note,) if note else ()), *titles, *below)
    names = _header(text, sep)
    given = headerless_names(names)  # a first line of values: no header
    twice = next((c for i, c in enumerate(names) if c and c in names[:i]), None)
    if twice is not None and given is None:
        raise UserError(f"{uri}: column '{twice}' appears twice in the header; rename one")
    # rows of only separators at the end (a spreadsheet's) are not data
    cut = max(0, len(text) - 65536)  # the regex on the file's end only: fast on large files
    text = text[:cut] + re.sub(rf"(?:[\r\n]+[{re.escape(sep)} \t]*)+$", "\n", text[cut:])
    read = functools.partial(pd.read_csv, sep=sep, skipinitialspace=True)
    header_note = None
    if given is not None:
        header_note = headerless_note(uri, names, given)
        read = functools.partial(read, header=None, names=given)
        notes = (*notes, header_note)
    frame = read(io.StringIO(text), dtype=dict.fromkeys(ids, str))
    # 168,0 in a European file, "1,120" in an American one: numbers (:mod:`.number_text`)
    frame, read_as = numbers_as_written(frame, sep, lambda: read(io.StringIO(text), dtype=str), ids)
    for c in ids:
        if c in frame.columns:
            frame[c] = _ids_as_read(frame[c])
    return frame, (*notes, *read_as), header_note


def _ids_as_read(ids: pd.Series) -> pd.Series:
    """An id column read as text, as numbers where that keeps every id apart (as pandas would
    have read it); as text where numbers would join two ids ('001' and '1'). A cell's
    surrounding spaces are not part of its id ('104 ' is 104, as pandas reads a number)."""
    stripped = ids.str.strip()
    ids = stripped.where(stripped != "")  # a cell of spaces is an empty one
    numbers = pd.to_numeric(ids, errors="coerce")
    if numbers.isna().sum() > ids.isna().sum():
        return ids
    return numbers if numbers.nunique() == ids.nunique() else ids


def gunzipped(uri: str, data: bytes) -> bytes:
    """``data`` decompressed where it is gzip (``.csv.gz``, ``.tsf.gz``), else as it is."""
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError) as exc:
        raise UserError(f"{uri}: a damaged gzip file ({exc})") from None


def read_table(
    uri: str, *, fmt: str = "auto", s3_endpoint_url: str | None = None, ids: tuple[str, ...] = ()
) -> RawTable:
    """Read and parse a table; every failure is a one-line :class:`UserError` naming ``uri``.
    A gzip-compressed file (``.csv.gz``) is read as what it holds; the CSV columns ``ids`` are
    read as text."""
    data = read_bytes(uri, s3_endpoint_url=s3_endpoint_url)
    if not data.strip():
        raise UserError(f"{uri}: file is empty")
    digest = hashlib.sha256(data).hexdigest()
    data = gunzipped(uri, data)
    kind = _detect_format(uri.removesuffix(".gz"), data, fmt)
    try:
        frame, notes, header_note = _parse(uri, data, kind, ids)
    except UserError:
        raise
    except UnicodeDecodeError:
        raise UserError(f"{uri}: not a UTF-8 CSV file (binary content?)") from None
    except Exception as exc:  # pandas/pyarrow raise many types for unparsable input
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{uri}: cannot parse as {kind}: {first}") from None
    if frame.shape[1] == 0:
        raise UserError(f"{uri}: no columns")
    if len(frame) == 0:
        raise UserError(f"{uri}: header only, no data rows")
    frame.columns = [str(c).strip() for c in frame.columns]
    return RawTable(frame, uri, digest, notes, header_note)
