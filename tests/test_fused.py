"""Fused multi-trial training: K configurations of one shape trained as one batched model must
reproduce K unfused ``training.train`` runs (same seeds), stop and prune per member, and unpack
into regular ``LSTMNet`` models."""

from __future__ import annotations

import math
from typing import Any, cast

import optuna
import pytest
import torch

from lstmtune import fused
from lstmtune.config import example_data_path, load_config
from lstmtune.data.prepare import prepare
from lstmtune.fused import FusedLSTM, _LSTMSeq, plan_groups, train_fused
from lstmtune.model import build_model
from lstmtune.problems import make_problem
from lstmtune.training import TensorSet, TrainResult, train

CPU = torch.device("cpu")
BASE: dict[str, Any] = {
    "units": 8,
    "num_layers": 1,
    "lookback": 12,
    "batch_size": 16,
    "epochs": 4,
    "cell": "lstm",
    "head": "last",
    "bidirectional": False,
    "anchor": "seasonal",
    "transform": "none",
    "window_norm": False,
}
# different lr / wd / dropout / recurrent dropout / optimizer / featurisation per member
VARIANTS: list[dict[str, Any]] = [
    {
        "learning_rate": 3e-3,
        "weight_decay": 0.0,
        "dropout": 0.0,
        "recurrent_dropout": 0.0,
        "optimizer": "adam",
    },
    {
        "learning_rate": 1e-2,
        "weight_decay": 1e-3,
        "dropout": 0.2,
        "recurrent_dropout": 0.0,
        "optimizer": "adamw",
        "transform": "log",
    },
    {
        "learning_rate": 5e-3,
        "weight_decay": 1e-4,
        "dropout": 0.0,
        "recurrent_dropout": 0.25,
        "optimizer": "adam",
        "anchor": "last",
    },
    {
        "learning_rate": 2e-2,
        "weight_decay": 1e-5,
        "dropout": 0.1,
        "recurrent_dropout": 0.1,
        "optimizer": "adamw",
        "window_norm": True,
    },
]
SEEDS = [7, 8, 9, 10]


@pytest.fixture(scope="module")
def airline() -> tuple[Any, Any]:
    cfg = load_config(
        None,
        {
            "data.path": example_data_path(),
            "data.target": "passengers",
            "data.time_column": "month",
        },
    ).resolved()
    return prepare(cfg)


def members(
    airline: tuple[Any, Any], params_list: list[dict[str, Any]]
) -> tuple[list[Any], list[TensorSet], list[TensorSet]]:
    parts, meta = airline
    problems = [make_problem(parts, meta, p) for p in params_list]
    return problems, [p.tensors("train") for p in problems], [p.tensors("val") for p in problems]


def unfused(
    airline: tuple[Any, Any], params_list: list[dict[str, Any]], **kw: Any
) -> list[TrainResult]:
    problems, tr, va = members(airline, params_list)
    return [
        train(pr, p, a, b, seed=s, device=CPU, **kw)
        for pr, p, a, b, s in zip(problems, params_list, tr, va, SEEDS, strict=False)
    ]


def run_fused(
    airline: tuple[Any, Any], params_list: list[dict[str, Any]], **kw: Any
) -> list[fused.FusedResult]:
    problems, tr, va = members(airline, params_list)
    return train_fused(
        problems, params_list, tr, va, seeds=SEEDS[: len(params_list)], device=CPU, **kw
    )


def assert_same_trajectory(ref: TrainResult, got: TrainResult, rel: float = 1e-4) -> None:
    assert len(ref.history) == len(got.history)
    for a, b in zip(ref.history, got.history, strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=rel)
        assert b["objective"] == pytest.approx(a["objective"], rel=rel)
    assert got.best_epoch == ref.best_epoch
    assert got.best_value == pytest.approx(ref.best_value, rel=rel)
    assert got.epochs_run == ref.epochs_run
    assert got.stopped_early == ref.stopped_early


