"""Conditional hyperparameters of a search space: a spec with ``when: "<parameter> <op>
<value>"`` is sampled only when the condition holds on the parameters drawn before it (one level
of conditions; ops ==, !=, >, >=, <, <= and in), else it takes :func:`inactive_value`.

Also the spec types shared with :mod:`lstmtune.search_space`, which re-exports the public names.
"""

from __future__ import annotations

import math
import re
from typing import Any

from lstmtune.errors import UserError

Spec = dict[str, Any]
Params = dict[str, Any]

WHEN_RE = re.compile(r"^\s*(\w+)\s*(==|!=|>=|<=|>|<|in)\s*(.+?)\s*$")


def is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _literal(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def parse_when(name: str, expr: str, space: dict[str, Spec]) -> tuple[str, str, Any]:
    m = WHEN_RE.match(expr)
    key = f"tune.search_space.{name}.when"
    if not m:
        raise UserError(
            f"{key}: {expr!r} is not '<parameter> <op> <value>' with op ==, !=, >, >=, <, <= or in"
        )
    ref, op = m.group(1), m.group(2)
    try:
        raw = _literal(m.group(3))
    except Exception:
        raise UserError(f"{key}: cannot read the value in {expr!r}") from None
    if op in (">", ">=", "<", "<=") and not is_number(raw):
        raise UserError(f"{key}: {op} needs a number, got {m.group(3)!r}")
    if ref not in space or ref == name:
        raise UserError(f"{key}: {ref!r} is not another parameter of the search space")
    if space[ref].get("when"):
        raise UserError(
            f"{key}: {ref!r} is itself conditional; one level of conditions is supported"
        )
    if op == "in" and not isinstance(raw, list):
        raise UserError(f"{key}: 'in' needs a list, e.g. 'cell in [gru]'")
    return ref, op, raw


def condition_holds(name: str, spec: Spec, params: Params, space: dict[str, Spec]) -> bool:
    if not spec.get("when"):
        return True
    ref, op, value = parse_when(name, spec["when"], space)
    actual = params[ref]
    if op == "in":
        return bool(actual in value)
    ops = {
        "==": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
    }
    try:
        return bool(ops[op](actual, value))
    except TypeError:
        raise UserError(
            f"tune.search_space.{name}.when: cannot compare {actual!r} {op} {value!r}"
        ) from None


def inactive_value(spec: Spec) -> Any:
    """The value of a conditional parameter whose condition is false."""
    if spec.get("default") is not None:
        return spec["default"]
    if spec["type"] == "categorical":
        return spec["choices"][0]
    if spec["type"] == "fixed":
        return spec["value"]
    return int(spec["low"]) if spec["type"] == "int" else float(spec["low"])


def is_conditional(space: dict[str, Spec]) -> list[str]:
    return [n for n, s in space.items() if s.get("when")]
