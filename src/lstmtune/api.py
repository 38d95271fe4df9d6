"""The Python API: ``lstmtune.run(df, target=..., n_trials=20)`` from a notebook or a script.

It runs the very pipeline ``lstmtune run`` runs (kfp.local, the same five steps), so a notebook
result and a CLI result are the same thing. A DataFrame is written to Parquet in the output
directory first, because the prepare step reads files. Settings are the configuration keys, by
their dotted names with ``__`` for the dots (``tune__sampler="random"``) or by the CLI flag names
(``time_column="month"``, ``n_trials=20``). Bad settings raise :class:`lstmtune.UserError` (a
``ValueError``) with the same one-line message the CLI prints.
"""

from __future__ import annotations

import base64
import contextlib
import difflib
import html
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lstmtune.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from lstmtune.config import RunConfig

INPUT_DIR = "input"
PROGRESS_BAR_ENV = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


@dataclass
class RunResult:
    """What a run produced: its summary (``summary.json``) and handles on the registered model."""

    summary: dict[str, Any]
    _model: Any = field(default=None, repr=False, compare=False)

    @property
    def model_uri(self) -> str:
        """The registered version this run made (``models:/NAME/VERSION``), whatever its alias."""
        return str(self.summary.get("model_version_uri") or self.summary["model_uri"])

    @property
    def alias(self) -> str:
        return str(self.summary.get("alias", ""))

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.summary.get("best_params") or {})

    @property
    def test_metrics(self) -> dict[str, float]:
        return dict(self.summary.get("test_metrics") or {})

    @property
    def baseline_metrics(self) -> dict[str, dict[str, float]]:
        return dict(self.summary.get("baseline_metrics") or {})

    @property
    def output_dir(self) -> Path:
        return Path(str(self.summary["output_dir"]))

    @property
    def history_rows(self) -> int:
        """The rows of history a forecast needs (the longest lookback of the published
        configurations; it can exceed ``best_params["lookback"]``); 0 for a classifier."""
        return int(self.summary.get("history_rows") or 0)

    @property
    def report_path(self) -> Path | None:
        path = self.summary.get("report")
        return Path(str(path)) if path else None

    def load_model(self) -> Any:
        """The registered MLflow pyfunc of this run (loaded once, then cached)."""
        if self._model is None:
            self._model = _load_uri(self.model_uri, str(self.summary["tracking_uri"]))
        return self._model

    def predict(self, df: pd.DataFrame) -> pd.DataFrame:
        """Forecasts (``step_1`` … ``step_H``, after the time column when ``df`` holds the
        times) or labels (``label``, ``proba_<class>``); an index of times, of (series id, time)
        or of (sequence id, time step), is read as the columns it was in training, and a
        forecast's rows keep the labels of the rows they were made from
        (``df.join(result.predict(df))`` lines up)."""
        from lstmtune.api_frame import predict_as_sent

        model = self.load_model()
        schema = model.metadata.get_input_schema()
        needed = schema.required_input_names() if schema is not None else []
        return predict_as_sent(model.predict, df, needed)

    def _repr_html_(self) -> str:
        return render_html(self)


def render_html(result: RunResult) -> str:
    """A small HTML card for Jupyter: the test metrics against the baselines, and the forecast
    (or confusion) plot inline as a PNG."""
    s = result.summary
    metrics = {"lstmtune model": result.test_metrics, **result.baseline_metrics}
    names = sorted({k for m in metrics.values() for k in m})
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    rows = "".join(
        f"<tr><td>{html.escape(who)}</td>"
        + "".join(f"<td>{_fmt(values.get(n))}</td>" for n in names)
        + "</tr>"
        for who, values in metrics.items()
    )
    title = (
        f"{html.escape(str(s.get('model_name')))} v{html.escape(str(s.get('model_version')))}"
        f" @{html.escape(result.alias)}"
    )
    reason = html.escape(str(s.get("promotion_reason", "")))
    return (
        f"<div><b>{title}</b> — {reason}<table><tr><th></th>{head}</tr>{rows}</table>"
        f"{_plot_img(result.output_dir)}</div>"
    )


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else ""


def _plot_img(out: Path) -> str:
    for name in ("forecast.png", "confusion_matrix.png"):
        path = out / "plots" / name
        if path.is_file():
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            return f'<img alt="{name}" src="data:image/png;base64,{data}" style="max-width:100%">'
    return ""


def build_config(
    config: RunConfig | dict[str, Any] | str | Path | None, settings: dict[str, Any]
) -> RunConfig:
    """One validated configuration from a config (dict, RunConfig or YAML path) and settings."""
    from lstmtune.config import RunConfig, load_config

    if isinstance(config, RunConfig):
        base: dict[str, Any] = json.loads(config.to_json())
    elif isinstance(config, dict):
        base = json.loads(json.dumps(config))  # a deep copy we may change
    elif config is None:
        base = {}
    else:
        base = json.loads(load_config(str(config)).to_json())
    return _validate(base, {setting_key(k): v for k, v in settings.items()})


