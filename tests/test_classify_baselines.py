"""Classical classification baselines (1-NN DTW, MiniRocket from aeon) on the model's own split,
unequal lengths included; a missing library is reported, never raised."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import block_import

from lstmtune import classify_baselines
from lstmtune.classify_baselines import (
    DTW_FULL_MAX_CELLS,
    classify_classical_baselines,
    dtw_cells,
    dtw_name,
    one_class_baseline,
    pad_zero,
    series_list,
    too_costly,
)
from lstmtune.config import load_config
from lstmtune.data.prepare import prepare
from lstmtune.evaluate import classify_metrics, decide_promotion
from lstmtune.problems import make_problem
from lstmtune.synthetic import classify_frame
from lstmtune.training import ClassifyProblem, TensorSet


def _problem(tmp_path: Path) -> ClassifyProblem:
    path = tmp_path / "seq.csv"
    classify_frame(16, seed=2).to_csv(path, index=False)  # lengths 6-19: unequal
    overrides: dict[str, Any] = {
        "data.path": str(path),
        "data.task": "classify",
        "data.sequence_column": "seq",
        "data.time_column": "t",
        "data.label": "y",
        "output_dir": str(tmp_path / "out"),
    }
    parts, meta = prepare(load_config(None, overrides).resolved())
    problem = make_problem(parts, meta, {"units": 4})
    assert isinstance(problem, ClassifyProblem)
    return problem


def test_series_keep_their_own_length_and_pad_with_zeros() -> None:
    x = torch.arange(12, dtype=torch.float32).reshape(2, 3, 2)
    series = series_list(TensorSet(x, torch.zeros(2), None, torch.tensor([3, 2])))
    assert [s.shape for s in series] == [(2, 3), (2, 2)]
    padded = pad_zero(series, 4)
    assert padded.shape == (2, 2, 4)
    assert padded[1, 0].tolist() == [6.0, 8.0, 0.0, 0.0]


def test_dtw_uses_a_band_only_when_the_full_window_is_too_costly() -> None:
    short = [np.zeros((1, 20))] * 10
    assert dtw_name(short, short) == ("1nn_dtw", None)
    n = int((DTW_FULL_MAX_CELLS / 500**2) ** 0.5) + 2
    long = [np.zeros((1, 500))] * n
    assert dtw_name(long, long) == ("1nn_dtw_w10", 0.1)


def test_dtw_cells_count_each_sequence_at_its_own_length() -> None:
    """Unequal lengths are compared as they are, so a few long sequences do not make a set's
    DTW look like every sequence were the longest (PLAID: 3.0e10 cells, not 5.2e11)."""
    train = [np.zeros((1, 10)), np.zeros((1, 1000))]
    test = [np.zeros((1, 10)), np.zeros((1, 20)), np.zeros((1, 30))]
    assert dtw_cells(train, test) == 1010 * 60  # not 2 x 3 x 1000^2
    short = [np.zeros((1, 100))] * 100
    one_long = [*short, np.zeros((1, 20_000))]
    assert dtw_cells(one_long, short) == 3e8  # 4e12 if every sequence were 20 000 steps long
    assert too_costly(one_long, short) is None


def _without_aeon(monkeypatch: pytest.MonkeyPatch) -> None:
    block_import(monkeypatch, "aeon")


def test_missing_aeon_is_reported_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _without_aeon(monkeypatch)
    metrics, failed, seconds = classify_classical_baselines(_problem(tmp_path))
    assert metrics == {} and seconds == {}
    assert set(failed) == {"1nn_dtw", "minirocket"}
    assert "pip install aeon" in failed["1nn_dtw"]


@pytest.mark.slow  # importing aeon and compiling its numba kernels: a minute or two
def test_dtw_and_minirocket_score_the_test_split_with_unequal_lengths(tmp_path: Path) -> None:
    pytest.importorskip("aeon")
    problem = _problem(tmp_path)
    metrics, failed, seconds = classify_classical_baselines(problem, seed=0)
    assert failed == {}
    assert set(metrics) == {"1nn_dtw", "minirocket"} == set(seconds)
    for m in metrics.values():
        assert set(m) == {"accuracy", "macro_f1"}
        assert m["accuracy"] >= 0.8  # a noisy sine vs a ramp


def test_dtw_is_skipped_with_the_reason_where_it_would_take_minutes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above DTW_MAX_CELLS (train+val x test sequences x their lengths) 1-NN DTW is not run:
    one reason in the failures, MiniRocket still scored. UCR's FordA would fill 1.2e12 cells."""
    pytest.importorskip("aeon")
    problem = _problem(tmp_path)
    train = series_list(problem.tensors("train", "val"))
    test = series_list(problem.tensors("test"))
    assert too_costly(train, test) is None
    assert too_costly([np.zeros((1, 500))] * 3601, [np.zeros((1, 500))] * 1320) is not None
    monkeypatch.setattr(classify_baselines, "DTW_MAX_CELLS", dtw_cells(train, test) - 1)
    metrics, failed, seconds = classify_classical_baselines(problem, seed=0)
    assert set(metrics) == {"minirocket"} == set(seconds)
    assert list(failed) == ["1nn_dtw"]
    assert failed["1nn_dtw"].startswith("train+val x test sequences x their lengths = ")
    assert "MiniRocket" in failed["1nn_dtw"]


