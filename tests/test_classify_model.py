"""Sequence classification: per-sequence z-normalisation, the convolutional branches (LSTM-FCN,
InceptionTime block), patches, augmentation, class weights, batch caps and k-fold selection."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from lstmtune.augment import AUGMENTS, augment
from lstmtune.config import load_config
from lstmtune.conv import masked_znorm, patch_steps, valid_mask
from lstmtune.crossval import cv_folds, fit_trial, retrain_epochs, stratified_folds
from lstmtune.data.prepare import prepare
from lstmtune.model import build_model
from lstmtune.problems import make_problem
from lstmtune.synthetic import classify_frame
from lstmtune.training import ClassifyProblem, train

BASE: dict[str, Any] = {
    "units": 8,
    "num_layers": 1,
    "dropout": 0.0,
    "recurrent_dropout": 0.0,
    "bidirectional": False,
    "learning_rate": 1e-2,
    "batch_size": 16,
    "optimizer": "adam",
    "weight_decay": 0.0,
    "epochs": 3,
    "cell": "lstm",
    "head": "last",
}


def _prepared(tmp_path: Path, n_per_class: int = 12, **data: Any) -> tuple[Any, Any]:
    path = tmp_path / "seq.csv"
    classify_frame(n_per_class, seed=1).to_csv(path, index=False)
    overrides = {
        "data.path": str(path),
        "data.task": "classify",
        "data.sequence_column": "seq",
        "data.time_column": "t",
        "data.label": "y",
        "output_dir": str(tmp_path / "out"),
        **{f"data.{k}": v for k, v in data.items()},
    }
    return prepare(load_config(None, overrides).resolved())


def test_masked_znorm_uses_each_sequences_valid_steps_and_keeps_padding_zero() -> None:
    x = torch.tensor([[[1.0], [3.0], [0.0]], [[10.0], [10.0], [10.0]]])
    mask = valid_mask(x, torch.tensor([2, 3]))
    z = masked_znorm(x, mask)
    assert torch.allclose(z[0, :, 0], torch.tensor([-1.0, 1.0, 0.0]))
    assert torch.equal(z[1], torch.zeros(3, 1))  # a constant sequence becomes zeros


def test_patch_steps_groups_steps_and_rounds_lengths_up() -> None:
    x = torch.arange(2 * 10 * 3, dtype=torch.float32).reshape(2, 10, 3)
    out, lengths = patch_steps(x, torch.tensor([10, 5]), 4)
    assert out.shape == (2, 3, 12)
    assert lengths is not None and lengths.tolist() == [3, 2]
    assert torch.equal(out[0, 0], x[0, :4].reshape(-1))
    assert torch.equal(out[0, 2, 6:], torch.zeros(6))  # the tail is zero-padded


@pytest.mark.parametrize("conv", ["none", "fcn", "inception"])
@pytest.mark.parametrize("head", ["last", "attention"])
def test_padding_does_not_change_a_sequences_output(conv: str, head: str) -> None:
    """The published model pads each request's sequences to its longest one: a sequence must be
    classified the same whatever the padding."""
    torch.manual_seed(0)
    params = {**BASE, "head": head, "seq_norm": True, "conv": conv, "conv_filters": 4, "patch": 3}
    model = build_model(2, 3, params, zero_head=False).eval()
    seq = torch.randn(1, 7, 2) * 5 + 3
    padded = torch.cat([seq, torch.zeros(1, 6, 2)], dim=1)
    with torch.no_grad():
        alone = model(seq, torch.tensor([7]))
        in_batch = model(torch.cat([padded, torch.randn(1, 13, 2)]), torch.tensor([7, 13]))
    assert torch.allclose(alone[0], in_batch[0], atol=1e-5)


def test_seq_norm_makes_the_model_blind_to_level_and_scale() -> None:
    torch.manual_seed(0)
    model = build_model(
        1, 2, {**BASE, "seq_norm": True, "conv": "fcn", "conv_filters": 4}, zero_head=False
    )
    model.eval()
    x = torch.randn(2, 9, 1)
    with torch.no_grad():
        assert torch.allclose(model(x), model(x * 7.0 + 100.0), atol=1e-4)


def test_conv_branch_widens_the_head_and_text_ignores_it() -> None:
    plain = build_model(2, 3, BASE, zero_head=False)
    fcn = build_model(2, 3, {**BASE, "conv": "fcn", "conv_filters": 4}, zero_head=False)
    inception = build_model(2, 3, {**BASE, "conv": "inception", "conv_filters": 4}, zero_head=False)
    assert plain.head.in_features == 8
    assert fcn.head.in_features == 8 + 4
    assert inception.head.in_features == 8 + 16
    text = build_model(
        5, 2, {**BASE, "conv": "fcn", "embedding_dim": 6, "patch": 4}, zero_head=False, vocab_size=5
    )
    assert text.conv is None and text.patch == 1
    with pytest.raises(ValueError, match="conv must be one of"):
        build_model(2, 3, {**BASE, "conv": "resnet"}, zero_head=False)


@pytest.mark.parametrize("kind", AUGMENTS)
def test_augment_keeps_shape_and_padding(kind: str) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 12, 2)
    lengths = torch.tensor([12, 8, 3])
    x[1, 8:] = 0
    x[2, 3:] = 0
    out = augment(kind, x, lengths, gen)
    assert out.shape == x.shape
    assert torch.equal(out[1, 8:], torch.zeros(4, 2)) and torch.equal(out[2, 3:], torch.zeros(9, 2))
    if kind == "none":
        assert out is x
    else:
        assert not torch.equal(out[0], x[0])


def test_slice_is_a_stretched_window_of_the_sequence() -> None:
    gen = torch.Generator().manual_seed(3)
    x = torch.linspace(0, 1, 20).reshape(1, 20, 1)  # a ramp stays a ramp over a narrower range
    out = augment("slice", x, None, gen)[0, :, 0]
    assert bool((out.diff() > 0).all())
    assert float(out[-1] - out[0]) == pytest.approx(17 / 19, abs=1e-5)  # 18 of 20 steps


def test_warp_moves_steps_along_a_smooth_monotone_path_that_keeps_both_ends() -> None:
    """Time warping reads each step at a warped position: a ramp stays increasing with its first
    and last values in place, but its inside moves; a constant stays constant."""
    gen = torch.Generator().manual_seed(1)
    x = torch.linspace(0, 1, 30).reshape(1, 30, 1).repeat(2, 1, 1)
    x[1] = 2.5
    out = augment("warp", x, None, gen)
    ramp = out[0, :, 0]
    assert bool((ramp.diff() >= 0).all())
    assert float(ramp[0]) == pytest.approx(0.0, abs=1e-6)
    assert float(ramp[-1]) == pytest.approx(1.0, abs=1e-5)
    assert float((ramp - x[0, :, 0]).abs().max()) > 0.01
    assert torch.allclose(out[1], x[1])


def test_batch_size_is_capped_by_the_training_set(tmp_path: Path) -> None:
    parts, meta = _prepared(tmp_path)
    problem = make_problem(parts, meta, BASE)
    assert problem.batch_size({"batch_size": 64}, 20) == 5  # at least 4 steps per epoch
    assert problem.batch_size({"batch_size": 16}, 200) == 16
    assert retrain_epochs(problem, {"batch_size": 64}, 40, 20) == 10  # 40 steps of 4 per epoch


def test_balanced_class_weights_and_label_smoothing_enter_the_loss(tmp_path: Path) -> None:
    parts, meta = _prepared(tmp_path)
    plain = make_problem(parts, meta, BASE)
    weighted = make_problem(parts, meta, {**BASE, "class_weight": "balanced"})
    smooth = make_problem(parts, meta, {**BASE, "label_smoothing": 0.2})
    assert isinstance(weighted, ClassifyProblem) and weighted.class_weights is not None
    train_y = weighted.featurizer.label_ids(parts["train"], weighted.label)
    counts = np.bincount(train_y, minlength=2)
    expected = len(train_y) / (2 * counts)
    assert np.allclose(weighted.class_weights.numpy(), expected)
    data = plain.tensors("train")
    out = torch.randn(len(data), 2)
    assert not torch.isclose(smooth.loss(out, data), plain.loss(out, data))
    # the validation objective stays the plain cross-entropy
    assert smooth.objective_from_outputs(out, data) == plain.objective_from_outputs(out, data)


def test_stratified_folds_keep_class_proportions() -> None:
    y = np.array([0] * 10 + [1] * 5 + [2] * 3)
    fold = stratified_folds(y, 3, seed=0)
    sizes = np.bincount(fold, minlength=3)
    assert sizes.max() - sizes.min() <= 1
    for c, n in ((0, 10), (1, 5), (2, 3)):
        per_fold = np.bincount(fold[y == c], minlength=3)
        assert per_fold.max() - per_fold.min() <= 1 and per_fold.sum() == n
    assert np.array_equal(fold, stratified_folds(y, 3, seed=0))


def test_small_classification_sets_are_judged_by_k_fold(tmp_path: Path) -> None:
    parts, meta = _prepared(tmp_path)
    params = {**BASE, "conv": "fcn", "conv_filters": 4, "seq_norm": True}
    problem = make_problem(parts, meta, params)
    train_set, val_set = problem.tensors("train"), problem.tensors("val")
    n_all = len(train_set) + len(val_set)
    assert cv_folds(problem, n_all) == 5 and cv_folds(problem, 300) == 0
    seen: list[int] = []
    result = fit_trial(
        problem,
        params,
        train_set,
        val_set,
        seed=0,
        patience=5,
        on_epoch=lambda epoch, value, loss: seen.append(epoch),
    )
    assert len(result.fold_values) == 5
    assert result.best_value == pytest.approx(float(np.mean(result.fold_values)))
    full = problem.tensors("train", "val")
    fold_of = stratified_folds(full.y.numpy(), 5, seed=0)
    oof = np.asarray(result.oof_log_loss)  # each sequence held out once, at its fold's best epoch
    assert len(oof) == n_all
    for i, value in enumerate(result.fold_values):
        assert float(oof[fold_of == i].mean()) == pytest.approx(value, rel=1e-4)
    assert seen == list(range(1, len(seen) + 1)) and len(seen) <= 3  # fold 1 only
    steps = result.best_steps
    assert result.best_epoch == retrain_epochs(problem, params, steps, n_all)
    holdout = fit_trial(problem, params, train_set, val_set, cross_validate=False, patience=5)
    assert holdout.fold_values == []
    assert holdout.oof_log_loss is not None and len(holdout.oof_log_loss) == len(val_set)
    assert float(np.mean(holdout.oof_log_loss)) == pytest.approx(holdout.best_value, rel=1e-4)
    plain = train(problem, params, train_set, val_set, patience=5)
    assert holdout.best_value == plain.best_value
    per_epoch = math.ceil(len(train_set) / problem.batch_size(params, len(train_set)))
    assert holdout.best_steps == plain.best_epoch * per_epoch