def test_fused_matches_unfused_training(airline: tuple[Any, Any]) -> None:
    params_list = [{**BASE, **v} for v in VARIANTS]
    ref = unfused(airline, params_list, patience=50)
    got = run_fused(airline, params_list, patience=50)
    for r, g in zip(ref, got, strict=True):
        assert_same_trajectory(r, g)
        # the restored best state is the same network
        for (name, a), b in zip(
            r.model.state_dict().items(), g.model.state_dict().values(), strict=True
        ):
            torch.testing.assert_close(b, a, rtol=1e-3, atol=1e-5, msg=name)
    # the members really differ (a bug that fused them into one model would not)
    assert len({round(g.history[-1]["train_loss"], 6) for g in got}) == len(got)


def test_fused_matches_unfused_two_layers_sgd_rmsprop(airline: tuple[Any, Any]) -> None:
    params_list = [
        {**BASE, **VARIANTS[1], "num_layers": 2, "optimizer": "sgd", "epochs": 3},
        {
            **BASE,
            **VARIANTS[3],
            "num_layers": 2,
            "optimizer": "rmsprop",
            "dropout": 0.3,
            "epochs": 3,
        },
    ]
    for r, g in zip(
        unfused(airline, params_list, patience=50),
        run_fused(airline, params_list, patience=50),
        strict=True,
    ):
        assert_same_trajectory(r, g)


def test_per_member_early_stopping(airline: tuple[Any, Any]) -> None:
    params_list = [{**BASE, **v, "epochs": 8} for v in VARIANTS]
    ref = unfused(airline, params_list, patience=1)
    got = run_fused(airline, params_list, patience=1)
    assert (
        any(r.stopped_early for r in ref) and len({r.epochs_run for r in ref}) > 1
    )  # the test exercises stopping
    for r, g in zip(ref, got, strict=True):
        assert_same_trajectory(r, g)


def test_pruned_member_stops_and_repack_keeps_survivors(airline: tuple[Any, Any]) -> None:
    params_list = [{**BASE, **v} for v in VARIANTS]
    full = run_fused(airline, params_list, patience=50)
    calls: list[tuple[int, int]] = []

    def on_epoch_for(member: int) -> Any:
        def cb(epoch: int, value: float, train_loss: float) -> None:
            calls.append((member, epoch))
            if member in (0, 2) and epoch == 2:
                raise optuna.TrialPruned(f"pruned at epoch {epoch}")

        return cb

    got = run_fused(airline, params_list, patience=50, on_epoch=[on_epoch_for(m) for m in range(4)])
    for m in (0, 2):
        assert got[m].pruned and got[m].epochs_run == 2 and len(got[m].history) == 2
        assert max(e for mm, e in calls if mm == m) == 2  # no callbacks after the prune
        assert got[m].best_value == min(h["objective"] for h in full[m].history[:2])
    for m in (1, 3):  # survivors, re-packed from 4 rows to 2, follow their unpruned trajectories
        assert not got[m].pruned and got[m].epochs_run == 4
        for a, b in zip(full[m].history, got[m].history, strict=True):
            assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-5)
            assert b["objective"] == pytest.approx(a["objective"], rel=1e-5)


def test_stop_flag_and_member_callback(airline: tuple[Any, Any]) -> None:
    params_list = [{**BASE, **v} for v in VARIANTS[:2]]
    seen: list[tuple[int, int]] = []

    def cb(member: int, epoch: int, value: float, train_loss: float) -> bool:
        seen.append((member, epoch))
        assert math.isfinite(value) and math.isfinite(train_loss)
        return member == 1 and epoch == 1

    got = run_fused(airline, params_list, patience=50, on_epoch=cb, repack="half")
    assert got[1].pruned and got[1].epochs_run == 1
    assert got[0].epochs_run == 4 and not got[0].pruned
    assert [e for m, e in seen if m == 1] == [1]


