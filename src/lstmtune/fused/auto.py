"""What to fuse: members of one shape form a group (:func:`plan_groups`); ``fuse="auto"`` fuses a
group only when :func:`calibrate` measured the fused step at least ``1/AUTO_MARGIN`` times faster
than the sequential steps it replaces, on the group's actual shape."""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from lstmtune.fused.model import FusedLSTM, fusable, shape_key
from lstmtune.fused.optim import FusedOptimizer, clip_member_norms
from lstmtune.model import LSTMNet, build_model
from lstmtune.training import select_device

#: ``auto`` fuses a group only if fused time <= AUTO_MARGIN x sequential time (calibrated)
AUTO_MARGIN = 0.8
#: on the CPU, ``auto`` does not even calibrate wider members (benchmarks/bench_fused.py on 2 cores:
#: 0.8-1.5x at 128 units, arithmetic-bound beyond)
CPU_MAX_UNITS = 128
#: a fused group never exceeds this many members under ``auto`` (memory, diminishing returns)
AUTO_MAX_MEMBERS = 64

_CALIBRATION: dict[tuple[Any, ...], tuple[float, float]] = {}


def calibrate(
    units: int,
    num_layers: int,
    lookback: int,
    batch_size: int,
    members: int,
    *,
    n_features: int = 1,
    n_outputs: int = 1,
    device: torch.device | None = None,
    reps: int = 5,
    steps: int = 3,
    dropout: float = 0.0,
    recurrent_dropout: float = 0.0,
) -> tuple[float, float]:
    """Seconds per training step: (fused step of ``members`` members, ``members`` sequential
    ``LSTMNet`` steps). Real steps (forward, backward, clipping, Adam) on random data of the actual
    shape, interleaved A/B, medians; cached per shape and device."""
    device = device or select_device()
    key = (
        device.type,
        units,
        num_layers,
        lookback,
        batch_size,
        members,
        n_features,
        n_outputs,
        dropout > 0,
        recurrent_dropout > 0,
    )
    if key in _CALIBRATION:
        return _CALIBRATION[key]
    params = {
        "units": units,
        "num_layers": num_layers,
        "batch_size": batch_size,
        "learning_rate": 1e-3,
        "dropout": dropout,
        "recurrent_dropout": recurrent_dropout,
    }
    fused_step, seq_step = _calibration_steps(
        params, lookback, members, n_features=n_features, n_outputs=n_outputs, device=device
    )
    fused_step()
    seq_step()  # warm-up
    tf, ts = [], []
    for _ in range(reps):
        tf.append(_timed(fused_step, steps, device))
        ts.append(_timed(seq_step, steps, device))
    result = (statistics.median(tf), statistics.median(ts))
    _CALIBRATION[key] = result
    return result


def _calibration_steps(
    params: dict[str, Any],
    lookback: int,
    members: int,
    *,
    n_features: int,
    n_outputs: int,
    device: torch.device,
) -> tuple[Callable[[], None], Callable[[], None]]:
    """One fused training step of ``members`` members and ``members`` sequential steps, on
    random data of the shape (fixed seed), ready to time."""
    batch_size = int(params["batch_size"])
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch_size, lookback, n_features, generator=gen).to(device)
    y = torch.randn(batch_size, n_outputs, generator=gen).to(device)
    nets = [build_model(n_features, n_outputs, params, zero_head=False) for _ in range(members)]
    fused = FusedLSTM.from_models(
        nets, [params] * members, n_features=n_features, n_outputs=n_outputs, device=device
    )
    fopt = FusedOptimizer(["adam"] * members, [1e-3] * members, [0.0] * members, device)
    xk, yk = x.expand(members, *x.shape).contiguous(), y.expand(members, *y.shape).contiguous()
    net = nets[0].to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    return (
        functools.partial(_fused_step, fused, fopt, xk, yk),
        functools.partial(_seq_step, net, opt, x, y, members),
    )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _fused_step(fused: FusedLSTM, fopt: FusedOptimizer, xk: torch.Tensor, yk: torch.Tensor) -> None:
    out = fused(xk)
    fused.flat.grad = None
    (out - yk).pow(2).mean(dim=(1, 2)).sum().backward()  # type: ignore[no-untyped-call]
    grad = cast(torch.Tensor, fused.flat.grad)
    clip_member_norms(grad, 1.0)
    fopt.step(fused.flat.data, grad)


