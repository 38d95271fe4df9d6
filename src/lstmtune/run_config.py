"""The configuration a finished local run used, saved beside its ``summary.json``.

``lstmtune config --output-dir DIR`` printed the defaults with ``output_dir: DIR``, not the
settings of the run that had finished in DIR: nothing in DIR held them. A local run now writes
``run_config.yaml`` (the YAML ``lstmtune config`` prints, every default filled in) when it writes
``summary.json``, so the two always describe the same run, and ``lstmtune config --output-dir DIR``
prints it; ``lstmtune run --config DIR/run_config.yaml`` runs those settings again. A password in
the Optuna storage URL or the MLflow tracking URI is written as ``***``, never to disk.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from lstmtune.config import RunConfig, load_config
from lstmtune.errors import UserError

CONFIG_FILE = "run_config.yaml"
SUMMARY_FILE = "summary.json"


def config_yaml(cfg: RunConfig) -> str:
    """``cfg`` as the YAML ``lstmtune config`` prints (keys in the models' order)."""
    import yaml

    text: str = yaml.safe_dump(json.loads(cfg.to_json()), sort_keys=False)
    return text


def without_password(url: str | None) -> str | None:
    """``url`` with the password of its ``user:password@`` part written as ``***``."""
    if not url or "@" not in url:
        return url
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # not a URL after all
        return url
    if not password:
        return url
    login, _, host = parts.netloc.rpartition("@")
    user = login.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def save_run_config(cfg: RunConfig, out: Path) -> Path:
    """Write the run's configuration to ``out/run_config.yaml`` (atomically); its path."""
    shown = cfg.model_copy(deep=True)
    shown.tune.storage = without_password(shown.tune.storage)
    shown.mlflow.tracking_uri = without_password(shown.mlflow.tracking_uri)
    path = out / CONFIG_FILE
    tmp = out / f"{CONFIG_FILE}.tmp"
    tmp.write_text(config_yaml(shown), encoding="utf-8")
    os.replace(tmp, path)
    return path


def finished_run_config(
    output_dir: str, overrides: dict[str, Any] | None = None
) -> tuple[RunConfig, Path] | None:
    """The configuration of the run that finished in ``output_dir`` (``overrides``, dotted keys,
    applied) and the file it was read from; None where no run finished there. A run that
    finished before runs saved their configuration is refused: its settings are not on disk."""
    root = Path(output_dir).expanduser()
    path = root / CONFIG_FILE
    if path.is_file():
        return load_config(str(path), overrides), path
    if (root / SUMMARY_FILE).is_file():
        raise UserError(
            f"{root / SUMMARY_FILE}: the run in {output_dir} saved no {CONFIG_FILE} (it finished "
            "before lstmtune saved a run's configuration); pass --config with the file it was "
            "run with"
        )
    return None