def test_a_one_class_model_never_beats_the_one_class_baseline() -> None:
    true = np.array([0, 1, 1, 2, 2, 2])  # the test split's majority (2) need not be train's
    baseline = one_class_baseline(true, 3)
    assert baseline == classify_metrics(np.full_like(true, 2), true, 3)
    for c in range(3):
        constant = classify_metrics(np.full_like(true, c), true, 3)
        decision = decide_promotion("macro_f1", constant["macro_f1"], None, baseline["macro_f1"])
        assert decision.alias == "challenger"
    better = classify_metrics(np.array([0, 1, 1, 2, 2, 1]), true, 3)
    assert decide_promotion("macro_f1", better["macro_f1"], None, baseline["macro_f1"]).alias == (
        "champion"
    )


def test_the_summary_says_why_a_one_class_classifier_is_not_champion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A network that predicts one class for every test sequence is held to the one_class
    baseline (whatever the gate's best is) and the promotion reason says so in one line."""
    from lstmtune.evaluate import gate_baseline
    from lstmtune.final_classify import evaluate_classify, gate_for_classifier
    from lstmtune.model import build_model

    _without_aeon(monkeypatch)  # the majority and one-class baselines need no library
    problem = _problem(tmp_path)
    params = {"units": 4, "conv": "fcn", "conv_filters": 2}
    constant = build_model(problem.n_features, problem.n_outputs, params, zero_head=True)
    with torch.no_grad():
        constant.head.bias[1] = 5.0  # every sequence: class 1
    meta = {"task": "classify", "majority_class": problem.classes[0], "columns": {"label": "y"}}
    ev = evaluate_classify(problem, constant, meta, seed=0)
    assert ev.details["predicted_classes"] == 1
    metric = "macro_f1"
    base = gate_for_classifier(
        ev, gate_baseline("classify", ev.baselines, metric, "classical"), metric
    )
    assert base == ("one_class", ev.baselines["one_class"][metric])
    decision = decide_promotion(metric, ev.test_metrics[metric], None, base[1], base[0])
    assert decision.alias == "challenger"
    assert "\n" not in decision.reason
    assert "does not beat one_class" in decision.reason
    assert "one class predicted for every test sequence" in decision.reason
    # a classifier that tells the classes apart keeps the gate's best baseline
    ev.details["predicted_classes"] = 2
    assert gate_for_classifier(ev, ("1nn_dtw", 0.9), metric) == ("1nn_dtw", 0.9)


def test_a_test_split_of_few_sequences_or_one_class_is_warned_of(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every test figure and the champion decision rest on the test split: one of fewer than ten
    sequences, or of one class, gets a one-line warning (a 1/1 figure is not evidence)."""
    from lstmtune.final_classify import evaluate_classify, few_test_sequences
    from lstmtune.model import build_model

    one = few_test_sequences(np.array([1]))
    assert one is not None and "holds 1 sequence(s) of one class" in one
    assert "champion decision rest on it alone" in one
    same = few_test_sequences(np.zeros(40, dtype=np.int64))
    assert same is not None and "40 sequence(s) of one class" in same
    assert few_test_sequences(np.arange(10) % 2) is None
    _without_aeon(monkeypatch)
    problem = _problem(tmp_path)
    n = len(problem.tensors("test"))
    assert n < 10
    model = build_model(problem.n_features, problem.n_outputs, {"units": 4}, zero_head=True)
    meta = {"task": "classify", "majority_class": problem.classes[0], "columns": {"label": "y"}}
    evaluate_classify(problem, model, meta, seed=0)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "test split holds" in ln]
    assert len(lines) == 1 and f"holds {n} sequence(s) of 2 classes" in lines[0]


def test_dtw_reads_a_multivariate_set_as_written_as_the_archive_does(tmp_path: Path) -> None:
    """BasicMotions (6 channels): 1-NN DTW on the sequences as the archive holds them scores
    0.975 (aeon's own, and the archive's published DTW_D); on the per-channel scaled ones the
    gate held until 2026-12-04, 0.900, a weaker baseline than the one users know. MiniRocket
    still reads the scaled ones, as the published member does."""
    from lstmtune.classify_baselines import as_written

    aeon_data = Path(__import__("aeon").__file__).parent / "datasets" / "data" / "BasicMotions"
    overrides = {"data.path": str(aeon_data / "BasicMotions_TRAIN.ts"), "data.task": "classify"}
    parts, meta = prepare(load_config(None, {**overrides, "output_dir": str(tmp_path)}).resolved())
    problem = make_problem(parts, meta, {})
    assert isinstance(problem, ClassifyProblem)
    metrics, failed, _ = classify_classical_baselines(problem, kinds=("1nn_dtw",))
    assert not failed and metrics["1nn_dtw"]["accuracy"] == pytest.approx(0.975)
    scaled = series_list(problem.tensors("train", "val"))
    back = as_written(scaled, problem.featurizer)
    raw = parts["train"].query("case == @parts['train'].case.iloc[0]")[["c0", "c1"]].to_numpy()
    np.testing.assert_allclose(back[0][:2].T, raw, rtol=1e-5, atol=1e-5)
