"""``lstmtune`` command line. Exit codes: 0 success, 2 bad input or config, 1 unexpected failure."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from lstmtune.errors import UserError
from lstmtune.runner import PipelineFailed

# CLI flag -> dotted config key
RUN_FLAGS: dict[str, tuple[str, type | None, str]] = {
    "--data": ("data.path", str, "CSV/Parquet path or s3:// URI (default: bundled airline passengers)"),
    "--task": ("data.task", str, "forecast | classify"),
    "--target": ("data.target", str, "forecast: column to predict"),
    "--time-column": ("data.time_column", str, "time/order column"),
    "--sequence-column": ("data.sequence_column", str, "classify: sequence id column"),
    "--label": ("data.label", str, "classify: label column"),
    "--split-column": ("data.split_column", str, "column with train/val/test values"),
    "--lookback": ("tune.search_space.lookback", int, "forecast: fix the lookback window (removes it from the search)"),
    "--horizon": ("data.horizon", int, "forecast: steps ahead"),
    "--val-size": ("data.val_size", None, "int = count, float in (0,1) = fraction"),
    "--test-size": ("data.test_size", None, "int = count, float in (0,1) = fraction"),
    "--n-trials": ("tune.n_trials", int, "number of trials"),
    "--timeout": ("tune.timeout", float, "tuning time budget in seconds"),
    "--sampler": ("tune.sampler", str, "tpe | random | grid | cmaes"),
    "--pruner": ("tune.pruner", str, "hyperband | median | none"),
    "--backend": ("tune.backend", str, "optuna | katib"),
    "--workers": ("tune.workers", int, "parallel Optuna workers sharing the study (needs --storage postgresql://...)"),
    "--storage": ("tune.storage", str, "Optuna storage URL (default: SQLite in the output dir)"),
    "--study-name": ("tune.study_name", str, "Optuna study name (a rerun with the same name resumes)"),
    "--tracking-uri": ("mlflow.tracking_uri", str, "MLflow tracking URI (default: SQLite in the output dir)"),
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


def _add_run_flags(p: argparse.ArgumentParser, only: Sequence[str] | None = None) -> None:
    p.add_argument("--config", help="YAML config file (flags override it)")
    for flag, (key, typ, text) in RUN_FLAGS.items():
        if only is not None and flag not in only:
            continue
        p.add_argument(flag, dest=key, type=typ or _number, default=None, help=text, metavar=flag.strip("-").split("-")[-1].upper())


def _load(args: argparse.Namespace) -> Any:
    from lstmtune.config import load_config

    overrides = {key: getattr(args, key) for key, _, _ in RUN_FLAGS.values() if hasattr(args, key)}
    return load_config(args.config, overrides)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lstmtune", description="Tune, retrain and publish LSTM sequence models (Kubeflow pipeline; runs locally via kfp.local).")
    from lstmtune import __version__

    parser.add_argument("--version", action="version", version=f"lstmtune {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run the whole pipeline locally (prepare -> tune -> retrain -> evaluate -> register)")
    _add_run_flags(run)
    run.add_argument("--image", help="container image recorded in the pipeline (locally informational)")
    run.add_argument("--verbose", "-v", action="store_true", help="show every step's output, not only progress lines")

    comp = sub.add_parser("compile", help="write the compiled KFP pipeline (IR YAML)")
    comp.add_argument("--output", "-o", required=True, help="output YAML file")
    comp.add_argument("--image", help="project image every step runs")

    prep = sub.add_parser("prepare", help="debug: validate and split the data into a directory")
    _add_run_flags(prep)
    prep.add_argument("--dataset-dir", required=True, help="where to write train/val/test Parquet + metadata.json")

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
    reg.add_argument("--run-id", required=True, help="MLflow parent run id (printed by 'lstmtune prepare')")
    return parser


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "compile":
        from lstmtune.pipelines import DEFAULT_IMAGE, compile_pipeline

        compile_pipeline(args.output, args.image or DEFAULT_IMAGE)
        print(f"wrote {args.output}")
        return 0
    cfg = _load(args).resolved()
    if args.command == "run":
        from lstmtune.runner import format_summary, run_local

        summary = run_local(cfg, verbose=args.verbose, image=args.image)
        print(format_summary(summary))
        return 0
    from lstmtune import steps

    config = cfg.to_json()
    if args.command == "prepare":
        run_id = steps.prepare_step(config, args.dataset_dir)
        print(json.dumps({"dataset_dir": args.dataset_dir, "run_id": run_id}))
        return 0
    if args.command == "tune":
        print(json.dumps(steps.tune_step(config, args.dataset_dir, "", args.best), indent=2))
        return 0
    if args.command == "train":
        print(json.dumps(steps.train_best_step(config, args.dataset_dir, args.best, "", args.model_dir), indent=2))
        return 0
    if args.command == "register":
        print(steps.register_step(config, args.dataset_dir, args.model_dir, args.best, args.run_id, args.model_dir + "/summary.json"))
        return 0
    raise AssertionError(args.command)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _dispatch(args)
    except UserError as exc:
        print(f"lstmtune: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # a step's user_errors wrapper
        return int(exc.code) if isinstance(exc.code, int) else 1
    except PipelineFailed as exc:
        print(f"lstmtune: pipeline failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lstmtune: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        traceback.print_exc()
        print(f"lstmtune: unexpected error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
