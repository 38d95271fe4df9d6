"""Reading data from a real S3-compatible HTTP endpoint (moto in server mode on loopback).

No mocks: boto3 talks HTTP to a moto server listening on 127.0.0.1, exactly as it would to
MinIO. The end-to-end test runs the real CLI, whose kfp.local steps are separate processes
that find the endpoint through the inherited AWS_* environment.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from conftest import TINY_SPACE

from lstmtune.config import example_data_path, load_config
from lstmtune.data.io import read_table
from lstmtune.errors import UserError

pytestmark = pytest.mark.integration

BUCKET = "lstmtune-data"
CSV_KEY = "airline.csv"
PARQUET_KEY = "nested/dir/airline.parquet"

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A moto S3 server on loopback with the airline CSV and a Parquet copy in one bucket."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        csv_bytes = Path(example_data_path()).read_bytes()
        parquet_path = tmp_path_factory.mktemp("s3src") / "airline.parquet"
        pd.read_csv(example_data_path()).to_parquet(parquet_path, index=False)
        parquet_bytes = parquet_path.read_bytes()
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=AWS_ENV["AWS_DEFAULT_REGION"],
            aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        )
        client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key=CSV_KEY, Body=csv_bytes)
        client.put_object(Bucket=BUCKET, Key=PARQUET_KEY, Body=parquet_bytes)
        yield {
            "endpoint": endpoint,
            "csv_bytes": csv_bytes,
            "parquet_path": str(parquet_path),
            "parquet_bytes": parquet_bytes,
        }
    finally:
        server.stop()


@pytest.fixture
def aws_env(
    monkeypatch: pytest.MonkeyPatch, s3_server: dict[str, Any], tmp_path: Path
) -> dict[str, Any]:
    """Dummy credentials and AWS_ENDPOINT_URL pointing at the moto server; no ~/.aws influence."""
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server["endpoint"])
    for key in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return s3_server


def test_read_csv_and_parquet_from_s3_match_local(aws_env: dict[str, Any]) -> None:
    local_csv = read_table(example_data_path())
    remote_csv = read_table(f"s3://{BUCKET}/{CSV_KEY}")
    assert remote_csv.source == f"s3://{BUCKET}/{CSV_KEY}"
    pd.testing.assert_frame_equal(remote_csv.frame, local_csv.frame)
    assert remote_csv.sha256 == local_csv.sha256 == _sha(aws_env["csv_bytes"])
    assert list(remote_csv.frame.columns) == ["month", "passengers"]
    assert len(remote_csv.frame) == 144

    local_pq = read_table(aws_env["parquet_path"])
    remote_pq = read_table(f"s3://{BUCKET}/{PARQUET_KEY}")
    assert remote_pq.source == f"s3://{BUCKET}/{PARQUET_KEY}"
    pd.testing.assert_frame_equal(remote_pq.frame, local_pq.frame)
    pd.testing.assert_frame_equal(remote_pq.frame, local_csv.frame)
    assert remote_pq.sha256 == local_pq.sha256 == _sha(aws_env["parquet_bytes"])
    assert remote_pq.sha256 != remote_csv.sha256


def test_explicit_format_reads_parquet_without_extension(aws_env: dict[str, Any]) -> None:
    """Parquet is detected by its magic bytes, and format=parquet forces it."""
    import boto3

    boto3.client("s3").put_object(Bucket=BUCKET, Key="noext/table", Body=aws_env["parquet_bytes"])
    for fmt in ("auto", "parquet"):
        table = read_table(f"s3://{BUCKET}/noext/table", fmt=fmt)
        pd.testing.assert_frame_equal(table.frame, read_table(example_data_path()).frame)
        assert table.sha256 == _sha(aws_env["parquet_bytes"])


def test_config_endpoint_is_used_when_env_is_unset(
    aws_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from lstmtune.data.prepare import prepare

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    uri = f"s3://{BUCKET}/{CSV_KEY}"
    table = read_table(uri, s3_endpoint_url=aws_env["endpoint"])
    assert table.sha256 == _sha(aws_env["csv_bytes"])

    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(
        yaml.safe_dump(
            {
                "data": {
                    "path": uri,
                    "target": "passengers",
                    "time_column": "month",
                    "s3_endpoint_url": aws_env["endpoint"],
                },
                "output_dir": str(tmp_path / "out"),
            }
        )
    )
    cfg = load_config(str(cfg_path)).resolved()
    assert cfg.data.path == uri  # an s3 URI is not turned into a local path
    _, meta = prepare(cfg)
    assert meta["source"] == uri
    assert meta["sha256"] == _sha(aws_env["csv_bytes"])

    # the configured endpoint is really the one used: a dead endpoint fails with a one-line
    # UserError
    dead = f"http://127.0.0.1:{_free_port()}"
    bad = load_config(str(cfg_path), {"data.s3_endpoint_url": dead}).resolved()
    with pytest.raises(UserError) as info:
        prepare(bad)
    assert uri in str(info.value)
    assert "\n" not in str(info.value)


def test_config_endpoint_wins_over_env(
    aws_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = f"http://127.0.0.1:{_free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", dead)
    table = read_table(f"s3://{BUCKET}/{CSV_KEY}", s3_endpoint_url=aws_env["endpoint"])
    assert table.sha256 == _sha(aws_env["csv_bytes"])


def _classify(path: str, tmp_path: Path) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """The prepared splits and metadata of a classification set at ``path``."""
    from lstmtune.data.prepare import prepare

    keys = {"data.path": path, "data.task": "classify", "output_dir": str(tmp_path / "o")}
    return prepare(load_config(None, keys).resolved())


def test_an_archive_pair_is_read_from_one_s3_prefix_as_from_a_directory(
    aws_env: dict[str, Any], tmp_path: Path
) -> None:
    """``s3://…/Chinatown_TRAIN.tsv`` is read with the ``_TEST`` file under the same prefix
    (:mod:`lstmtune.data.archive`); without it, one line naming the missing key."""
    import boto3

    data = Path(__file__).parent / "data"
    client = boto3.client("s3")
    for name in ("Chinatown_TRAIN.tsv", "Chinatown_TEST.tsv"):
        client.put_object(Bucket=BUCKET, Key=f"ucr/{name}", Body=(data / name).read_bytes())
    train = (data / "Chinatown_TRAIN.tsv").read_bytes()
    client.put_object(Bucket=BUCKET, Key="alone/Chinatown_TRAIN.tsv", Body=train)

    remote, meta = _classify(f"s3://{BUCKET}/ucr/Chinatown_TRAIN.tsv", tmp_path)
    local, local_meta = _classify(str(data / "Chinatown_TRAIN.tsv"), tmp_path)
    for split in ("train", "val", "test"):
        pd.testing.assert_frame_equal(remote[split], local[split])
    assert meta["sha256"] == local_meta["sha256"]
    with pytest.raises(
        UserError, match=r"its test file s3://.*/alone/Chinatown_TEST.tsv: .*NoSuch"
    ):
        _classify(f"s3://{BUCKET}/alone/Chinatown_TRAIN.tsv", tmp_path)


def test_a_zip_archive_on_s3_reads_its_files_inside(
    aws_env: dict[str, Any], tmp_path: Path
) -> None:
    """``s3://…/Chinatown.zip``: the archive is fetched once a file and its ``_TRAIN`` and
    ``_TEST`` files read inside it (:mod:`lstmtune.data.zip_choice`), as from a directory."""
    import io
    import zipfile

    import boto3

    data = Path(__file__).parent / "data"
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w") as archive:
        for name in ("Chinatown_TRAIN.tsv", "Chinatown_TEST.tsv"):
            archive.writestr(name, (data / name).read_bytes())
    boto3.client("s3").put_object(Bucket=BUCKET, Key="zips/Chinatown.zip", Body=body.getvalue())

    remote, meta = _classify(f"s3://{BUCKET}/zips/Chinatown.zip", tmp_path)
    local, _ = _classify(str(data / "Chinatown_TRAIN.tsv"), tmp_path)
    for split in ("train", "val", "test"):
        pd.testing.assert_frame_equal(remote[split], local[split])
    assert meta["source"] == f"s3://{BUCKET}/zips/Chinatown.zip/Chinatown_TRAIN.tsv"


@pytest.mark.parametrize(
    ("uri", "code"),
    [
        (f"s3://{BUCKET}/does-not-exist.csv", "NoSuchKey"),
        ("s3://no-such-bucket-lstmtune/airline.csv", "NoSuchBucket"),
    ],
)
def test_missing_object_or_bucket_is_a_user_error(
    aws_env: dict[str, Any], uri: str, code: str
) -> None:
    with pytest.raises(UserError) as info:
        read_table(uri)
    message = str(info.value)
    assert message.startswith(uri)
    assert code in message
    assert "\n" not in message
    assert "Traceback" not in message


def test_cli_missing_s3_object_exits_2_before_running(
    aws_env: dict[str, Any], tmp_path: Path
) -> None:
    uri = f"s3://{BUCKET}/missing/airline.csv"
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lstmtune.cli",
            "run",
            "--data",
            uri,
            "--target",
            "passengers",
            "--n-trials",
            "1",
            "--output-dir",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert uri in proc.stderr
    assert "NoSuchKey" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (out / "summary.json").exists()


@pytest.mark.slow
def test_cli_run_end_to_end_from_s3(aws_env: dict[str, Any], tmp_path: Path) -> None:
    uri = f"s3://{BUCKET}/{CSV_KEY}"
    cfg_path = tmp_path / "tiny.yaml"
    cfg_path.write_text(
        yaml.safe_dump(
            {
                "data": {"target": "passengers", "time_column": "month"},
                "tune": {"search_space": dict(TINY_SPACE)},
                "train": {"patience": 3},
            }
        )
    )
    out = tmp_path / "out"
    env = dict(
        os.environ
    )  # carries AWS_* (set by the aws_env fixture) into the CLI and its kfp.local steps
    assert env["AWS_ENDPOINT_URL"] == aws_env["endpoint"]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lstmtune.cli",
            "run",
            "--config",
            str(cfg_path),
            "--data",
            uri,
            "--n-trials",
            "2",
            "--model-name",
            "lt-s3",
            "--output-dir",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=str(tmp_path),
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["data_source"] == uri
    assert summary["data_sha256"] == _sha(aws_env["csv_bytes"])
    assert summary["task"] == "forecast"
    assert summary["n_trials_complete"] + summary["n_trials_pruned"] == 2
    assert summary["model_name"] == "lt-s3"
    assert summary["model_version"] == "1"
    assert summary["alias"] in ("champion", "challenger")
    assert summary["best_params"]["units"] in TINY_SPACE["units"]
    assert summary["best_params"]["epochs"] == TINY_SPACE["epochs"]
    assert set(summary["test_metrics"]) >= {"rmse", "mae"}
    assert all(pd.notna(v) for v in summary["test_metrics"].values())
    # the prepared dataset inside the kfp pipeline root records the S3 source too
    metas = [json.loads(p.read_text()) for p in (out / "kfp").rglob("metadata.json")]
    assert metas, "prepare step wrote no metadata.json under the pipeline root"
    assert all(m["source"] == uri and m["sha256"] == summary["data_sha256"] for m in metas)