def _seq_step(
    net: LSTMNet, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, members: int
) -> None:
    for _ in range(members):  # the same model stands in for each member: same cost
        out = net(x)
        opt.zero_grad(set_to_none=True)
        F.mse_loss(out, y).backward()  # type: ignore[no-untyped-call]
        nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()


def _timed(fn: Callable[[], None], steps: int, device: torch.device) -> float:
    """Seconds per call of ``fn`` over ``steps`` calls."""
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    _sync(device)
    return (time.perf_counter() - t0) / steps


def plan_groups(
    params_list: Sequence[dict[str, Any]],
    fuse: str | int = "auto",
    device: torch.device | None = None,
    *,
    n_features: int = 1,
    n_outputs: int = 1,
    max_members: int | None = None,
    calibrate_fn: Callable[..., tuple[float, float]] | None = None,
) -> list[list[int]]:
    """Split member indices into groups to train together; a group of one trains unfused.

    * ``fuse="off"`` (or 0/1): every member alone.
    * ``fuse=K``: members with the same :func:`shape_key` (units, num_layers, lookback,
      batch_size; lstm cell, ``last`` head, unidirectional only) in groups of at most K, in
      input order; everything else alone.
    * ``fuse="auto"``: like K = ``AUTO_MAX_MEMBERS``, then each group of size m >= 2 is kept only if
      :func:`calibrate` measures ``t_fused(m) <= AUTO_MARGIN * t_sequential(m)`` on its shape
      (else its members train alone): ``auto`` is never meant to be slower than ``off``. On the
      CPU, groups wider than ``CPU_MAX_UNITS`` units train alone without calibrating.

    Groups are ordered by their first member.
    """
    if fuse in ("off", 0, 1) or (isinstance(fuse, int) and fuse < 0):
        return [[i] for i in range(len(params_list))]
    if fuse == "auto":
        limit = max_members or AUTO_MAX_MEMBERS
    elif isinstance(fuse, int) and not isinstance(fuse, bool):
        limit = fuse
    else:
        raise ValueError(f"fuse must be 'auto', 'off' or an integer, got {fuse!r}")
    device = device or select_device()
    buckets: dict[tuple[Any, ...], list[int]] = {}
    groups: list[list[int]] = []
    for i, p in enumerate(params_list):
        if fusable(p) is not None:
            groups.append([i])
            continue
        buckets.setdefault(shape_key(p), []).append(i)
    for key, members in buckets.items():
        for j in range(0, len(members), limit):
            chunk = members[j : j + limit]
            if len(chunk) > 1 and fuse == "auto":
                fuses = _auto_fuses(
                    key,
                    [params_list[i] for i in chunk],
                    device,
                    n_features=n_features,
                    n_outputs=n_outputs,
                    calibrate_fn=calibrate_fn or calibrate,
                )
                if not fuses:
                    groups.extend([i] for i in chunk)
                    continue
            groups.append(chunk)
    groups.sort(key=lambda g: g[0])
    return groups


def _auto_fuses(
    key: tuple[Any, ...],
    chunk: list[dict[str, Any]],
    device: torch.device,
    *,
    n_features: int,
    n_outputs: int,
    calibrate_fn: Callable[..., tuple[float, float]],
) -> bool:
    """``fuse="auto"``: whether a group of ``chunk`` (shape ``key``) is measured to win."""
    units, layers, lookback, batch_size = key[:4]
    if device.type == "cpu" and units > CPU_MAX_UNITS:  # measured: fused loses there; skip
        return False
    any_drop = max(float(p.get("dropout", 0.0)) for p in chunk)
    any_rd = max(float(p.get("recurrent_dropout", 0.0)) for p in chunk)
    t_fused, t_seq = calibrate_fn(
        units,
        layers,
        lookback or 1,
        batch_size,
        len(chunk),
        n_features=n_features,
        n_outputs=n_outputs,
        device=device,
        dropout=any_drop,
        recurrent_dropout=any_rd,
    )
    return bool(t_fused <= AUTO_MARGIN * t_seq)
