"""The ``lstmtune`` argument parser: sub-commands and the run flags that map to config keys."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

# CLI flag -> dotted config key
RUN_FLAGS: dict[str, tuple[str, Any, str]] = {
    "--data": (
        "data.path",
        str,
        "CSV/Parquet path or s3:// URI (default: bundled airline passengers)",
    ),
    "--task": ("data.task", str, "forecast | classify | text"),
    "--target": ("data.target", str, "forecast: column to predict"),
    "--time-column": ("data.time_column", str, "time/order column"),
    "--sequence-column": ("data.sequence_column", str, "classify: sequence id column"),
    "--series-column": ("data.series_column", str, "forecast: series id column (many series)"),
    "--label": ("data.label", str, "classify / text: label column"),
    "--text-column": ("data.text_column", str, "text: column with the raw text"),
    "--split-column": ("data.split_column", str, "column with train/val/test values"),
    "--freq": (
        "data.freq",
        "int_or_word",
        "forecast: frequency of the time column (pandas alias such as MS, QS, h; or a step)",
    ),
    "--missing": (
        "data.missing",
        str,
        "error | ffill | interpolate: missing values and missing periods of the time column",
    ),
    "--lookback": (
        "tune.search_space.lookback",
        int,
        "forecast: fix the lookback window (removes it from the search)",
    ),
    "--horizon": ("data.horizon", int, "forecast: steps ahead"),
    "--val-size": ("data.val_size", None, "int = count, float in (0,1) = fraction"),
    "--test-size": ("data.test_size", None, "int = count, float in (0,1) = fraction"),
    "--n-trials": ("tune.n_trials", int, "number of trials"),
    "--timeout": ("tune.timeout", float, "tuning time budget in seconds"),
    "--sampler": ("tune.sampler", str, "tpe | random | grid | cmaes"),
    "--pruner": ("tune.pruner", str, "hyperband | successive_halving | median | none"),
    "--backend": ("tune.backend", str, "optuna | katib"),
    "--fuse-trials": (
        "tune.fuse_trials",
        "int_or_word",
        "auto | off | K: train same-shape trials as one fused model",
    ),
    "--subset": ("tune.subset", float, "tune on this fraction of the training data first (0-1]"),
    "--strategy": ("tune.strategy", str, "bayes | pbt (population-based training)"),
    "--workers": (
        "tune.workers",
        int,
        "parallel Optuna workers sharing the study (needs --storage postgresql://...)",
    ),
    "--storage": ("tune.storage", str, "Optuna storage URL (default: SQLite in the output dir)"),
    "--study-name": (
        "tune.study_name",
        str,
        "Optuna study name (a rerun with the same name resumes)",
    ),
    "--tracking-uri": (
        "mlflow.tracking_uri",
        str,
        "MLflow tracking URI (default: SQLite in the output dir)",
    ),
    "--model-name": ("mlflow.model_name", str, "registered model name"),
    "--output-dir": ("output_dir", str, "where results go (default: ./lstmtune-output)"),
    "--seed": ("train.seed", int, "random seed"),
    "--device": ("train.device", str, "auto | cpu | cuda"),
}


def _number(text: str) -> float | int:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _int_or_word(text: str) -> int | str:
    return int(text) if text.strip().isdigit() else text


def _add_run_flags(p: argparse.ArgumentParser, only: Sequence[str] | None = None) -> None:
    p.add_argument("--config", help="YAML config file (flags override it)")
    for flag, (key, typ, text) in RUN_FLAGS.items():
        if only is not None and flag not in only:
            continue
        kind = _int_or_word if typ == "int_or_word" else typ or _number
        p.add_argument(
            flag,
            dest=key,
            type=kind,
            default=None,
            help=text,
            metavar=flag.strip("-").split("-")[-1].upper(),
        )


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lstmtune",
        description=(
            "Tune, retrain and publish LSTM sequence models"
            " (Kubeflow pipeline; runs locally via kfp.local)."
        ),
    )
    from lstmtune._version import __version__

    parser.add_argument("--version", action="version", version=f"lstmtune {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_run_command(sub)
    _add_compile_command(sub)
    _add_cluster_commands(sub)
    _add_report_commands(sub)
    _add_config_command(sub)
    _add_katib_commands(sub)
    _add_debug_commands(sub)
    return parser


def _add_run_command(sub: Any) -> None:
    run = sub.add_parser(
        "run",
        help="run the whole pipeline locally (prepare -> tune -> retrain -> evaluate -> register)",
    )
    _add_run_flags(run)
    run.add_argument(
        "--image", help="container image recorded in the pipeline (locally informational)"
    )
    run.add_argument(
        "--verbose",
        "-v",
        action="count",
        default=0,
        help="-v: every step's output; -vv: also per-epoch progress",
    )
    run.add_argument(
        "--quiet", "-q", action="store_true", help="print only the final summary (and errors)"
    )
    run.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=None,
        help="json: one JSON object per progress event and a JSON summary (CI, cluster logs)",
    )


def _add_compile_command(sub: Any) -> None:
    comp = sub.add_parser(
        "compile",
        help="write the compiled KFP pipeline (IR YAML) with the config's cluster settings",
    )
    comp.add_argument("--output", "-o", required=True, help="output YAML file")
    comp.add_argument(
        "--config", help="YAML config (cluster: GPUs, tolerations, secrets; tune.backend)"
    )
    comp.add_argument("--image", help="project image every step runs (overrides cluster.image)")


def _add_cluster_commands(sub: Any) -> None:
    for name, text in (
        ("submit", "upload the pipeline to Kubeflow Pipelines and start a run"),
        ("schedule", "create a recurring run (KFP 6-field cron, seconds first)"),
    ):
        sp = sub.add_parser(name, help=text)
        sp.add_argument("--config", help="YAML config for the cluster run")
        sp.add_argument(
            "--host", help="KFP API endpoint, e.g. http://127.0.0.1:8888 (default: in-cluster)"
        )
        sp.add_argument("--namespace", help="Kubernetes namespace (multi-user Kubeflow)")
        sp.add_argument("--experiment", default="lstmtune", help="KFP experiment name")
        sp.add_argument(
            "--service-account",
            help="service account of the run's pods (default: lstmtune-pipeline)",
            default="lstmtune-pipeline",
        )
        sp.add_argument("--image", help="project image (overrides cluster.image)")
        if name == "submit":
            sp.add_argument("--run-name")
            sp.add_argument(
                "--wait",
                action="store_true",
                help="wait for the run to finish; exit 1 unless it succeeded",
            )
            sp.add_argument("--timeout", type=float, default=6 * 3600)
        else:
            sp.add_argument("--cron", required=True, help="e.g. '0 0 3 * * *' (daily 03:00)")
            sp.add_argument("--name", default="lstmtune-scheduled", help="recurring run name")
            sp.add_argument("--max-concurrency", type=int, default=1)
            sp.add_argument(
                "--catchup",
                action="store_true",
                help="backfill missed intervals (default: no catch-up)",
            )


def _add_report_commands(sub: Any) -> None:
    rp = sub.add_parser("report", help="write a self-contained HTML report of a finished run")
    rp.add_argument("--output-dir", default="lstmtune-output")
    rp.add_argument("--storage", help="Optuna storage URL (default: the run's own)")

    for name, text, port in (
        ("dashboard", "start optuna-dashboard on the run's study storage", 8080),
        ("ui", "start the MLflow UI on the run's tracking URI", 5000),
    ):
        dp = sub.add_parser(name, help=text)
        dp.add_argument("--output-dir", default="lstmtune-output")
        dp.add_argument("--config", help="YAML config (storage / tracking URI)")
        dp.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
        dp.add_argument("--port", type=int, default=port)


def _add_config_command(sub: Any) -> None:
    cf = sub.add_parser("config", help="print the effective configuration, or its JSON schema")
    _add_run_flags(cf)
    cf.add_argument(
        "--schema",
        action="store_true",
        help="JSON schema of the config file (generated from the pydantic model)",
    )
    cf.add_argument(
        "--reference", action="store_true", help="the configuration reference as a Markdown table"
    )


def _add_katib_commands(sub: Any) -> None:
    kx = sub.add_parser(
        "katib-experiment", help="print the Katib Experiment YAML the katib backend would submit"
    )
    kx.add_argument("--config", help="YAML config")
    kx.add_argument("--name", help="Experiment name (default: derived from the study name)")
    kx.add_argument("--image", help="trial image")
    kx.add_argument("--gpus", type=int, help="GPUs per trial")
    kx.add_argument(
        "--data",
        help=(
            "prepared dataset the trials read"
            " (s3:// prefix or path; default: <tune.katib.data_uri>/<name>)"
        ),
    )

    tr = sub.add_parser(
        "trial",
        help="train one configuration and print Katib metric lines (used by Katib trial pods)",
    )
    tr.add_argument("--data", required=True, help="prepared dataset (s3:// prefix or directory)")
    tr.add_argument("--config-b64", required=True, help="base64 of the run config JSON")
    tr.add_argument(
        "--param", action="append", default=[], help="NAME=VALUE, one per searched hyperparameter"
    )
    tr.add_argument("--parent-run-id", default="", help="MLflow parent run for a nested trial run")
    tr.add_argument(
        "--checkpoint",
        help=(
            "Katib pbt: directory with the parent member's state;"
            " the trial continues it and saves its own"
        ),
    )


def _add_debug_commands(sub: Any) -> None:
    prep = sub.add_parser("prepare", help="debug: validate and split the data into a directory")
    _add_run_flags(prep)
    prep.add_argument(
        "--dataset-dir", required=True, help="where to write train/val/test Parquet + metadata.json"
    )

    tune = sub.add_parser("tune", help="debug: run the study on a prepared dataset directory")
    _add_run_flags(tune)
    tune.add_argument("--dataset-dir", required=True)
    tune.add_argument("--best", required=True, help="output JSON with the best configuration")

    trn = sub.add_parser("train", help="debug: retrain the best configuration and evaluate it")
    _add_run_flags(trn)
    trn.add_argument("--dataset-dir", required=True)
    trn.add_argument("--best", required=True, help="JSON written by 'lstmtune tune'")
    trn.add_argument("--model-dir", required=True)

    reg = sub.add_parser("register", help="debug: publish a trained model directory to MLflow")
    _add_run_flags(reg)
    reg.add_argument("--dataset-dir", required=True)
    reg.add_argument("--best", required=True)
    reg.add_argument("--model-dir", required=True)
    reg.add_argument(
        "--run-id", required=True, help="MLflow parent run id (printed by 'lstmtune prepare')"
    )
