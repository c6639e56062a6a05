"""Same seed, same result across speed work: episode returns pinned from the code before it.

Issue 12 asks that speed changes never change results. These are the team returns of every
training episode of short MADDPG and CTEDD runs (learning included: replay, updates, PER, message
channels) as the code of commit accb26b produced them, before the collection path was made leaner
(``numpy_forward``'s weight cache, slice writes into the replay, in-place Gumbel noise). A change
that alters any of them changes what a seed trains, and must say so.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import TINY
from fakes import FakeRecorder

from marlbench.algos.base import EnvContext
from marlbench.algos.ctedd.learner import CTEDD, CTEDDConfig
from marlbench.algos.maddpg import MADDPG, MADDPGConfig
from marlbench.envs.registry import get_spec

MADDPG_PINNED: dict[tuple[str, str], list[float]] = {
    ("cn-v1", "maddpg-1-state"): [
        -328.70973,
        -193.964056,
        -197.053195,
        -117.179789,
        -136.805273,
        -175.073163,
        -130.771662,
        -170.949096,
        -172.97815,
        -307.507054,
        -262.441092,
        -245.969939,
        -172.547518,
        -204.992928,
        -176.705484,
        -182.911807,
    ],
    ("mpe-spread", "maddpg"): [
        -99.345228,
        -106.395092,
        -78.315466,
        -48.59781,
        -37.629656,
        -79.288519,
        -66.082034,
        -63.117155,
        -88.356949,
        -84.651282,
        -109.944613,
        -72.881706,
        -117.143437,
        -91.094325,
        -66.082607,
        -102.248571,
    ],
    ("cn-v1", "maddpg-3-per"): [
        -133.540562,
        -161.830295,
        -181.250931,
        -85.185862,
        -85.583902,
        -162.20396,
        -221.764216,
        -227.724469,
        -206.284733,
        -227.920242,
        -155.931938,
        -239.007351,
        -323.11916,
        -180.623942,
        -111.41159,
        -174.883903,
    ],
}
SETTINGS: dict[str, dict[str, Any]] = {
    "maddpg-1-state": {"comm_dim": 1, "use_state": True},
    "maddpg": {},
    "maddpg-3-per": {"per": True, "comm_dim": 3},
}
CTEDD_PINNED = [
    -149.629488,
    -188.001196,
    -197.241442,
    -130.369865,
    -226.229853,
    -240.098985,
    -209.476379,
    -214.317211,
    -303.092243,
    -211.310601,
    -322.035313,
    -341.623268,
    -220.269422,
    -113.368717,
    -164.202202,
    -60.495767,
]


def _returns(recorder: FakeRecorder) -> list[float]:
    return [sum(e.rewards.values()) for e in recorder.episodes]


@pytest.mark.parametrize(("env", "setting"), list(MADDPG_PINNED))
def test_maddpg_returns_match_the_pinned_ones(env: str, setting: str) -> None:
    spec = get_spec(env)
    ctx = EnvContext(spec, spec.resolve_options({}), seed=3)
    small = {"batch_size": 32, "learning_starts": 64, "learn_every": 10, "hidden_size": 16}
    # a 150-slot buffer wraps: both write paths of the replay are used
    config = MADDPGConfig(buffer_size=150, **small, **SETTINGS[setting])
    algo = MADDPG(ctx, config, seed=3)
    recorder = FakeRecorder()
    algo.learn(400, recorder)
    assert _returns(recorder) == pytest.approx(MADDPG_PINNED[(env, setting)], abs=1e-4)


def test_ctedd_returns_match_the_pinned_ones() -> None:
    spec = get_spec("cn-v1")
    ctx = EnvContext(spec, spec.resolve_options({}), seed=5)
    algo = CTEDD(ctx, CTEDDConfig(**TINY["ctedd"]), seed=5)
    recorder = FakeRecorder()
    algo.learn(400, recorder)
    assert _returns(recorder) == pytest.approx(CTEDD_PINNED, abs=1e-4)
