"""How a new version meets the current champion when the two cannot be compared: a warning
line that says why, and what a changed horizon means for the champion's consumers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest

from lstmtune.config import load_config
from lstmtune.registry import champion_score


def test_a_champion_of_another_horizon_is_named_in_a_warning_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    client.create_registered_model("m")
    version = client.create_model_version("m", str(tmp_path), tags={"task": "forecast"})
    client.set_model_version_tag("m", version.version, "horizon", "1")
    client.set_registered_model_alias("m", "champion", version.version)
    cfg = load_config(
        None, {"mlflow.tracking_uri": uri, "mlflow.model_name": "m", "output_dir": str(tmp_path)}
    ).resolved()
    meta = {"task": "forecast", "horizon": 3}
    assert champion_score(cfg, {}, meta, None) == (None, "1")
    (line,) = [x for x in capsys.readouterr().out.splitlines() if "champion v1" in x]
    assert "warning: current champion v1 cannot be scored on this data" in line
    assert "horizon 1 differs from 3" in line and "step_1 … step_3" in line
    assert "treating it as not comparable" in line


def _airline(tmp_path: Path, **keys: object) -> tuple[dict[str, object], dict[str, object]]:
    from lstmtune.data.prepare import prepare

    cfg = load_config(None, {"output_dir": str(tmp_path), **keys}).resolved()
    return prepare(cfg)  # type: ignore[return-value]


def test_a_test_split_reaching_into_the_champions_data_is_said_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lstmtune.champion_overlap import overlap, trained_through
    from lstmtune.registry import _say_overlap

    parts, meta = _airline(tmp_path)  # 144 months: train+val through 1959-02
    tag = trained_through(parts, meta)  # type: ignore[arg-type]
    assert tag is not None and tag.startswith("datetime:1959-02-01")
    assert overlap(parts, meta, tag) == 0  # type: ignore[arg-type]
    # a later run testing the last 40 % (from 1955) reaches back into those months
    later_parts, later_meta = _airline(tmp_path, **{"data.test_size": 0.4})
    seen = overlap(later_parts, later_meta, tag)  # type: ignore[arg-type]
    test_months = later_parts["test"]["month"]  # type: ignore[index]
    assert seen == int((pd.to_datetime(test_months) <= "1959-02-01").sum()) > 0
    _say_overlap(later_parts, later_meta, "3", tag)  # type: ignore[arg-type]
    (line,) = capsys.readouterr().out.strip().splitlines()
    assert line.endswith(
        f"warning: the current champion v3 was trained on data through 1959-02-01: {seen} of "
        f"the {len(test_months)} test values lie within it, so the comparison with it favours it"
    )
    _say_overlap(parts, meta, "3", tag)  # type: ignore[arg-type]
    _say_overlap(later_parts, later_meta, "3", None)  # type: ignore[arg-type]  # older version
    _say_overlap(later_parts, later_meta, "3", "number:1e9")  # type: ignore[arg-type]
    assert capsys.readouterr().out == ""


def test_the_tag_reads_day_first_dates_as_the_whole_column_does(tmp_path: Path) -> None:
    """Validation ending on 10/02/2020 (10 February, day first as the column shows) is tagged
    2020-02-10, not 2 October: the last row alone reads either way."""
    from lstmtune.champion_overlap import overlap, trained_through

    days = pd.date_range("2019-11-01", periods=120, freq="D")
    frame = pd.DataFrame({"day": days.strftime("%d/%m/%Y"), "y": range(120)})
    frame.to_csv(tmp_path / "d.csv", index=False)
    keys = {"data.path": str(tmp_path / "d.csv"), "data.target": "y", "data.time_column": "day"}
    parts, meta = _airline(tmp_path, **keys, **{"data.test_size": 18, "data.val_size": 18})
    tag = trained_through(parts, meta)  # type: ignore[arg-type]
    assert tag == f"datetime:{np.datetime64(days[101], 'ns')}"
    assert str(days[101].date()) == "2020-02-10"
    later, later_meta = _airline(tmp_path, **keys, **{"data.test_size": 21, "data.val_size": 18})
    assert overlap(later, later_meta, tag) == 3  # type: ignore[arg-type]


def _stamped_airline(
    tmp_path: Path, ends: bool, **keys: object
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The airline months written by their first day (``1949-01-01``) or their last
    (``1949-01-31``), prepared."""
    from lstmtune.config import example_data_path

    source = pd.read_csv(example_data_path())
    months = pd.PeriodIndex(source["month"], freq="M")
    stamps = months.end_time.normalize() if ends else months.start_time
    path = tmp_path / f"{'ends' if ends else 'starts'}.csv"
    frame = pd.DataFrame({"month": stamps.strftime("%Y-%m-%d"), "passengers": source["passengers"]})
    frame.to_csv(path, index=False)
    named = {"data.path": str(path), "data.target": "passengers", "data.time_column": "month"}
    return _airline(tmp_path, **named, **keys)


