"""Errors a user can cause. The CLI turns them into one line and exit code 2."""

from __future__ import annotations


class MarlbenchError(Exception):
    """A problem the user can fix: ``message`` names it, ``fix`` says how."""

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message} ({self.fix})" if self.fix else self.message


class ConfigError(MarlbenchError):
    """Bad algorithm, environment, hyperparameter or option.

    ``key`` names the part of a run spec at fault when the resolver knows it (``algo``, ``env``,
    ``env_options``, ``hyperparams`` or ``settings``), so a preset can point at its TOML key.
    """

    key: str = ""


class LedgerError(MarlbenchError):
    """The ledger cannot be read or written, or a run is missing."""


class Diverged(Exception):
    """Raised by an algorithm when its losses or parameters became non-finite."""


def nearest(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """A 'did you mean' suffix for an unknown ``name`` (empty when nothing is close)."""
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f"did you mean '{close[0]}'? " if close else ""
