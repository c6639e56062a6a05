"""Reference scores of the Atari games and the % of human expert (plain data, no emulator needed).

Kept apart from :mod:`marlbench.envs.atari` (which needs ale-py) so that reports can score a
ledger's Atari runs on a machine without ``marlbench[atari]``.
"""

from __future__ import annotations

from typing import Literal

from marlbench.errors import ConfigError

HUMAN_REFERENCE: dict[str, tuple[float, float]] = {
    "atari-pong": (-20.7, 9.3),
    "atari-breakout": (1.7, 31.8),
}
"""``(random play, human expert)`` scores, from Mnih et al. 2015 ("Human-level control through deep
reinforcement learning", Nature 518, Extended Data Table 2), the reference rows of paper 002's Fig. 7."""

GAME_FLOOR: dict[str, float] = {"atari-pong": -21.0, "atari-breakout": 0.0}
"""Lowest possible game score. Paper 002's Fig. 7 "% of human expert" column is
``(score - floor) / (human - floor)``, whereas the standard human-normalised score puts random play
at 0%. Use ``percent_human(..., baseline="floor")`` for the paper's column. It gives 23 of the
figure's 24 entries (12 agents x 2 games) to the printed whole percent, e.g. random Pong 1%, random
Breakout 5%, Model 3 Pong 123%, Breakout 487%. The exception is A2C on Breakout: its running mean
581.6 gives 1829%, the paper prints 2411% (which would need a score of 766.7); the formula cannot
produce both, so one of the two printed numbers is wrong and we do not know which."""


def percent_human(env_name: str, score: float, *, baseline: Literal["random", "floor"] = "random") -> float:
    """Score as a percentage of human expert play: ``100 * (score - b) / (human - b)``.

    ``baseline="random"`` (default) is the human-normalised score of Mnih et al. 2015 and later
    Atari work: random play is 0%, the human expert 100%. ``baseline="floor"`` uses the game's
    lowest possible score instead (see :data:`GAME_FLOOR`), which is how paper 002's Fig. 7 computed
    its column. Raises ConfigError for an environment without reference scores.
    """
    if env_name not in HUMAN_REFERENCE:
        raise ConfigError(
            f"no human reference score for '{env_name}'",
            f"% of human expert is defined for {', '.join(sorted(HUMAN_REFERENCE))}",
        )
    random_score, human_score = HUMAN_REFERENCE[env_name]
    base = random_score if baseline == "random" else GAME_FLOOR[env_name]
    return 100.0 * (float(score) - base) / (human_score - base)
