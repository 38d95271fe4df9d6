"""One exception type for everything the user can fix (exit code 2)."""

from __future__ import annotations


class UserError(ValueError):
    """Bad input or configuration (a ``ValueError``). The message is one line naming the file,
    column or key."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class KatibError(RuntimeError):
    """A Katib Experiment failed, timed out or could not be created (exit code 1)."""


class TrialInfeasible(UserError):
    """A hyperparameter combination that cannot be trained on this data (e.g. seasonal anchor
    with a lookback shorter than the period). Tuning prunes such trials instead of failing."""
