"""The classical baseline of text classification (TF-IDF + logistic regression) on the model's
own split and tokens, and the promotion gate it takes part in."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import block_import

from lstmtune.config import load_config
from lstmtune.data.prepare import prepare
from lstmtune.data.text import tokenize
from lstmtune.evaluate import classify_metrics, decide_promotion, gate_baseline
from lstmtune.final_classify import evaluate_classify, gate_for_classifier
from lstmtune.model import build_model
from lstmtune.problems import make_problem
from lstmtune.synthetic import text_frame
from lstmtune.text_baselines import text_classical_baselines, tfidf_logreg_predict
from lstmtune.training import TextProblem, train

TEXT = {"data.task": "text", "data.text_column": "review", "data.label": "sentiment"}
TOPICS = {0: ["goal", "match", "striker"], 1: ["vote", "senate", "ballot"], 2: ["gene", "cell"]}
FILLER = ["the", "a", "and", "today", "report", "news", "said", "of", "in", "more"]


def _texts(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Imbalanced topics (50 / 30 / 20 %): one topic word among six to twelve filler words."""
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    texts = []
    for label in y:
        words = list(rng.choice(FILLER, size=int(rng.integers(6, 13))))
        words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(TOPICS[int(label)])))
        texts.append(" ".join(words).capitalize() + ".")
    return texts, y.astype(np.int64)


def test_tfidf_logreg_clearly_beats_the_majority_class_and_is_deterministic() -> None:
    train, y_train = _texts(150, seed=0)
    test, y_test = _texts(60, seed=1)
    pred = tfidf_logreg_predict(train, y_train, test, tokenize, seed=0)
    tfidf = classify_metrics(pred, y_test, 3)
    majority = classify_metrics(np.zeros_like(y_test), y_test, 3)
    assert tfidf["accuracy"] >= 0.95 and tfidf["macro_f1"] >= 0.95
    assert majority["macro_f1"] < 0.3
    again = tfidf_logreg_predict(train, y_train, test, tokenize, seed=0)
    assert np.array_equal(pred, again)


def test_bigrams_carry_what_unigrams_do_not() -> None:
    """Both classes use the same words, in another order: only the bigrams tell them apart (with
    unigrams alone the two test texts have one feature vector, hence one class)."""
    train = ["good not bad", "bad not good", "a good not bad film", "a bad not good film"] * 10
    y = np.array([1, 0, 1, 0] * 10)
    pred = tfidf_logreg_predict(train, y, ["good not bad here", "bad not good here"], tokenize)
    assert pred.tolist() == [1, 0]


def _problem(tmp_path: Path) -> TextProblem:
    path = tmp_path / "reviews.csv"
    text_frame(40, seed=3).to_csv(path, index=False)
    cfg = load_config(
        None, {**TEXT, "data.path": str(path), "output_dir": str(tmp_path / "out")}
    ).resolved()
    parts, meta = prepare(cfg)
    problem = make_problem(parts, meta, {"embedding_dim": 8})
    assert isinstance(problem, TextProblem)
    return problem


def test_the_baseline_reads_the_run_s_texts_and_class_indices(tmp_path: Path) -> None:
    problem = _problem(tmp_path)
    texts, y = problem.texts("test")
    assert y.tolist() == problem.tensors("test").y.tolist()
    assert len(texts) == len(y) and all(isinstance(t, str) and t for t in texts)
    metrics, failed, seconds = text_classical_baselines(problem, seed=0)
    assert failed == {} and set(metrics) == {"tfidf_logreg"} == set(seconds)
    assert metrics["tfidf_logreg"]["accuracy"] >= 0.8  # sentiment words: the classes line up


def _without_sklearn(monkeypatch: pytest.MonkeyPatch) -> None:
    block_import(monkeypatch, "sklearn")


def _noise_net(problem: TextProblem) -> torch.nn.Module:
    """A network trained on train+val with the labels shuffled: pure noise."""
    fit = problem.tensors("train", "val")
    shuffled = torch.from_numpy(np.random.default_rng(0).permutation(fit.y.numpy()))
    params = {
        **{"units": 8, "embedding_dim": 8, "num_layers": 1, "bidirectional": False},
        **{"dropout": 0.0, "recurrent_dropout": 0.0, "cell": "lstm", "head": "mean"},
        **{"learning_rate": 0.03, "batch_size": 8, "optimizer": "adam", "weight_decay": 0.0},
    }
    result = train(problem, params, dataclasses.replace(fit, y=shuffled), None, epochs=15, seed=0)
    return result.model.eval()


def _meta(problem: TextProblem) -> dict[str, Any]:
    return {"task": "text", "majority_class": problem.classes[0], "columns": {"label": "y"}}


def test_a_model_trained_on_noise_is_no_champion_under_the_classical_gate(
    tmp_path: Path,
) -> None:
    """A network trained on shuffled labels beats the majority class on macro F1 (it was
    published @champion when text had only the naive baselines); the classical gate holds it to
    TF-IDF + logistic regression, the naive gate keeps the naive ones."""
    problem = _problem(tmp_path)
    ev = evaluate_classify(problem, _noise_net(problem), _meta(problem), seed=0)
    assert {"majority_class", "one_class", "tfidf_logreg"} <= set(ev.baselines)
    metric = "macro_f1"
    new = ev.test_metrics[metric]
    assert ev.details["predicted_classes"] == 2
    naive = gate_for_classifier(ev, gate_baseline("text", ev.baselines, metric, "naive"), metric)
    assert naive[0] in {"majority_class", "one_class"} and new > naive[1]
    assert decide_promotion(metric, new, None, naive[1], naive[0]).alias == "champion"
    base = gate_for_classifier(ev, gate_baseline("text", ev.baselines, metric, "classical"), metric)
    assert base == ("tfidf_logreg", ev.baselines["tfidf_logreg"][metric])
    decision = decide_promotion(metric, new, None, base[1], base[0])
    assert decision.alias == "challenger" and "does not beat tfidf_logreg" in decision.reason


def test_the_gate_sets_of_text() -> None:
    """Pure: a model between the majority class and TF-IDF + LR is champion under the naive
    gate only."""
    baselines = {
        "majority_class": {"macro_f1": 0.33},
        "one_class": {"macro_f1": 0.4},
        "tfidf_logreg": {"macro_f1": 0.9},
    }
    classical = gate_baseline("text", baselines, "macro_f1", "classical")
    assert classical == ("tfidf_logreg", 0.9)
    assert decide_promotion("macro_f1", 0.6, None, classical[1], classical[0]).alias == (
        "challenger"
    )
    naive = gate_baseline("text", baselines, "macro_f1", "naive")
    assert naive == ("one_class", 0.4)
    assert decide_promotion("macro_f1", 0.6, None, naive[1], naive[0]).alias == "champion"


def test_a_failed_fit_is_a_warning_and_a_skipped_baseline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    problem = _problem(tmp_path)
    _without_sklearn(monkeypatch)
    params = {"units": 4, "embedding_dim": 8}
    model = build_model(1, 2, params, zero_head=False, vocab_size=problem.vocab_size)
    ev = evaluate_classify(problem, model, _meta(problem), seed=0)
    assert "tfidf_logreg" not in ev.baselines and "majority_class" in ev.baselines
    assert ev.baseline_failures["tfidf_logreg"].startswith("ImportError: no sklearn here")
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "tfidf_logreg" in ln]
    assert len(lines) == 1
    assert lines[0].endswith("warning: baseline tfidf_logreg skipped: ImportError: no sklearn here")