def test_unpacked_model_loads_and_predicts_like_the_fused_forward(airline: tuple[Any, Any]) -> None:
    params_list = [{**BASE, **v, "num_layers": 2, "epochs": 2} for v in VARIANTS]
    problems, tr, va = members(airline, params_list)
    results = train_fused(problems, params_list, tr, va, seeds=SEEDS, device=CPU, patience=50)
    nets = [r.model for r in results]
    model = FusedLSTM.from_models(
        nets, params_list, n_features=problems[0].n_features, n_outputs=problems[0].n_outputs
    )
    model.training = False
    x = torch.stack([v.x for v in va])
    with torch.no_grad():
        out = model(x)
    for k, (r, p, pr) in enumerate(zip(results, params_list, problems, strict=True)):
        fresh = build_model(pr.n_features, pr.n_outputs, p, zero_head=pr.zero_head)
        fresh.load_state_dict(r.model.state_dict())  # the serving path: a plain state dict
        fresh.eval()
        with torch.no_grad():
            torch.testing.assert_close(fresh(va[k].x), out[k], rtol=1e-4, atol=1e-5)
        assert member_state_roundtrip(model, k, r.model)


def member_state_roundtrip(model: FusedLSTM, k: int, net: torch.nn.Module) -> bool:
    state = model.member_state(k)
    return state.keys() == net.state_dict().keys() and all(
        torch.equal(state[n], t) for n, t in net.state_dict().items()
    )


def test_manual_kernel_gradients() -> None:
    torch.manual_seed(0)
    k, b, t, f, h = 2, 3, 4, 2, 3
    args = [
        torch.randn(k, b, t, f, dtype=torch.float64, requires_grad=True),
        torch.randn(k, 4 * h, f, dtype=torch.float64, requires_grad=True),
        torch.randn(k, 4 * h, h, dtype=torch.float64, requires_grad=True),
        torch.randn(k, 4 * h, dtype=torch.float64, requires_grad=True),
        torch.randn(k, 4 * h, dtype=torch.float64, requires_grad=True),
    ]
    assert torch.autograd.gradcheck(_LSTMSeq.apply, args)
    manual = _LSTMSeq.apply(*args)
    reference = fused._lstm_autograd(*args)
    for a, r in zip(manual, reference, strict=True):
        torch.testing.assert_close(a, r)


@pytest.mark.parametrize(
    "dtype", [torch.float32, torch.bfloat16], ids=["float32-sigmoid-form", "bfloat16-native-tanh"]
)
def test_manual_kernel_matches_autograd_in_training_precisions(dtype: torch.dtype) -> None:
    """float64 (gradcheck above) takes the native-tanh path; float32 on the CPU computes tanh as
    2*sigmoid(2z)-1, bf16 (what CUDA autocast feeds it) the native path: both against autograd."""
    torch.manual_seed(1)
    k, b, t, f, h = 3, 5, 7, 2, 8
    base = [
        torch.randn(k, b, t, f),
        torch.randn(k, 4 * h, f) * 0.5,
        torch.randn(k, 4 * h, h) * 0.5,
        torch.randn(k, 4 * h) * 0.1,
        torch.randn(k, 4 * h) * 0.1,
    ]
    upstream = (torch.randn(k, b, t, h), torch.randn(k, b, h))
    results = []
    for kernel in (_LSTMSeq.apply, fused._lstm_autograd):
        args = [a.to(dtype).requires_grad_() for a in base]
        seq, last = kernel(*args)
        torch.autograd.backward((seq, last), (upstream[0].to(dtype), upstream[1].to(dtype)))
        results.append(
            [seq.float(), last.float()] + [cast(torch.Tensor, a.grad).float() for a in args]
        )
    tol = {"rtol": 1e-4, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 0.05, "atol": 0.05}
    for manual, reference in zip(*results, strict=True):
        torch.testing.assert_close(manual, reference, **tol)


def test_train_fused_refuses_unfusable_members(airline: tuple[Any, Any]) -> None:
    for bad in ({"bidirectional": True}, {"cell": "gru"}, {"head": "mean"}):
        params_list = [{**BASE, **VARIANTS[0]}, {**BASE, **VARIANTS[1], **bad}]
        with pytest.raises(ValueError, match="cannot fuse"):
            run_fused(airline, params_list)
    with pytest.raises(ValueError, match="share units"):
        run_fused(airline, [{**BASE, **VARIANTS[0]}, {**BASE, **VARIANTS[1], "units": 16}])


