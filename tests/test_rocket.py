"""The MiniRocket member of the published classifier: aeon's transform reproduced in torch, the
ridge classifier folded into one layer with a leave-one-out temperature, and its place in the
saved, served ensemble."""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from aeon.transformations.collection.convolution_based import MiniRocket
from sklearn.linear_model import RidgeClassifierCV

from lstmtune import rocket
from lstmtune.classify_combine import (
    evidence_weights,
    network_evidence,
)
from lstmtune.combine import describe
from lstmtune.config import load_config
from lstmtune.ensemble import EnsembleNet, build_ensemble
from lstmtune.final_classify import (
    class_proba,
    evaluate_classify,
    fit_ensemble,
)
from lstmtune.rocket import RocketNet, pad_to
from lstmtune.rocket_fit import (
    ALPHAS,
    TEMPERATURES,
    fit_rocket,
    laplace_share,
    loo_log_losses,
    loo_temperature,
)
from lstmtune.serving import WEIGHTS, Predictor, save_model_dir
from tests.test_classify_ensemble import (
    PARAMS,
    _frame,
    _prepared,
    _problem,
    model_spec,
    with_new_rocket,
)


def _waves(n: int, length: int, channels: int, seed: int) -> tuple[torch.Tensor, np.ndarray]:
    """Two classes of noisy sequences: a sine of frequency 0.3 or 0.6 on channel 0."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    t = np.arange(length)
    x = rng.normal(0, 0.3, size=(n, length, channels))
    x[:, :, 0] += np.sin(np.outer(0.3 + 0.3 * y, t) + rng.uniform(0, 6, size=(n, 1)))
    return torch.from_numpy(x.astype(np.float32)), y


@pytest.mark.parametrize("channels", [1, 3])
def test_the_features_are_aeons_minirocket(channels: int) -> None:
    x, y = _waves(24, 60, channels, seed=channels)
    net, _ = fit_rocket(x, None, y, 2, seed=7)
    ours = net.features(x).numpy()
    aeon = MiniRocket(random_state=7, n_jobs=1).fit(x.numpy().transpose(0, 2, 1))
    theirs = aeon.transform(x.numpy().transpose(0, 2, 1))
    assert ours.shape == theirs.shape == (24, 9996)
    assert np.mean(np.isclose(ours, theirs, atol=1e-6)) > 0.999  # float32 ties aside
    assert np.abs(ours - theirs).max() <= 2 / 60 + 1e-6


def _reference_feature(x: np.ndarray, spec: dict[str, Any], bias: float, index: int) -> float:
    """One feature computed by the definition, in float64 (univariate)."""
    offsets = np.cumsum([0] + [84 * n for n in spec["features_per_dilation"]])
    j = int(np.searchsorted(offsets, index, side="right") - 1)
    k = (index - offsets[j]) // spec["features_per_dilation"][j]
    d, steps = spec["dilations"][j], len(x)
    w = -np.ones(9)
    w[list(list(combinations(range(9), 3))[k])] = 2
    conv = np.array(
        [
            sum(w[a] * x[t + (a - 4) * d] for a in range(9) if 0 <= t + (a - 4) * d < steps)
            for t in range(steps)
        ]
    )
    pad = 4 * d
    return float(np.mean(conv > bias) if (j + k) % 2 == 0 else np.mean(conv[pad:-pad] > bias))


@pytest.mark.parametrize("padding", ["zero", "edge"])
def test_unequal_lengths_are_extended_with_zeros_or_by_their_last_value(padding: str) -> None:
    """A new fit pads with zeros; a version registered before 2026-12-02 (its spec has no
    ``padding``) is still read with its last value repeated, as it was fitted."""
    x, y = _waves(12, 30, 1, seed=3)
    lengths = torch.tensor([30, 12, 20, 30, 9, 25, 30, 14, 30, 18, 30, 11])
    net, _ = fit_rocket(x, lengths, y, 2, seed=1)
    assert net.spec["padding"] == "zero"
    if padding == "edge":
        net.spec.pop("padding")
    feats = net.features(x, lengths).numpy()
    one = net.features(x[1:2, :12], lengths[1:2]).numpy()  # alone, trimmed to its own length
    assert np.array_equal(feats[1], one[0])
    padded = pad_to(x, lengths, 30, padding).numpy()
    fill = 0.0 if padding == "zero" else float(x[1, 11, 0])
    assert padded[1, 0, 12:].tolist() == [fill] * 18
    assert padded[1, 0, :12].tolist() == x[1, :12, 0].tolist()
    rng = np.random.default_rng(0)
    for index in rng.choice(9996, size=12, replace=False):
        ref = _reference_feature(
            padded[4, 0].astype(np.float64), net.spec, float(net.biases[index]), int(index)
        )
        assert feats[4, index] == pytest.approx(ref, abs=1e-6)


@pytest.mark.parametrize("channels", [1, 3])
def test_chunks_of_any_size_give_the_same_features(
    channels: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The transform runs in chunks sized to the cache; the features do not depend on them."""
    x, y = _waves(10, 80, channels, seed=5)
    net, _ = fit_rocket(x, None, y, 2, seed=2)
    whole = net.features(x)
    assert rocket.chunk_rows(channels, 80) == (26 if channels == 3 else 64)  # 4 MiB of float64
    monkeypatch.setattr(rocket, "CHUNK_BYTES", 1)  # one sequence at a time
    assert rocket.chunk_rows(channels, 80) == 1
    assert torch.equal(net.features(x), whole)


