"""Which file of a zip archive named as ``--data`` to read (``m1_yearly_dataset.zip``: the
``.tsf`` file it holds; ``Chinatown.zip``, as the UCR / UEA archive ships a set with its
``.arff``, ``.ts`` and ``.txt`` copies: the ``_TRAIN`` file to classify, ``.ts`` first, read with
its ``_TEST`` file beside it inside the archive). An archive holding one table or ``.tsf`` file
reads as that file; one holding several is refused in one line naming them and how to name one
(``--data Chinatown.zip/Chinatown_TRAIN.ts``)."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from lstmtune.config import DataConfig
from lstmtune.config_base import ARCHIVE_NAME
from lstmtune.data.io import read_bytes
from lstmtune.data.zipped import members, split_zip
from lstmtune.errors import UserError

#: the files an archive may hold that lstmtune reads, by suffix
_DATA = (".csv", ".csv.gz", ".tsv", ".txt", ".tsf", ".parquet", ".pq", ".ts")
#: the archive's own layouts of one classification set, in the order they are preferred
_PAIRS = (".ts", ".tsv", ".txt", "")


def _is_zip(data: DataConfig) -> bool:
    path = data.path or ""
    return data.format == "auto" and path.lower().endswith(".zip") and split_zip(path) is None


def _training_file(names: list[str]) -> str | None:
    """The archive's ``_TRAIN`` file to classify (``.ts`` first), where its ``_TEST`` is there."""
    for ext in _PAIRS:
        for name in names:
            found = ARCHIVE_NAME.match(PurePosixPath(name).name)
            if found and found["role"].lower() == "train" and (found["ext"] or "").lower() == ext:
                test = name[: len(name) - len(found["role"] + (found["ext"] or ""))]
                if any(n.lower() == (test + "test" + (found["ext"] or "")).lower() for n in names):
                    return name
    return None


def _refused(uri: str, names: list[str], why: str) -> UserError:
    shown = ", ".join(names[:6]) + (f", … ({len(names)} in all)" if len(names) > 6 else "")
    example = names[0] if names else "<file>"
    return UserError(
        f"{uri}: a zip archive {why} ({shown}); name the one to read: --data {uri}/{example}"
    )


def zip_member(data: DataConfig) -> tuple[DataConfig, dict[str, Any]]:
    """``data`` naming the file to read inside the zip archive ``data.path`` names, and what
    was chosen (unchanged and an empty dict where ``data.path`` is no zip archive)."""
    if not _is_zip(data):
        return data, {}
    uri = str(data.path)
    names = members(uri, read_bytes(uri, s3_endpoint_url=data.s3_endpoint_url))
    readable = [n for n in names if n.lower().endswith(_DATA)]
    chosen = _training_file(readable) if data.task == "classify" else None
    if chosen is None:
        others = [n for n in readable if not ARCHIVE_NAME.match(PurePosixPath(n).name)]
        if not readable:
            shown = ", ".join(names[:6]) or "empty"
            raise UserError(
                f"{uri}: a zip archive of no file lstmtune reads ({shown}): unzip it and name a"
                " CSV, Parquet, .tsf or UCR / UEA archive file"
            )
        if len(readable) != 1 and len(others) != 1:
            raise _refused(uri, readable, f"of {len(readable)} data files")
        chosen = readable[0] if len(readable) == 1 else others[0]
    note = {"archive": PurePosixPath(uri).name, "member": chosen, "files": len(names)}
    return data.model_copy(update={"path": f"{uri}/{chosen}"}), note


def zip_line(note: dict[str, Any]) -> str:
    """The prepare step's line: ``read Chinatown_TRAIN.ts from the zip archive Chinatown.zip
    (one of its 6 files)``."""
    return (
        f"read {note['member']} from the zip archive {note['archive']} (one of its "
        f"{note['files']} files; --data {note['archive']}/<file> names another)"
    )
