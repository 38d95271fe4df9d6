"""Training K configurations of one shape as one fused model (:func:`train_fused`).

One epoch is: a training pass over each member's own data order (:func:`_train_epoch`, one
:func:`_train_step` per batch), one fused validation forward (:func:`_validate`), each member's
objective, callbacks and stopping rules (:func:`_judge_epoch`), results for the members that
stopped (:func:`_finish_members`) and the re-pack that drops them (:func:`_repack`).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Literal, cast

import torch

from lstmtune.fused.losses import _member_losses, _objective
from lstmtune.fused.model import FusedLSTM, fusable, shape_key
from lstmtune.fused.optim import FusedOptimizer, clip_member_norms
from lstmtune.fused.state import (
    FusedResult,
    OnEpoch,
    _Data,
    _LossScale,
    _Members,
    _pruned_type,
    _Setup,
)
from lstmtune.model import LSTMNet, build_model
from lstmtune.training import (
    NonFiniteLoss,
    Problem,
    TensorSet,
    seed_everything,
    select_device,
)


def train_fused(
    problems: Sequence[Problem],
    params_list: Sequence[dict[str, Any]],
    train_sets: Sequence[TensorSet],
    val_sets: Sequence[TensorSet],
    *,
    seeds: Sequence[int],
    epochs: int | None = None,
    patience: int = 10,
    grad_clip: float = 1.0,
    device: torch.device | None = None,
    amp: bool = True,
    on_epoch: OnEpoch = None,
    exact_rng: bool | None = None,
    kernel: str = "manual",
    repack: Literal["any", "half"] = "any",
) -> list[FusedResult]:
    """Train K configurations of one shape (see :func:`~lstmtune.fused.auto.plan_groups`) as one
    fused model.

    Member ``k`` behaves like ``training.train(problems[k], params_list[k], train_sets[k],
    val_sets[k], seed=seeds[k], ...)``: same initial weights, data order, dropout masks (CPU,
    ``exact_rng``), optimizer, clipping, early stopping and best-state restore. ``on_epoch`` is a
    list of per-member ``(epoch, value, train_loss)`` callbacks (tuning's own) or one
    ``(member, epoch, value, train_loss)`` callback; raising ``optuna.TrialPruned`` or returning
    ``True`` stops that member (``pruned=True``, its best state so far is kept). Stopped members
    are re-packed away (``repack="any"``: at the end of every epoch in which one stops; ``"half"``:
    once at least half the current members stopped). Results are in input order, each ``.model``
    a regular ``LSTMNet``.
    """
    _check_members(problems, params_list, train_sets, val_sets, seeds)
    device = device or select_device()
    exact = (device.type == "cpu") if exact_rng is None else exact_rng
    if exact and device.type != "cpu":
        raise ValueError("exact_rng needs the CPU (CUDA dropout uses a different generator)")
    nets, data_gens, model = _fused_members(
        problems, params_list, seeds, device=device, exact=exact, kernel=kernel
    )
    opt = FusedOptimizer(
        [str(p.get("optimizer", "adam")) for p in params_list],
        [float(p["learning_rate"]) for p in params_list],
        [float(p.get("weight_decay", 0.0)) for p in params_list],
        device,
    )
    amp_dtype = _amp_dtype(amp, device)
    scaler = _LossScale(2.0**16 if amp_dtype == torch.float16 else 1.0)
    data = _Data.stack(train_sets, val_sets, device)
    n = data.x_tr.shape[1]
    setup = _Setup(
        problems=problems,
        params_list=params_list,
        val_sets=val_sets,
        nets=nets,
        data_gens=data_gens,
        max_epochs=[int(epochs if epochs is not None else p["epochs"]) for p in params_list],
        batch_size=max(1, min(int(params_list[0].get("batch_size", 32)), n)),
        patience=patience,
        grad_clip=grad_clip,
        device=device,
        amp_dtype=amp_dtype,
        on_epoch=on_epoch,
        repack=repack,
        pruned_exc=_pruned_type(),
        started=time.perf_counter(),
    )
    return _train_loop(model, opt, scaler, data, setup)


def _check_members(
    problems: Sequence[Problem],
    params_list: Sequence[dict[str, Any]],
    train_sets: Sequence[TensorSet],
    val_sets: Sequence[TensorSet],
    seeds: Sequence[int],
) -> None:
    """Raise ``ValueError`` unless the members can train as one fused model."""
    k_all = len(params_list)
    if not (len(problems) == len(train_sets) == len(val_sets) == len(seeds) == k_all) or k_all == 0:
        raise ValueError(
            "problems, params_list, train_sets, val_sets and seeds need one entry per member"
        )
    for p in params_list:
        why = fusable(p)
        if why:
            raise ValueError(f"cannot fuse this configuration: {why}")
    if len({shape_key(p) for p in params_list}) != 1:
        raise ValueError("fused members must share units, num_layers, lookback and batch_size")
    if any(getattr(pr, "vocab_size", None) for pr in problems):
        raise ValueError(
            "cannot fuse this configuration: text models (token embeddings) are not fused"
        )
    if len({(pr.n_features, pr.n_outputs) for pr in problems}) != 1:
        raise ValueError("fused members must share n_features and n_outputs")


def _fused_members(
    problems: Sequence[Problem],
    params_list: Sequence[dict[str, Any]],
    seeds: Sequence[int],
    *,
    device: torch.device,
    exact: bool,
    kernel: str,
) -> tuple[list[LSTMNet], list[torch.Generator], FusedLSTM]:
    """Identical starting points: seed_everything + build_model, as training.train does. Returns
    the nets, the data-order generators and the fused model of the nets (on the CPU with
    ``exact``, its dropout generators continue each member's global RNG stream)."""
    n_features, n_outputs = problems[0].n_features, problems[0].n_outputs
    nets, gens, data_gens = [], [], []
    for p, pr, seed in zip(params_list, problems, seeds, strict=True):
        seed_everything(int(seed))
        nets.append(build_model(n_features, n_outputs, p, zero_head=pr.zero_head))
        g = torch.Generator()
        g.set_state(torch.get_rng_state())  # the global stream train()'s dropout would continue
        gens.append(g)
        data_gens.append(torch.Generator(device="cpu").manual_seed(int(seed)))
    model = FusedLSTM.from_models(
        nets,
        params_list,
        n_features=n_features,
        n_outputs=n_outputs,
        gens=gens if exact else None,
        device=device,
        kernel=kernel,
    )
    return nets, data_gens, model


def _amp_dtype(amp: bool, device: torch.device) -> torch.dtype | None:
    """The autocast dtype (CUDA only: bfloat16 where supported, else float16), or None."""
    use_amp = amp and device.type == "cuda"
    amp_dtype: torch.dtype | None = None
    if use_amp:
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return amp_dtype


def _autocast(amp_dtype: torch.dtype | None) -> AbstractContextManager[Any]:
    return (
        torch.autocast(device_type="cuda", dtype=amp_dtype)
        if amp_dtype is not None
        else nullcontext()
    )


def _train_loop(
    model: FusedLSTM, opt: FusedOptimizer, scaler: _LossScale, data: _Data, setup: _Setup
) -> list[FusedResult]:
    """Epochs until every member stopped; results in input order."""
    k_all = len(setup.params_list)
    members = _Members.start(k_all)
    member_rows = torch.arange(k_all, device=setup.device)
    epoch = 0
    while members.alive:
        epoch += 1
        train_losses = _train_epoch(model, opt, scaler, data, setup, members.alive, member_rows)
        val_out = _validate(model, data, setup, members.alive)
        stop = _judge_epoch(model, setup, members, epoch, train_losses, val_out)
        _finish_members(model, setup, members, stop)
        if not _repack(model, opt, members, setup.repack):
            break
    return [members.results[m] for m in range(k_all)]


def _train_epoch(
    model: FusedLSTM,
    opt: FusedOptimizer,
    scaler: _LossScale,
    data: _Data,
    setup: _Setup,
    alive: list[int],
    member_rows: torch.Tensor,
) -> list[float]:
    """One pass over the training windows, each member in its own order; mean loss per row."""
    device = setup.device
    model.training = True
    k = len(alive)
    n = data.x_tr.shape[1]
    perms = torch.stack([torch.randperm(n, generator=setup.data_gens[m]) for m in alive]).to(device)
    kk = member_rows[:k].unsqueeze(1)
    total = torch.zeros(k, device=device)
    alive_idx = torch.tensor(alive, device=device)
    xs, ys = data.x_tr.index_select(0, alive_idx), data.y_tr.index_select(0, alive_idx)
    an = None if data.a_tr is None else data.a_tr.index_select(0, alive_idx)
    ln = None if data.l_tr is None else data.l_tr.index_select(0, alive_idx)
    probs = [setup.problems[m] for m in alive]
    for i in range(0, n, setup.batch_size):
        idx = perms[:, i : i + setup.batch_size]
        xb, yb = xs[kk, idx], ys[kk, idx]
        ab = None if an is None else an[kk, idx]
        lb = None if ln is None else ln[kk.cpu(), idx.cpu()]
        losses = _train_step(model, opt, scaler, setup, probs, (xb, yb, ab, lb))
        total += losses.detach() * idx.shape[1]
    return cast(list[float], (total / n).tolist())


def _train_step(
    model: FusedLSTM,
    opt: FusedOptimizer,
    scaler: _LossScale,
    setup: _Setup,
    probs: list[Problem],
    batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None],
) -> torch.Tensor:
    """Forward, per-member losses, backward, per-member clipping and optimizer step."""
    xb, yb, ab, lb = batch
    with _autocast(setup.amp_dtype):
        out = model(xb, lb, amp_dtype=setup.amp_dtype)
    losses = _member_losses(probs, out, yb, ab)
    model.flat.grad = None
    (losses.sum() * scaler.scale).backward()  # type: ignore[no-untyped-call]
    grad, rows = scaler.unscale(cast(torch.Tensor, model.flat.grad))
    clip_member_norms(grad, setup.grad_clip)
    opt.step(model.flat.data, grad, rows)
    return losses


def _validate(model: FusedLSTM, data: _Data, setup: _Setup, alive: list[int]) -> torch.Tensor:
    """One fused eval forward over the validation windows: anchored float outputs per row."""
    amp_dtype = setup.amp_dtype
    model.training = False
    with torch.no_grad():
        va_idx = torch.tensor(alive, device=setup.device)
        xv = data.x_va.index_select(0, va_idx)
        lv = None if data.l_va is None else data.l_va.index_select(0, va_idx)
        outs = []
        for j in range(0, xv.shape[1], 4096):
            with _autocast(amp_dtype):
                outs.append(
                    model(
                        xv[:, j : j + 4096],
                        None if lv is None else lv[:, j : j + 4096],
                        amp_dtype=amp_dtype,
                    ).float()
                )
        val_out = torch.cat(outs, 1)
        if data.a_va is not None:
            val_out = val_out + data.a_va.index_select(0, va_idx)
    return val_out


def _judge_epoch(
    model: FusedLSTM,
    setup: _Setup,
    members: _Members,
    epoch: int,
    train_losses: list[float],
    val_out: torch.Tensor,
) -> list[int]:
    """Each running member's objective, callback and stopping rules; the rows that stop now."""
    stop: list[int] = []
    for row, m in enumerate(members.alive):
        if m in members.results:  # stopped, waiting to be re-packed away
            continue
        if _judge_member(model, setup, members, row, m, epoch, train_losses[row], val_out):
            stop.append(row)
    return stop


def _judge_member(
    model: FusedLSTM,
    setup: _Setup,
    members: _Members,
    row: int,
    m: int,
    epoch: int,
    tl: float,
    val_out: torch.Tensor,
) -> bool:
    """Record member ``m``'s epoch; True (and ``stopped_at`` set) when it stops now."""
    if not math.isfinite(tl):
        members.stopped_at[m] = (
            epoch,
            "error",
            NonFiniteLoss(f"training loss became {tl} at epoch {epoch}"),
        )
        return True
    value = _record_epoch(model, setup, members, row, m, epoch, tl, val_out)
    reason = ""
    if _callback_prunes(setup.on_epoch, setup.pruned_exc, m, epoch, value, tl):
        reason = "pruned"
    if not reason and members.stale[m] >= setup.patience:
        reason = "early"
    if not reason and epoch >= setup.max_epochs[m]:
        reason = "done"
    if reason:
        members.stopped_at[m] = (epoch, reason, None)
    return bool(reason)


def _record_epoch(
    model: FusedLSTM,
    setup: _Setup,
    members: _Members,
    row: int,
    m: int,
    epoch: int,
    tl: float,
    val_out: torch.Tensor,
) -> float:
    """Member ``m``'s validation objective into its history; best state and patience updated."""
    rec = {"epoch": float(epoch), "train_loss": tl}
    net_of = functools.partial(
        model.to_lstmnet, row, setup.params_list[m], zero_head=setup.problems[m].zero_head
    )
    value = _objective(setup.problems[m], val_out[row], setup.val_sets[m], net_of)
    rec["objective"] = value
    members.histories[m].append(rec)
    if value < members.best_value[m]:
        members.best_value[m], members.best_epoch[m], members.stale[m] = value, epoch, 0
        members.best_row[m] = model.flat[row].detach().clone()
    else:
        members.stale[m] += 1
    return value


def _callback_prunes(
    on_epoch: OnEpoch,
    pruned_exc: type[BaseException],
    m: int,
    epoch: int,
    value: float,
    tl: float,
) -> bool:
    """Whether member ``m``'s callback prunes it (returns True or raises ``TrialPruned``)."""
    try:
        if isinstance(on_epoch, Sequence):
            cb = on_epoch[m]
            flag = cb(epoch, value, tl) if cb is not None else None
        elif on_epoch is not None:
            flag = on_epoch(m, epoch, value, tl)
        else:
            flag = None
    except pruned_exc:
        return True
    return flag is True


def _finish_members(model: FusedLSTM, setup: _Setup, members: _Members, stop: list[int]) -> None:
    """Results of the members that stopped this epoch (their best state as an ``LSTMNet``)."""
    for row in stop:
        m = members.alive[row]
        ep, reason, err = members.stopped_at[m]
        elapsed = time.perf_counter() - setup.started
        row_t = members.best_row[m]
        if err is None and row_t is None:
            err = NonFiniteLoss("the validation objective was never finite")
        net = model.to_lstmnet(
            row,
            setup.params_list[m],
            zero_head=setup.problems[m].zero_head,
            flat_row=row_t,
            net=setup.nets[m],
        )
        members.results[m] = FusedResult(
            net,
            members.best_epoch[m],
            members.best_value[m] if err is None else math.nan,
            ep,
            members.histories[m],
            elapsed,
            stopped_early=ep < setup.max_epochs[m],
            pruned=reason == "pruned",
            error=err,
            member=m,
        )


def _repack(
    model: FusedLSTM, opt: FusedOptimizer, members: _Members, repack: Literal["any", "half"]
) -> bool:
    """Drop stopped rows from the model and optimizer; False when no member is left running."""
    done_rows = [r for r, m in enumerate(members.alive) if m in members.results]
    if done_rows:
        keep = [r for r in range(len(members.alive)) if members.alive[r] not in members.results]
        if not keep:
            return False
        # "half": stopped rows keep computing (their results are final) until half have stopped
        if repack == "any" or len(done_rows) * 2 >= len(members.alive):
            model.select(keep)
            opt.select(keep)
            members.alive = [members.alive[r] for r in keep]
    return True