def test_the_scores_are_the_ridge_classifiers_times_the_loo_temperature() -> None:
    x, y = _waves(30, 50, 2, seed=5)
    x[:, :, 1] = 0.0  # a constant channel: its features have no spread, scale 1
    net, fit = fit_rocket(x, None, y, 2, seed=0)
    feats = net.features(x).double().numpy()
    scale = feats.std(axis=0)
    scale[scale == 0] = 1.0
    ridge = RidgeClassifierCV(alphas=ALPHAS).fit(feats / scale, y)
    with torch.no_grad():
        logits = net(x).double().numpy()
    d = ridge.decision_function(feats / scale)
    k, floor = fit["temperature"], fit["floor"]
    assert floor == pytest.approx(2 / 32, abs=1e-6)  # Laplace: K / (n + K)
    raw = torch.softmax(torch.from_numpy(np.stack([-d, d], axis=1) * k), dim=1).numpy()
    served = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
    assert np.allclose(served, (1 - floor) * raw + floor / 2, atol=1e-5)
    assert fit["alpha"] == ridge.alpha_ and fit["features"] == 9996
    assert fit["loo_accuracy"] >= 0.9  # the two frequencies are easy
    assert np.array_equal(class_proba(net, _set(x, y)).argmax(axis=1), ridge.predict(feats / scale))


def _set(x: torch.Tensor, y: np.ndarray) -> Any:
    from lstmtune.training import TensorSet

    return TensorSet(x, torch.from_numpy(y), None, None)


def test_the_temperature_minimises_the_cross_entropy() -> None:
    scores = np.array([[1.0, -1.0], [0.8, -0.8], [-0.9, 0.9], [0.2, -0.2]])
    y = np.array([0, 0, 1, 1])  # one confident mistake: a moderate temperature
    k, ce = loo_temperature(scores, y)
    assert 0.1 < k < 100
    for other in (k / 2, k * 2):
        z = other * scores
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        assert -logp[np.arange(4), y].mean() >= ce - 1e-9
    k_right, _ = loo_temperature(scores[:3], y[:3])
    assert k_right > 10  # all right, no prior: confident (the cross-entropy reaches 0 in float64)


def test_a_perfect_leave_one_out_record_does_not_become_certainty() -> None:
    """20 sequences all right by leave-one-out: the plain cross-entropy falls to 0 at the grid's
    largest temperature (every served probability 0 or 1, a test mistake at 1e-45). With the
    Laplace prior the temperature is finite, the record's mean probability of the true class is
    about (n + 1) / (n + K), and no served probability goes beyond [1 / (n + K), (n + 1) / (n +
    K)]; the ranking of the classes is unchanged."""
    rng = np.random.default_rng(0)
    margin = rng.uniform(0.3, 1.2, 20)
    y = np.arange(20) % 2
    d = np.where(y == 1, margin, -margin)
    scores = np.stack([-d, d], axis=1)
    assert loo_temperature(scores, y)[0] > 50  # the old choice: where it reaches 0 in float64
    share = laplace_share(20, 2)
    assert share == pytest.approx(2 / 22)
    k, ce = loo_temperature(scores, y, share)
    assert k < 10 and ce > 0.01
    assert 0.85 < np.exp(-loo_log_losses(scores, y, k)).mean() < 21 / 22 + 0.01
    x, yy = _waves(20, 50, 1, seed=3)
    net, fit = fit_rocket(x, None, yy, 2, seed=0)
    assert fit["floor"] == pytest.approx(share) and fit["temperature"] < TEMPERATURES[-1]
    with torch.no_grad():
        far = torch.cat([x, 50 * x])  # far beyond the training scores too
        p = torch.softmax(net(far), dim=1).numpy()
    assert p.min() >= 1 / 22 - 1e-6 and p.max() <= 21 / 22 + 1e-6
    before = RocketNet({k: v for k, v in net.spec.items() if k != "floor"})  # registered before
    before.load_state_dict(net.state_dict())
    with torch.no_grad():
        plain, served = torch.softmax(before(x), dim=1), torch.softmax(net(x), dim=1)
    assert torch.equal(plain.argmax(dim=1), served.argmax(dim=1))
    assert torch.allclose(served, (1 - share) * plain + share / 2, atol=1e-6)


