"""The strict base of every configuration section (unknown keys are errors), and the one line a
validation error becomes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError


class _Strict(BaseModel):
    # inf/nan as JSON's Infinity/NaN (json.loads reads them back): the steps get the config as
    # JSON, and the default (null) would turn e.g. train.grad_clip: .inf (no clipping) into an
    # invalid value
    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, ser_json_inf_nan="constants"
    )


def error_key(exc: ValidationError) -> str:
    """The dotted config key of the first error."""
    return ".".join(
        str(p)
        for p in exc.errors()[0]["loc"]
        if not (isinstance(p, str) and p in ("ParamSpec", "list[union[bool,int,float,str]]"))
        and not str(p).startswith(("function-", "bool", "int", "float", "str", "list["))
    )


def format_error(source: str, exc: ValidationError) -> str:
    err = exc.errors()[0]
    key = error_key(exc)
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{source}: {key}: {msg}{more}"
