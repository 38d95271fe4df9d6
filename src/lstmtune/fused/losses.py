"""Each member's own training loss and validation objective from the fused outputs."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from lstmtune.model import LSTMNet
from lstmtune.training import ClassifyProblem, ForecastProblem, Problem, TensorSet


def _member_losses(
    problems: Sequence[Problem], out: torch.Tensor, y: torch.Tensor, anchor: torch.Tensor | None
) -> torch.Tensor:
    """``[K]`` training losses, each exactly ``problem.loss`` of that member's batch."""
    task = problems[0].task
    same = all(type(p) is type(problems[0]) for p in problems)
    if same and isinstance(problems[0], ForecastProblem):
        assert anchor is not None
        return ((out.float() + anchor) - y).pow(2).mean(dim=(1, 2))
    if same and isinstance(problems[0], ClassifyProblem):
        k, b, c = out.shape
        return (
            F.cross_entropy(out.float().reshape(k * b, c), y.reshape(k * b), reduction="none")
            .view(k, b)
            .mean(1)
        )
    del task
    return torch.stack(
        [
            p.loss(out[i], TensorSet(out[i], y[i], None if anchor is None else anchor[i]))
            for i, p in enumerate(problems)
        ]
    )


def _objective(
    problem: Problem, scaled: torch.Tensor, data: TensorSet, net: Callable[[], LSTMNet]
) -> float:
    """``problem.objective`` from the member's (anchored, float) validation outputs."""
    try:
        return problem.objective_from_outputs(scaled, data)
    except NotImplementedError:
        return problem.objective(net(), data)  # a task without the hook: the regular model path
