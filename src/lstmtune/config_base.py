"""The strict base of every configuration section (unknown keys are errors)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Strict(BaseModel):
    # inf/nan as JSON's Infinity/NaN (json.loads reads them back): the steps get the config as
    # JSON, and the default (null) would turn e.g. train.grad_clip: .inf (no clipping) into an
    # invalid value
    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, ser_json_inf_nan="constants"
    )
