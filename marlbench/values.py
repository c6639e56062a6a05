"""Typed values from the command line: one parser for ``--set`` hyperparameters and ``--env-opt`` options.

It sits below both registries (the env registry parses options, ``algos.base`` hyperparameters) and
depends on nothing but the error type.
"""

from __future__ import annotations

import math
from typing import Any

from marlbench.errors import ConfigError

INT64_MAX = 2**63 - 1
"""Every integer setting is stored in an int64 column: larger ones are refused where they are parsed."""


def check_int64(value: int, what: str) -> int:
    """``value`` itself when it fits an int64; ConfigError naming ``what`` otherwise."""
    if not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise ConfigError(f"{what}: {value} is too large (at most {INT64_MAX:,})", "give a smaller number")
    return value


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
            return check_int64(raw, what)
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
            return check_int64(int(text), what)
        except ValueError:
            try:
                as_float = float(text)
            except ValueError:
                as_float = None
            if as_float is not None and as_float.is_integer():
                return check_int64(int(as_float), what)
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


COUNT_OPTIONS = ("n_", "num_", "max_cycles", "length", "max_steps", "size")
"""Env options named like these (prefix ``n_``/``num_``, or containing the rest) are counts: >= 1."""
FRACTION_OPTIONS = ("ratio", "prob", "fraction", "rate")
"""Env options whose name contains one of these are fractions: 0 <= value <= 1."""


def check_env_option(key: str, value: Any, default: Any) -> Any:
    """An environment option's value checked by the registry's naming conventions; ConfigError if bad.

    Numbers must be finite; counts (agents, episode length, sizes: :data:`COUNT_OPTIONS`) at least 1;
    fractions (:data:`FRACTION_OPTIONS`) between 0 and 1. Options that are not numbers pass through.
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or isinstance(default, bool):
        return value
    name = key.lower()
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"--env-opt {key}={value} is not a finite number", "give a finite number")
    if (
        isinstance(default, int)
        and (name.startswith(COUNT_OPTIONS[:2]) or any(k in name for k in COUNT_OPTIONS[2:]))
        and value < 1
    ):
        raise ConfigError(f"--env-opt {key}={value} must be at least 1", f"the default is {default}")
    if any(k in name for k in FRACTION_OPTIONS) and not 0.0 <= value <= 1.0:
        raise ConfigError(f"--env-opt {key}={value} must lie between 0 and 1", f"the default is {default}")
    return value