def _validate(data: dict[str, Any], overrides: dict[str, Any]) -> RunConfig:
    from pydantic import ValidationError

    from lstmtune.config import RunConfig, set_dotted
    from lstmtune.config_base import error_key, format_error

    for key, value in overrides.items():
        set_dotted(data, key, value)
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:  # a key the settings did not set is the config's
        key = error_key(exc)
        mine = any(key == k or key.startswith(f"{k}.") for k in overrides)
        named = "settings" if mine else "config"
        raise UserError(format_error(named, exc, RunConfig)) from None


def setting_key(name: str) -> str:
    """``n_trials`` -> ``tune.n_trials`` (a CLI flag), ``tune__sampler`` -> ``tune.sampler``."""
    from lstmtune.cli_parser import RUN_FLAGS

    flags = {flag.lstrip("-").replace("-", "_"): key for flag, (key, _, _) in RUN_FLAGS.items()}
    if name in flags:
        return flags[name]
    if "__" in name:
        return name.replace("__", ".")
    from lstmtune.config import RunConfig

    if name in RunConfig.model_fields:
        return name
    known = ", ".join(sorted(flags))
    near = difflib.get_close_matches(name, [*flags, *RunConfig.model_fields], n=1, cutoff=0.75)
    guess = f"did you mean '{near[0]}'? " if near else ""
    raise UserError(
        f"settings: {name}: unknown setting ({guess}use a config key with __ for dots or one of"
        f" {known})"
    )


def run(
    data: str | Path | pd.DataFrame | None = None,
    *,
    config: RunConfig | dict[str, Any] | str | Path | None = None,
    progress: str | None = None,
    **settings: Any,
) -> RunResult:
    """Tune, retrain, evaluate and register, exactly as ``lstmtune run`` does.

    ``data``: a CSV/Parquet path, an ``s3://`` URI or a pandas DataFrame (None: the config's
    ``data.path``, else the bundled example; a DataFrame's DatetimeIndex is its time column, a
    MultiIndex of (series id, time) its series and time columns). ``config``: a dict, a
    :class:`RunConfig` or a YAML
    path. ``settings``: config keys (``tune__sampler="random"``) or CLI flag names
    (``target="co2"``, ``n_trials=20``); they win over ``config``. ``progress``: ``text`` (plain
    lines), ``bar`` (a terminal), ``json`` or ``quiet``; default: ``bar`` on a terminal, else text.
    """
    from lstmtune.runner import run_local

    if progress not in (None, "text", "bar", "json", "quiet"):
        raise UserError(f"progress: must be text, bar, json or quiet, got {progress!r}")
    if data is not None and not _is_frame(data):
        if not isinstance(data, str | Path):
            raise UserError(
                "data: a CSV or Parquet path, an s3:// URI or a pandas DataFrame, not a "
                f"{type(data).__name__} (pd.DataFrame(...) or series.to_frame() makes one)"
            )
        settings = {**settings, "data__path": str(data)}
    cfg = build_config(config, settings)
    if data is None or not _is_frame(data):
        return RunResult(run_local(cfg, display=progress))
    out = Path(cfg.output_dir)
    created = _first_missing(out / INPUT_DIR)
    path = out / INPUT_DIR / f"{_frame_name(cfg)}.parquet"
    previous = _set_aside(path)
    try:
        keys = _frame_keys(data, path, cfg)
        cfg = _validate(json.loads(cfg.to_json()), keys)
        result = RunResult(run_local(cfg, display=progress))
    except UserError as exc:
        path.unlink(missing_ok=True)  # bad input leaves nothing behind ...
        if previous is not None:  # ... and takes nothing away: an earlier run's data stay
            previous.replace(path)
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        message = str(exc)
        for name in (str(path.resolve()), str(path)):  # the message may name either
            message = message.replace(name, "data (the DataFrame)")
        raise UserError(message) from None
    finally:  # past bad input (or failed otherwise): this run's data replace the earlier run's
        if previous is not None:
            previous.unlink(missing_ok=True)
    return result


def _frame_keys(frame: pd.DataFrame, path: Path, cfg: RunConfig) -> dict[str, Any]:
    """Write the DataFrame to ``path``; the settings that read it: its path, and the columns its
    index became where the user set none (the pandas ways to hold a series' times, and many
    series' ids and times: a MultiIndex of (id, time) as statsforecast and sktime have it; a
    classifier's MultiIndex of (sequence id, time step))."""
    from lstmtune.api_frame import write_frame

    data = cfg.data
    roles = write_frame(
        frame,
        path,
        series_column=data.series_column,
        time_column=data.time_column,
        sequence_column=data.sequence_column,
        task=data.task,
    )
    keys: dict[str, Any] = {"data.path": str(path)}
    # a classifier reads the time of its MultiIndex (sequence id, time step), not a lone index
    levels = data.task == "classify" and roles.time is not None and frame.index.nlevels > 1
    if (data.task == "forecast" or levels) and data.time_column is None and roles.time:
        keys["data.time_column"] = roles.time
    if data.task == "forecast" and data.series_column is None and roles.series is not None:
        keys["data.series_column"] = roles.series
    if data.task == "classify" and data.sequence_column is None and roles.sequence is not None:
        keys["data.sequence_column"] = roles.sequence
    return keys