@pytest.mark.parametrize(
    ("champion_ends", "through"),
    [
        (False, "1959-02-28 (tagged 1959-02-01, the same month)"),
        (True, "1959-02-01 (tagged 1959-02-28, the same month)"),
    ],
)
def test_months_stamped_at_either_end_overlap_by_the_month(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], champion_ends: bool, through: str
) -> None:
    """A champion trained through the month 1959-02 written ``1959-02-01`` covers a new run's
    ``1959-02-28``: the count is in months (until 2026-12-04 the raw times missed that month,
    35 of the 36), and the line names the month as the run writes it."""
    from lstmtune.champion_overlap import overlap, trained_through
    from lstmtune.registry import _say_overlap

    parts, meta = _stamped_airline(tmp_path, champion_ends)
    tag = trained_through(parts, meta)
    assert tag == f"datetime:1959-02-{'28' if champion_ends else '01'}T00:00:00.000000000"
    later, later_meta = _stamped_airline(tmp_path, not champion_ends, **{"data.test_size": 0.4})
    assert later_meta["time_axis"]["freq"] == ("MS" if champion_ends else "ME")
    months = pd.PeriodIndex(pd.to_datetime(later["test"]["month"]), freq="M")
    assert overlap(later, later_meta, tag) == int((months <= "1959-02").sum()) == 36
    _say_overlap(later, later_meta, "3", tag)
    (line,) = capsys.readouterr().out.strip().splitlines()
    assert f"trained on data through {through}" in line
    assert ": 36 of the 58 test values lie within it" in line


class _TwoClasses(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """A champion that answers neg / pos, whatever it is sent."""

    def predict(self, context: object, model_input: pd.DataFrame) -> pd.DataFrame:
        n = len(model_input)
        return pd.DataFrame({"label": ["neg"] * n, "proba_neg": [0.9] * n, "proba_pos": [0.1] * n})


def test_a_champion_of_other_classes_is_named_in_a_warning_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlflow.models import infer_signature

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    sent = pd.DataFrame({"review": ["fine film"]})
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=_TwoClasses(),
            signature=infer_signature(sent, _TwoClasses().predict(None, sent)),
            registered_model_name="m",
        )
    client = mlflow.MlflowClient(uri)
    version = str(info.registered_model_version)
    client.set_model_version_tag("m", version, "task", "text")
    client.set_registered_model_alias("m", "champion", version)
    cfg = load_config(
        None, {"mlflow.tracking_uri": uri, "mlflow.model_name": "m", "output_dir": str(tmp_path)}
    ).resolved()
    meta = {"task": "text", "classes": ["neg", "neutral", "pos"]}
    assert champion_score(cfg, {}, meta, None) == (None, version)
    (line,) = [x for x in capsys.readouterr().out.splitlines() if "champion v" in x]
    assert "champion classes neg, pos differ from neg, neutral, pos" in line
    assert "proba_neg, proba_neutral, proba_pos from a new @champion" in line


def test_the_same_classes_in_another_order_compare() -> None:
    from mlflow.models import infer_signature

    from lstmtune.registry import same_classes

    sent = pd.DataFrame({"x": [1.0]})
    earlier = pd.DataFrame({"label": [1], "proba_1": [0.2], "proba_10": [0.5], "proba_2": [0.3]})
    schema = infer_signature(sent, earlier).outputs  # a champion that ordered numbers as text
    same_classes(schema, [1, 2, 10])  # no error: scored by class name
    with pytest.raises(ValueError, match="champion classes 1, 10, 2 differ from 1, 2"):
        same_classes(schema, [1, 2])