def p(**kw: Any) -> dict[str, Any]:
    return {**BASE, **VARIANTS[0], **kw}


def test_plan_groups_grouping_and_refusal() -> None:
    params_list = [
        p(),
        p(units=16),
        p(),
        p(bidirectional=True),
        p(cell="gru"),
        p(head="attention"),
        p(),
        p(units=16),
        p(batch_size=32),
        p(),
    ]
    groups = plan_groups(params_list, 8, CPU)
    assert groups == [[0, 2, 6, 9], [1, 7], [3], [4], [5], [8]]
    assert plan_groups(params_list, 3, CPU) == [[0, 2, 6], [1, 7], [3], [4], [5], [8], [9]]
    assert sorted(i for g in groups for i in g) == list(range(len(params_list)))


def test_fuse_off_never_fuses() -> None:
    params_list = [p() for _ in range(6)]
    for off in ("off", 0, 1):
        assert plan_groups(params_list, off, CPU) == [[i] for i in range(6)]
    with pytest.raises(ValueError):
        plan_groups(params_list, "sometimes", CPU)


def test_auto_fuses_only_where_calibration_wins() -> None:
    params_list = [p() for _ in range(4)] + [p(units=16) for _ in range(4)]
    asked: list[tuple[int, int]] = []

    def measured(
        units: int, num_layers: int, lookback: int, batch_size: int, members: int, **kw: Any
    ) -> tuple[float, float]:
        asked.append((units, members))
        per_member = 1.0
        fused_time = 0.5 if units == 8 else 0.9 * members  # units 16: fused barely wins -> refused
        return fused_time, per_member * members

    groups = plan_groups(params_list, "auto", CPU, calibrate_fn=measured)
    assert groups == [[0, 1, 2, 3], [4], [5], [6], [7]]
    assert sorted(asked) == [(8, 4), (16, 4)]


def test_calibrate_measures_and_caches() -> None:
    fused._CALIBRATION.clear()
    first = fused.calibrate(4, 1, 6, 8, 2, device=CPU, reps=1, steps=1)
    assert all(t > 0 for t in first)
    assert fused.calibrate(4, 1, 6, 8, 2, device=CPU, reps=1, steps=1) == first  # cached per shape
    assert len(fused._CALIBRATION) == 1


def test_auto_skips_wide_members_on_cpu_without_calibrating() -> None:
    asked: list[int] = []

    def measured(units: int, *a: Any, **kw: Any) -> tuple[float, float]:
        asked.append(units)
        return 0.1, 10.0

    params_list = [p(units=256) for _ in range(4)]
    assert plan_groups(params_list, "auto", CPU, calibrate_fn=measured) == [[0], [1], [2], [3]]
    assert asked == []


def test_classification_extras_are_never_fused(tiny_config: Any) -> None:
    """The conv branch, sequence normalisation, patches, augmentation, label smoothing and class
    weights are not in the fused kernel: such configurations train alone, and classification
    trials (judged by k-fold CV) are never fused."""
    from lstmtune.fused import fusable
    from lstmtune.fused_plan import fuse_setting

    assert fusable(p()) is None
    for key, value in (
        ("conv", "fcn"),
        ("seq_norm", True),
        ("patch", 4),
        ("augment", "jitter"),
        ("label_smoothing", 0.1),
        ("class_weight", "balanced"),
    ):
        assert fusable(p(**{key: value})) == f"{key}={value} is not fused (a plain LSTM only)"
    forecast = tiny_config(**{"tune.fuse_trials": 4})
    meta = prepare(forecast)[1]
    assert fuse_setting(forecast, meta) == 4
    classify = tiny_config(**{"tune.fuse_trials": 4, "data.task": "classify"})
    assert fuse_setting(classify, meta) == "off"