def _set_aside(path: Path) -> Path | None:
    """Make the directory the DataFrame is written to; an earlier run's file there is moved
    aside (returned) until this run has got past bad input."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            return None
        aside = path.with_name(path.name + ".previous")
        path.replace(aside)
        return aside
    except OSError as exc:  # a file in the way, no permission, a read-only file system
        out = path.parent.parent
        raise UserError(f"output_dir: cannot create {str(out)!r} ({exc.strerror or exc})") from None


def _frame_name(cfg: RunConfig) -> str:
    """The written DataFrame's file name, from the column it predicts (``passengers``): the run's
    dataset and registered model are named after it (``lstmtune-passengers``), so DataFrames of
    other targets do not register as versions of one model (all were ``lstmtune-data``)."""
    column = cfg.data.target if cfg.data.task == "forecast" else cfg.data.label
    name = "".join(c if c.isalnum() or c in "-_" else "-" for c in str(column or "data").lower())
    return name.strip("-_") or "data"


def _is_frame(data: Any) -> bool:
    return hasattr(data, "to_parquet") and hasattr(data, "columns")


def _first_missing(path: Path) -> Path | None:
    """The outermost directory of ``path`` that does not exist yet (what a clean-up removes)."""
    missing = None
    for p in [path, *path.parents]:
        if p.exists():
            break
        missing = p
    return missing


def _load_uri(uri: str, tracking_uri: str | None) -> Any:
    """Load ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS`` from ``tracking_uri`` through an
    explicit client: MLflow's process-wide tracking and registry URIs (and the environment that
    subprocesses inherit) stay as the caller set them."""
    import tempfile

    import mlflow
    from mlflow import MlflowClient

    if not tracking_uri:
        return mlflow.pyfunc.load_model(uri)
    db = tracking_uri.removeprefix("sqlite:///") if tracking_uri.startswith("sqlite:///") else None
    if db is not None and not Path(db).is_file():  # MLflow would create an empty store there
        raise UserError(f"tracking_uri: no MLflow database at {db!r} ({tracking_uri})")
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        name, version = _model_ref(client, uri)
    except mlflow.exceptions.MlflowException as exc:  # no such model, version or alias
        raise UserError(f"{uri}: {str(exc).splitlines()[0]} ({tracking_uri})") from None
    source = client.get_model_version_download_uri(name, version)
    with _no_progress_bars():
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=source,
            tracking_uri=tracking_uri,
            dst_path=tempfile.mkdtemp(prefix="lstmtune-model-"),
        )
    return mlflow.pyfunc.load_model(local)


@contextlib.contextmanager
def _no_progress_bars() -> Iterator[None]:
    """MLflow's artifact download bars off (a notebook showed some 150 lines of them per model),
    unless the user set ``MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR`` themselves."""
    if PROGRESS_BAR_ENV in os.environ:
        yield
        return
    os.environ[PROGRESS_BAR_ENV] = "false"
    try:
        yield
    finally:
        os.environ.pop(PROGRESS_BAR_ENV, None)


def _model_ref(client: Any, uri: str) -> tuple[str, str]:
    """``(name, version)`` of a ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS`` URI."""
    ref = uri.removeprefix("models:/")
    if "@" in ref:
        name, alias = ref.split("@", 1)
        return name, str(client.get_model_version_by_alias(name, alias).version)
    name, _, version = ref.rpartition("/")
    return name, version


def load_model(name: str, alias: str = "champion", tracking_uri: str | None = None) -> Any:
    """The registered pyfunc ``models:/NAME@ALIAS`` (default tracking URI: the environment's
    ``MLFLOW_TRACKING_URI``, else the local store of ``lstmtune run`` in ./lstmtune-output)."""
    import os

    from lstmtune.config import RunConfig

    if tracking_uri is None and not os.environ.get("MLFLOW_TRACKING_URI"):
        tracking_uri = RunConfig().resolved().mlflow.tracking_uri
    return _load_uri(f"models:/{name}@{alias}", tracking_uri)


def compile_pipeline(
    path: str | Path, config: RunConfig | dict[str, Any] | str | Path | None = None
) -> Path:
    """Write the compiled KFP pipeline (IR YAML) for ``config``'s cluster settings to ``path``."""
    from lstmtune.cluster import pipeline_package

    pipeline_package(build_config(config, {}), str(path))
    return Path(path)
