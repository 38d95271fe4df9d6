"""Optimizers for stacked members: torch.optim's updates vectorised over the member rows of a
``[K, P]`` parameter tensor (:class:`FusedOptimizer`), and per-member gradient clipping."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
#: optimizer kinds that share one vectorised update (Adam with L2 decay, AdamW with decoupled decay)
FAMILIES = {"adam": "adam", "adamw": "adam", "sgd": "sgd", "rmsprop": "rmsprop"}
_BUFFERS = {"adam": ("exp_avg", "exp_avg_sq"), "sgd": ("momentum",), "rmsprop": ("square_avg",)}


@dataclass
class _Rows:
    """The rows one family update works on (all rows, or copies of the selected ones)."""

    p: torch.Tensor
    g: torch.Tensor
    bufs: list[torch.Tensor]
    steps: list[int]
    lr: torch.Tensor
    wd: torch.Tensor
    wd_l2: torch.Tensor
    decay: torch.Tensor
    any_wd: bool


class FusedOptimizer:
    """torch.optim's Adam / AdamW / SGD(momentum 0.9, nesterov) / RMSprop on the rows of ``[K, P]``,
    each row with its own optimizer kind, learning rate and weight decay (defaults as in
    ``training._optimizer``). Adam and AdamW rows are one update: each row carries an L2 decay
    (Adam) and a decoupled decay (AdamW), one of them zero, which adds exactly 0 / scales by
    exactly 1, so a mixed group needs no per-kind gather and scatter."""

    def __init__(
        self,
        kinds: Sequence[str],
        lr: Sequence[float],
        weight_decay: Sequence[float],
        device: torch.device,
    ) -> None:
        for kind in kinds:
            if kind not in OPTIMIZERS:
                raise ValueError(f"unknown optimizer {kind!r}")
        self.kinds = list(kinds)
        self.lr64 = list(map(float, lr))
        self.wd64 = list(map(float, weight_decay))
        self.device = device
        self.state: dict[str, torch.Tensor] = {}
        self.steps = [0] * len(self.kinds)
        self._rows()

    def _col(self, values: list[float]) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.float32, device=self.device).view(-1, 1)

    def _rows(self) -> None:
        """Per-row coefficient tensors ``[K, 1]`` for the current members."""
        self.lr, self.wd = self._col(self.lr64), self._col(self.wd64)
        self.wd_l2 = self._col(
            [w if k != "adamw" else 0.0 for k, w in zip(self.kinds, self.wd64, strict=True)]
        )
        self.decay = self._col(
            [
                1.0 - lr * w if k == "adamw" else 1.0
                for k, lr, w in zip(self.kinds, self.lr64, self.wd64, strict=True)
            ]
        )
        self.any_l2 = any(
            k != "adamw" and w != 0 for k, w in zip(self.kinds, self.wd64, strict=True)
        )
        self.any_decay = any(
            k == "adamw" and w != 0 for k, w in zip(self.kinds, self.wd64, strict=True)
        )

    def select(self, keep: Sequence[int]) -> None:
        idx = torch.tensor(list(keep), dtype=torch.long, device=self.device)
        self.kinds = [self.kinds[i] for i in keep]
        self.lr64 = [self.lr64[i] for i in keep]
        self.wd64 = [self.wd64[i] for i in keep]
        self.steps = [self.steps[i] for i in keep]
        self.state = {k: v.index_select(0, idx) for k, v in self.state.items()}
        self._rows()

    def _buf(self, name: str, like: torch.Tensor) -> torch.Tensor:
        if name not in self.state:
            self.state[name] = torch.zeros_like(like)
        return self.state[name]

    @torch.no_grad()
    def step(
        self, param: torch.Tensor, grad: torch.Tensor, rows: torch.Tensor | None = None
    ) -> None:
        """Update ``param`` in place (``rows``: bool ``[K]``, members that step; default all)."""
        k = param.shape[0]
        active = list(range(k)) if rows is None else [i for i, r in enumerate(rows.tolist()) if r]
        by_family: dict[str, list[int]] = {}
        for i in active:
            by_family.setdefault(FAMILIES[self.kinds[i]], []).append(i)
        for i in active:
            self.steps[i] += 1
        for family, members in by_family.items():
            self._update(family, param, grad, None if len(members) == k else members)

    def _update(
        self, family: str, param: torch.Tensor, grad: torch.Tensor, members: list[int] | None
    ) -> None:
        bufs_full = [self._buf(n, param) for n in _BUFFERS[family]]
        rows = self._select(param, grad, bufs_full, members)
        if family == "adam":
            self._adam(rows)
        elif family == "sgd":
            _sgd(rows)
        else:
            _rmsprop(rows)
        if members is not None:
            idx = torch.tensor(members, dtype=torch.long, device=param.device)
            param.index_copy_(0, idx, rows.p)
            for full, sub in zip(bufs_full, rows.bufs, strict=True):
                full.index_copy_(0, idx, sub)

    def _select(
        self,
        param: torch.Tensor,
        grad: torch.Tensor,
        bufs_full: list[torch.Tensor],
        members: list[int] | None,
    ) -> _Rows:
        """All rows (``members`` None: the tensors themselves) or copies of ``members``' rows."""
        if members is None:
            return _Rows(
                param,
                grad,
                bufs_full,
                self.steps,
                self.lr,
                self.wd,
                self.wd_l2,
                self.decay,
                any(w != 0 for w in self.wd64),
            )
        idx = torch.tensor(members, dtype=torch.long, device=param.device)
        lr, wd, wd_l2, decay = (
            t.index_select(0, idx) for t in (self.lr, self.wd, self.wd_l2, self.decay)
        )
        return _Rows(
            param.index_select(0, idx),
            grad.index_select(0, idx),
            [b.index_select(0, idx) for b in bufs_full],
            [self.steps[i] for i in members],
            lr,
            wd,
            wd_l2,
            decay,
            any(self.wd64[i] != 0 for i in members),
        )

    def _adam(self, r: _Rows) -> None:
        """Adam and AdamW rows in one update."""
        p, g = r.p, r.g
        exp_avg, exp_avg_sq = r.bufs
        if self.any_decay:
            p.mul_(r.decay)  # AdamW rows: p *= 1 - lr * wd; Adam rows: * 1.0
        if self.any_l2:
            g = g + p * r.wd_l2  # Adam rows: L2 into the gradient; AdamW rows: + 0
        exp_avg.lerp_(g, 0.1)
        exp_avg_sq.mul_(0.999).addcmul_(g, g, value=0.001)
        step = torch.tensor(r.steps, dtype=torch.float64, device=p.device).view(-1, 1)
        bc1 = 1 - 0.9**step
        bc2_sqrt = (1 - 0.999**step).sqrt()
        denom = (exp_avg_sq.sqrt() / bc2_sqrt.to(p.dtype)).add_(1e-8)
        p.sub_(exp_avg / denom * (r.lr / bc1.to(p.dtype)))


def _sgd(r: _Rows) -> None:
    """SGD with momentum 0.9, nesterov."""
    p, g = r.p, r.g
    (buf,) = r.bufs
    if r.any_wd:
        g = g + p * r.wd
    if min(r.steps) <= 1 and max(r.steps) <= 1:
        buf.copy_(g)
    else:
        first = torch.tensor([s <= 1 for s in r.steps], device=p.device).view(-1, 1)
        buf.copy_(torch.where(first, g, buf * 0.9 + g))
    p.sub_((g + buf * 0.9) * r.lr)


def _rmsprop(r: _Rows) -> None:
    p, g = r.p, r.g
    (square_avg,) = r.bufs
    if r.any_wd:
        g = g + p * r.wd
    square_avg.mul_(0.99).addcmul_(g, g, value=0.01)
    p.sub_(g / square_avg.sqrt().add_(1e-8) * r.lr)


def clip_member_norms(grad: torch.Tensor, max_norm: float) -> torch.Tensor:
    """``clip_grad_norm_`` per member row of ``grad`` ``[K, P]`` (in place); returns the norms."""
    norms: torch.Tensor = torch.linalg.vector_norm(grad, 2, dim=1)
    coef = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    grad.mul_(coef.unsqueeze(1))
    return norms