def test_a_class_missing_from_training_is_refused() -> None:
    x, y = _waves(10, 30, 1, seed=0)
    with pytest.raises(ValueError, match="2 of the 3 classes"):
        fit_rocket(x, None, y, 3, seed=0)


def test_ensemble_weights_weight_the_probabilities() -> None:
    x, y = _waves(8, 30, 1, seed=2)
    rocket, _ = fit_rocket(x, None, y, 2, seed=0)
    other, _ = fit_rocket(x, None, 1 - y, 2, seed=1)
    both = EnsembleNet([rocket, other], [0.25, 0.75]).eval()
    with torch.no_grad():
        p = [torch.softmax(m(x), dim=1) for m in (rocket, other)]
        assert torch.allclose(torch.softmax(both(x), dim=1), 0.25 * p[0] + 0.75 * p[1], atol=1e-6)
    only = EnsembleNet([rocket, other], [1.0, 0.0]).eval()  # a zero share: that member is out
    with torch.no_grad():
        assert torch.allclose(torch.softmax(only(x), dim=1), p[0], atol=1e-6)
    for bad in ([0.5], [0.5, 0.6], [1.5, -0.5]):
        with pytest.raises(ValueError, match="weights"):
            EnsembleNet([rocket, other], bad)


def test_the_published_classifier_averages_networks_and_minirocket(tmp_path: Path) -> None:
    """Two networks and MiniRocket, half and half: saved as one state dict and JSON, rebuilt by
    the pyfunc without aeon, which serves the same probabilities; the summary line says so."""
    problem = _problem(tmp_path)
    final = fit_ensemble(problem, PARAMS, 2, epochs=6, seed=3, device=torch.device("cpu"))
    combined, combination = with_new_rocket(final, problem, seed=0)
    assert isinstance(combined.model, EnsembleNet) and len(combined.model.members) == 3
    assert [m.get("kind", "network") for m in combined.members] == [
        "network",
        "network",
        "minirocket",
    ]
    assert [m["weight"] for m in combined.members] == [0.25, 0.25, 0.5]  # no evidence: equal
    assert len(combined.member_accuracy) == 3
    test = problem.tensors("test")
    nets = class_proba(final.model, test)
    rocket = class_proba(combined.model.members[2], test)
    mixed = class_proba(combined.model, test)
    assert np.allclose(mixed, 0.5 * nets + 0.5 * rocket, atol=1e-5)
    line = describe(combination)
    assert line is not None and "0.5 x network (2 seeds) + 0.5 x MiniRocket" in line
    assert combination["rule"] == "equal" and "equal shares" in line
    _, meta = _prepared(tmp_path)
    ev = evaluate_classify(problem, combined.model, meta, seed=0, final=combined)
    assert ev.details["ensemble"]["kinds"] == ["network", "network", "minirocket"]
    save_model_dir(tmp_path / "model", combined.model, model_spec(problem, ev))
    saved = json.loads((tmp_path / "model" / "spec.json").read_text())
    assert saved["ensemble"][2]["rocket"]["dilations"] == combined.members[2]["rocket"]["dilations"]
    state = torch.load(tmp_path / "model" / WEIGHTS, map_location="cpu", weights_only=True)
    assert "members.2.biases" in state and "members.2.masks" not in state
    rebuilt = build_ensemble(problem.n_features, problem.n_outputs, saved["ensemble"])
    assert isinstance(rebuilt.members[2], RocketNet) and rebuilt.weights == [0.25, 0.25, 0.5]
    out = Predictor.load(tmp_path / "model").predict(_frame(problem, "test"))
    served = out[[f"proba_{c}" for c in problem.classes]].to_numpy()
    assert np.allclose(served, mixed, atol=1e-5)
    assert ev.test_metrics["accuracy"] == pytest.approx(
        float(np.mean(mixed.argmax(axis=1) == test.y.numpy()))
    )


