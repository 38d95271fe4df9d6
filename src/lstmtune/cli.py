"""``lstmtune`` command line. Exit codes: 0 success, 2 bad input or config, 1 unexpected failure."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from lstmtune.cli_parser import RUN_FLAGS, build_parser
from lstmtune.errors import KatibError, UserError
from lstmtune.runner import PipelineFailed

__all__ = ["RUN_FLAGS", "build_parser", "entry", "main"]


def _load(args: argparse.Namespace) -> Any:
    from lstmtune.config import load_config

    overrides = {key: getattr(args, key) for key, _, _ in RUN_FLAGS.values() if hasattr(args, key)}
    return load_config(args.config, overrides)


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "compile":
        from lstmtune.cluster import pipeline_package
        from lstmtune.config import load_config

        ccfg = load_config(args.config, {"cluster.image": args.image})
        pipeline_package(ccfg, args.output)
        print(f"wrote {args.output}")
        return 0
    if args.command in ("submit", "schedule"):
        return _cluster_command(args)
    if args.command == "trial":
        from lstmtune.katib.trial import trial_step

        trial_step(args.config_b64, args.data, args.param, args.parent_run_id, args.checkpoint)
        return 0
    if args.command == "katib-experiment":
        return _katib_experiment(args)
    if args.command == "report":
        from lstmtune.report import build_report

        print(build_report(args.output_dir, storage=args.storage))
        return 0
    if args.command in ("dashboard", "ui"):
        return _serve(args)
    if args.command == "config" and args.reference:
        from lstmtune.config import config_reference

        print(config_reference())
        return 0
    if args.command == "config" and args.schema:
        from lstmtune.config import RunConfig

        print(json.dumps(RunConfig.model_json_schema(), indent=2))
        return 0
    if args.command == "config":
        return _print_config(args)
    cfg = _load(args).resolved()
    if args.command == "run":
        return _run(args, cfg)
    return _debug_step(args, cfg.to_json())


def _print_config(args: argparse.Namespace) -> int:
    """The effective configuration; for ``--output-dir DIR`` without ``--config``, where a run
    finished in DIR, the configuration that run used (other flags applied to it), and on stderr
    the file it came from."""
    from lstmtune.run_config import config_yaml, finished_run_config

    given = {
        flag: key
        for flag, (key, _, _) in RUN_FLAGS.items()
        if key != "output_dir" and getattr(args, key, None) is not None
    }
    saved = None
    if args.config is None and args.output_dir is not None:
        overrides = {key: getattr(args, key) for key in given.values()}
        saved = finished_run_config(args.output_dir, overrides)
    if saved is None:
        cfg = _load(args).resolved()
    else:
        cfg, path = saved[0].resolved(), saved[1]
        flags = f", with {', '.join(given)} applied" if given else ""
        print(
            f"lstmtune: the configuration of the run that finished in {args.output_dir}"
            f" ({path}){flags}",
            file=sys.stderr,
        )
    print(config_yaml(cfg), end="")
    return 0


def _run(args: argparse.Namespace, cfg: Any) -> int:
    from lstmtune.runner import run_local

    display = (
        "json"
        if args.log_format == "json"
        else "quiet"
        if args.quiet
        else "text"
        if args.log_format == "text"
        else None
    )
    printer = _SummaryPrinter(as_json=display == "json")
    summary = run_local(
        cfg, verbose=args.verbose, image=args.image, display=display, on_summary=printer
    )
    if not printer.printed:  # no early summary event (it is sent right after registration)
        printer(summary)
    return 0


class _SummaryPrinter:
    """Prints the run's summary once: when the model is registered, before the report is done
    (to the stdout of the moment it is made: while the pipeline runs, ``sys.stdout`` is its log)."""

    def __init__(self, *, as_json: bool) -> None:
        self.as_json = as_json
        self.printed = False
        self.stream = sys.stdout

    def __call__(self, summary: dict[str, Any]) -> None:
        from lstmtune.runner import format_summary

        text = (
            json.dumps({"event": "summary", **summary}, default=str)
            if self.as_json
            else format_summary(summary)
        )
        self.stream.write(text + "\n")
        self.stream.flush()
        self.printed = True


def _debug_step(args: argparse.Namespace, config: str) -> int:
    """``prepare`` / ``tune`` / ``train`` / ``register``: one pipeline step on local paths."""
    from lstmtune import steps

    if args.command == "prepare":
        run_id = steps.prepare_step(config, args.dataset_dir)
        print(json.dumps({"dataset_dir": args.dataset_dir, "run_id": run_id}))
        return 0
    if args.command == "tune":
        print(json.dumps(steps.tune_step(config, args.dataset_dir, "", args.best), indent=2))
        return 0
    if args.command == "train":
        print(
            json.dumps(
                steps.train_best_step(config, args.dataset_dir, args.best, "", args.model_dir)[
                    "metrics"
                ],
                indent=2,
            )
        )
        return 0
    if args.command == "register":
        print(
            steps.register_step(
                config,
                args.dataset_dir,
                args.model_dir,
                args.best,
                args.run_id,
                args.model_dir + "/summary.json",
            )
        )
        return 0
    raise AssertionError(args.command)


def _cluster_command(args: argparse.Namespace) -> int:
    from lstmtune import cluster
    from lstmtune.config import load_config

    cfg = load_config(args.config, {"cluster.image": args.image})
    if args.command == "submit":
        run = cluster.submit(
            cfg,
            host=args.host,
            namespace=args.namespace,
            experiment=args.experiment,
            run_name=args.run_name,
            service_account=args.service_account,
            wait=args.wait,
            timeout=args.timeout,
        )
        print(f"run id: {run.id}\nrun:    {run.url}")
        if args.wait:
            print(f"state:  {run.state}")
            return 0 if run.state in ("SUCCEEDED", "Succeeded") else 1
        return 0
    job = cluster.schedule(
        cfg,
        host=args.host,
        namespace=args.namespace,
        experiment=args.experiment,
        name=args.name,
        cron=args.cron,
        max_concurrency=args.max_concurrency,
        no_catchup=not args.catchup,
        service_account=args.service_account,
    )
    print(f"recurring run id: {job.id}\nrecurring run:    {job.url}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    """Run optuna-dashboard or the MLflow UI in the foreground on the run's storage."""
    import os
    from pathlib import Path

    from lstmtune.config import load_config

    cfg = load_config(args.config, {"output_dir": args.output_dir}).resolved()
    summary_path = Path(cfg.output_dir) / "summary.json"
    if args.command == "dashboard":
        storage = str(cfg.tune.storage)
        if storage.startswith("sqlite:///") and not Path(storage[len("sqlite:///") :]).is_file():
            raise UserError(
                f"{storage[len('sqlite:///') :]}: no Optuna study storage here"
                f" (run `lstmtune run --output-dir {args.output_dir}` first)"
            )
        command = [
            sys.executable,
            "-c",
            "import sys; from optuna_dashboard._cli import main; sys.exit(main())",
            storage,
            "--host",
            args.host,
            "--port",
            str(args.port),
        ]
    else:
        uri = str(cfg.mlflow.tracking_uri)
        if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///") :]).is_file():
            raise UserError(
                f"{uri[len('sqlite:///') :]}: no MLflow database here"
                f" (run `lstmtune run --output-dir {args.output_dir}` first)"
            )
        command = [
            sys.executable,
            "-m",
            "mlflow",
            "ui",
            "--backend-store-uri",
            uri,
            "--host",
            args.host,
            "--port",
            str(args.port),
        ]
    hint = (
        f" for {json.loads(summary_path.read_text())['model_name']}"
        if summary_path.is_file()
        else ""
    )
    print(f"{args.command}{hint}: http://{args.host}:{args.port}  (Ctrl-C stops it)", flush=True)
    server = subprocess.Popen(command, env=os.environ.copy())
    try:
        return server.wait()
    except KeyboardInterrupt:
        print(f"stopping {args.command} (Ctrl-C again to stop it at once)", flush=True)
        return wind_down(server)


