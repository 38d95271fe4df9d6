"""The ``data.text`` section: the word-level tokenizer of the ``text`` task."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from lstmtune.config_base import _Strict


class TextConfig(_Strict):
    """Word-level tokenizer of the ``text`` task (vocabulary built on the train split only)."""

    min_freq: int = Field(2, ge=1, description="keep tokens seen at least this often in train")
    max_vocab: int = Field(20000, ge=3, description="vocabulary size including <pad> and <unk>")
    lowercase: bool = Field(True, description="lower-case before tokenizing")
    max_length: Literal["auto"] | int | None = Field(
        "auto",
        description=(
            "read at most this many tokens of each text (a trial's time grows with the longest"
            " text); auto: 4x the 95th percentile of the train texts' token counts, at least 256"
            " (only far longer texts are cut); null: never cut"
        ),
    )

    @field_validator("max_length", mode="before")
    @classmethod
    def _max_length(cls, v: Any) -> Any:
        if isinstance(v, bool) or (isinstance(v, int) and v < 1):
            raise ValueError("max_length must be auto, null or an integer >= 1")
        return v