def test_the_shares_follow_the_out_of_sample_cross_entropy() -> None:
    """exp(-n * cross-entropy): ArrowHead's figures (36 sequences, networks 0.486 by 5-fold,
    MiniRocket 0.344 by leave-one-out) give MiniRocket nearly everything; Chinatown's (20,
    0.0047 against 0.078) the networks about two thirds: 20 sequences support no mean below
    log(22 / 21), so 0.0047 counts as that; equal without a figure."""
    net, rocket = evidence_weights(0.486, 0.344, 36, classes=3)
    assert rocket > 0.99 and net + rocket == pytest.approx(1.0)
    net, rocket = evidence_weights(0.0047, 0.078, 20)
    assert net == pytest.approx(1 / (1 + np.exp(-20 * (0.078 - np.log(22 / 21)))))
    assert evidence_weights(0.0, 0.01, 20) == (0.5, 0.5)  # both below the bound: no collapse
    assert evidence_weights(None, 0.3, 10) == evidence_weights(float("nan"), 0.3, 10) == (0.5, 0.5)
    assert evidence_weights(5.0, 0.0, 300) == (0.0, 1.0)  # underflow: a clean zero share


def test_with_the_tuning_evidence_the_better_side_gets_the_share(tmp_path: Path) -> None:
    problem = _problem(tmp_path)
    final = fit_ensemble(problem, PARAMS, 1, epochs=4, seed=0, device=torch.device("cpu"))
    combined, combination = with_new_rocket(final, problem, seed=0, network=(2.0, 30, "the folds"))
    assert combination["rule"] == "evidence"
    assert combination["weights"]["minirocket"] > 0.99  # 2.0 is far worse than its LOO figure
    assert combined.members[1]["weight"] == pytest.approx(combination["weights"]["minirocket"])
    line = describe(combination)
    assert line is not None and "network 2 by the folds" in line
    assert "the networks got almost no weight" in line
    test = problem.tensors("test")
    mixed = class_proba(combined.model, test)
    alone = class_proba(combined.model.members[1], test)
    assert np.allclose(mixed, alone, atol=0.01)


def test_a_long_sequence_in_the_batch_does_not_change_the_others() -> None:
    """Served requests are padded to their longest sequence: each sequence is still read at its
    own length (extended to the fitted one), so its probabilities do not depend on its batch."""
    x, y = _waves(10, 30, 1, seed=4)
    net, _ = fit_rocket(x, None, y, 2, seed=0)
    long_one, _ = _waves(1, 70, 1, seed=9)
    batch = torch.zeros(11, 70, 1)
    batch[:10, :30] = x
    batch[10] = long_one[0]
    lengths = torch.tensor([30] * 10 + [70])
    with torch.no_grad():
        together = net.features(batch, lengths)
        assert torch.equal(together[:10], net.features(x))
        assert torch.equal(together[10:], net.features(long_one))


def test_the_networks_evidence_is_the_plain_cross_entropy_and_where_it_was_measured(
    tmp_path: Path,
) -> None:
    """k-fold on a small set (n = train+val), the validation split with tune.subset; none where
    the tuning's figure is not comparable (PBT's rounds)."""
    problem = _problem(tmp_path)
    best = {"best_value": 0.25, "objective": "val_loss"}
    n_all = len(problem.tensors("train", "val"))
    cfg = load_config(None, {})
    assert network_evidence(cfg, problem, best) == (0.25, n_all, "k-fold cross-validation")
    sub = load_config(None, {"tune.subset": 0.5})
    n_val = len(problem.tensors("val"))
    assert network_evidence(sub, problem, best) == (0.25, n_val, "the validation split")
    katib = load_config(None, {"tune.backend": "katib"})  # k-fold trials print the mean last
    assert network_evidence(katib, problem, best) == (0.25, n_all, "k-fold cross-validation")
    assert network_evidence(load_config(None, {"tune.strategy": "pbt"}), problem, best) is None
    assert network_evidence(cfg, problem, {"best_value": None, "objective": "val_loss"}) is None


def test_a_classifier_with_minirocket_is_tagged_on_its_model_version() -> None:
    from lstmtune.registry import _version_tags

    meta = {"task": "classify", "sha256": "x", "columns": {"label": "y"}}
    assert "combination" not in _version_tags(meta, {}, "macro_f1", 0.9)
    combination = {"weights": {"network": 0.812, "minirocket": 0.188}, "rule": "evidence"}
    tags = _version_tags(meta, {}, "macro_f1", 0.9, combination)
    assert tags["combination"] == "0.812 x network + 0.188 x MiniRocket"
