"""Typed values from the command line: one parser for ``--set`` hyperparameters and ``--env-opt`` options.

It sits below both registries (the env registry parses options, ``algos.base`` hyperparameters) and
depends on nothing but the error type.
"""

from __future__ import annotations

from typing import Any

from marlbench.errors import ConfigError


def parse_typed(raw: Any, default: Any, what: str) -> Any:
    """Parse ``raw`` (usually a CLI string) to the type of ``default``; ConfigError if it fails.

    ``what`` names the setting in the message (``--set batch_size``). A non-string ``raw`` (from a
    preset or the Python API) must already have the default's type; an int is accepted for a float.
    """
    if not isinstance(raw, str):
        if isinstance(default, bool) and isinstance(raw, bool):
            return raw
        if isinstance(default, float) and isinstance(raw, int | float) and not isinstance(raw, bool):
            return float(raw)
        if isinstance(default, int) and isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if default is None:
            return raw
        raise ConfigError(f"{what}: expected {type(default).__name__}, got {raw!r}")
    text = raw.strip()
    if isinstance(default, bool):
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{what}: '{raw}' is not a boolean", "use true or false")
    if isinstance(default, int):
        try:
            return int(text)
        except ValueError:
            try:
                as_float = float(text)
            except ValueError:
                as_float = None
            if as_float is not None and as_float.is_integer():
                return int(as_float)
            raise ConfigError(f"{what}: '{raw}' is not an integer", "give a whole number") from None
    if isinstance(default, float):
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{what}: '{raw}' is not a number", "give a number such as 3e-4") from None
    if default is None:
        for cast in (int, float):
            try:
                return cast(text)
            except ValueError:
                pass
        if text.lower() in ("none", "null"):
            return None
    return text