def wind_down(server: subprocess.Popen[bytes], grace: float = 10.0) -> int:
    """After a Ctrl-C: let the server shut down its own workers (a terminal's Ctrl-C reached it
    too; else it is sent one), then SIGTERM, then SIGKILL, ``grace`` seconds apart; another
    Ctrl-C moves on to the next step. Killing it at once, as ``subprocess.call`` does, left the
    MLflow UI's job runner and its workers running without a parent."""
    for step in (None, signal.SIGINT, signal.SIGTERM):
        try:
            if step is not None:
                server.send_signal(step)
            server.wait(timeout=grace)
            return 0
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            continue
    server.kill()
    server.wait()
    return 0


def _katib_experiment(args: argparse.Namespace) -> int:
    import yaml

    from lstmtune.config import load_config
    from lstmtune.data.prepare import prepare
    from lstmtune.katib import build_experiment, experiment_name
    from lstmtune.tuning import default_study_name

    cfg = load_config(
        args.config, {"cluster.image": args.image, "cluster.gpus": args.gpus}
    ).resolved()
    _, meta = prepare(cfg)
    name = args.name or experiment_name(cfg, cfg.tune.study_name or default_study_name(cfg, meta))
    data = args.data or (
        f"{cfg.tune.katib.data_uri.rstrip('/')}/{name}" if cfg.tune.katib.data_uri else None
    )
    if data is None:
        raise UserError(
            "--data: give the prepared dataset URI the trials read, or set tune.katib.data_uri"
        )
    body = build_experiment(cfg, meta, name=name, data_uri=data)
    print(yaml.safe_dump(body, sort_keys=False), end="")
    return 0


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
    except KatibError as exc:
        print(f"lstmtune: {exc}", file=sys.stderr)
        return 1
    except PipelineFailed as exc:
        print(f"lstmtune: pipeline failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lstmtune: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `lstmtune config --schema | head`
        sys.stderr.close()
        return 0
    except Exception as exc:
        traceback.print_exc()
        print(
            f"lstmtune: unexpected error: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}",
            file=sys.stderr,
        )
        return 1


# commands whose process ends without the interpreter's teardown (see :func:`entry`)
NO_TEARDOWN = ("trial",)


def entry() -> None:
    """The console script (``lstmtune``) and ``python -m lstmtune.cli``: :func:`main`'s exit code.

    A Katib trial pod's exit code is the trial's outcome. After ``lstmtune trial`` has printed
    its metrics, the interpreter's teardown (torch, numba and MLflow extension destructors) can
    abort the process ("terminate called without an active exception", SIGABRT) on a loaded
    machine, and Katib would mark a finished trial Failed. So ``trial`` ends with ``os._exit``
    once its output is flushed (it keeps no MLflow fluent run and no exit hooks to run); other
    commands exit normally, and so does every command under coverage, which writes its data from
    an exit hook."""
    argv = sys.argv[1:]
    code = main(argv)
    if argv[:1] and argv[0] in NO_TEARDOWN and not os.environ.get("COVERAGE_PROCESS_START"):
        from lstmtune.worker_pool import shutdown_pools

        shutdown_pools()  # a k-fold trial's workers (os._exit skips their shutdown)
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
