"""Fused multi-trial training: K LSTM configurations of one shape trained as one batched model.

``vmap`` does not cover ``nn.LSTM``, so :class:`FusedLSTM` is its own model: the parameters of K
independent ``LSTMNet`` members (``cell="lstm"``, ``head="last"``, unidirectional) live in one
``[K, P]`` tensor, and every step of the recurrence is one batched matmul over the member
dimension. The time loop is a hand-written autograd function (:class:`_LSTMSeq`): the input
projection ``x @ W_ih`` for all time steps is one ``baddbmm`` outside the loop, each step does
``h @ W_hh`` plus in-place gate math without building an autograd graph, and the backward pass
is a manual BPTT whose weight gradients are one batched matmul over all time steps. On 2 CPU
cores this is ~2-3x faster per member-step than the same loop under autograd (see
``benchmarks/bench_fused.py``).

Each member keeps its own learning rate, weight decay, optimizer (Adam, AdamW, SGD-nesterov,
RMSprop, vectorised over the member rows of the flat parameter tensor), dropout rates, gradient
clipping (per-member total norm), data order (its own seeded ``randperm``), early stopping, best-
state restore and pruning. On the CPU the dropout masks are drawn from a per-member generator
that continues the global RNG stream ``training.train`` would have used after
``seed_everything(seed)`` + ``build_model``, so a fused member reproduces its unfused run (up to
float rounding). Stopped members are re-packed away at the end of the epoch in which they stop.

:func:`plan_groups` decides what to fuse: members of one shape form a group; ``fuse="auto"``
fuses a group only when :func:`calibrate` measured the fused step at least ``1/AUTO_MARGIN``
times faster than the sequential steps it replaces, on the group's actual shape.

Modules: :mod:`~lstmtune.fused.kernel` (the recurrence and its manual backward),
:mod:`~lstmtune.fused.model` (:class:`FusedLSTM`, what is fusable),
:mod:`~lstmtune.fused.optim` (optimizers and clipping for stacked members),
:mod:`~lstmtune.fused.losses` (per-member losses and objectives),
:mod:`~lstmtune.fused.state` (what a training run carries, :class:`FusedResult`),
:mod:`~lstmtune.fused.train` (:func:`train_fused`) and
:mod:`~lstmtune.fused.auto` (calibration and :func:`plan_groups`).
"""

from lstmtune.fused.auto import (
    _CALIBRATION as _CALIBRATION,
)
from lstmtune.fused.auto import (
    AUTO_MARGIN,
    AUTO_MAX_MEMBERS,
    CPU_MAX_UNITS,
    calibrate,
    plan_groups,
)
from lstmtune.fused.kernel import KERNELS
from lstmtune.fused.kernel import _lstm_autograd as _lstm_autograd
from lstmtune.fused.kernel import _LSTMSeq as _LSTMSeq
from lstmtune.fused.model import FusedLSTM, fusable, shape_key
from lstmtune.fused.optim import FAMILIES, OPTIMIZERS, FusedOptimizer, clip_member_norms
from lstmtune.fused.state import EpochCallback, FusedResult, MemberCallback
from lstmtune.fused.train import train_fused

__all__ = [
    "AUTO_MARGIN",
    "AUTO_MAX_MEMBERS",
    "CPU_MAX_UNITS",
    "FAMILIES",
    "KERNELS",
    "OPTIMIZERS",
    "EpochCallback",
    "FusedLSTM",
    "FusedOptimizer",
    "FusedResult",
    "MemberCallback",
    "calibrate",
    "clip_member_norms",
    "fusable",
    "plan_groups",
    "shape_key",
    "train_fused",
]
