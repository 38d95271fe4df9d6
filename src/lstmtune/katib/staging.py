"""The prepared dataset where Katib trial pods read it: uploaded by the tune step
(:func:`upload_prepared`), fetched back by each trial (:func:`fetch_prepared`)."""

from __future__ import annotations

from lstmtune.errors import UserError


def upload_prepared(dataset_dir: str, data_uri: str, *, s3_endpoint_url: str | None = None) -> str:
    """Copy a prepared dataset to where trial pods read it (``s3://`` prefix or a shared path)."""
    from pathlib import Path

    from lstmtune.data.io import s3_client, split_s3_uri

    src = Path(dataset_dir)
    files = sorted(p for p in src.iterdir() if p.is_file())
    if data_uri.startswith("s3://"):
        bucket, prefix = split_s3_uri(data_uri.rstrip("/") + "/x")
        prefix = prefix[:-1]
        client = s3_client(s3_endpoint_url)
        for f in files:
            client.upload_file(str(f), bucket, prefix + f.name)
        return data_uri.rstrip("/")
    import shutil

    dest = Path(data_uri)
    dest.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy2(f, dest / f.name)
    return str(dest)


def fetch_prepared(data_uri: str, *, s3_endpoint_url: str | None = None) -> str:
    """A local directory holding the prepared dataset at ``data_uri`` (downloaded if on S3)."""
    import tempfile
    from pathlib import Path

    from lstmtune.data.io import read_bytes

    if not data_uri.startswith("s3://"):
        if not (Path(data_uri) / "metadata.json").is_file():
            raise UserError(f"{data_uri}: not a prepared dataset (metadata.json missing)")
        return data_uri
    local = Path(tempfile.mkdtemp(prefix="lstmtune-data-"))
    for name in ("metadata.json", "train.parquet", "val.parquet", "test.parquet"):
        (local / name).write_bytes(
            read_bytes(f"{data_uri.rstrip('/')}/{name}", s3_endpoint_url=s3_endpoint_url)
        )
    return str(local)
