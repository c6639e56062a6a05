"""CTEDD training throughput vs MADDPG-1 / MADDPG-3 on cn-v1 (paper 001), and where CTEDD's time goes.

    python benchmarks/ctedd_bench.py [--only train,parts] [--train-steps 20000] [--threads 1]

Sections (rates per CPU second are what to compare on a shared machine):

* ``train``: env steps/s of ``learn`` at the paper's settings (batch 1024, one learning iteration
  every 100 env steps, after the 25,600-transition warm-up), timed over ``--train-steps`` steps after
  the warm-up. CTEDD with its defaults (distillation into CTEDD-L-1/-L-3 and tests of every
  variant on 400 batched episodes, both every 10k steps), CTEDD without the variant tests, and the
  preset's baselines (MADDPG with 1-d / 3-d messages, lr 0.01, critics on the env state). The
  ratio CTEDD / MADDPG is the figure the issue asks for.
* ``parts``: median CPU ms of one CTEDD learning iteration (eq. 5 + Q + eq. 4) vs one MADDPG
  update, of one distillation phase (10k transitions, both students) and of one test round.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from timing import Clock, NullRecorder, median_ms  # benchmarks/ is on sys.path when a script runs

from marlbench.algos.base import EnvContext
from marlbench.algos.ctedd.distill import chronological_batches
from marlbench.algos.ctedd.learner import CTEDD, CTEDDConfig
from marlbench.algos.maddpg import MADDPG, MADDPGConfig
from marlbench.envs.registry import get_spec


def ctx() -> EnvContext:
    spec = get_spec("cn-v1")
    return EnvContext(spec, spec.resolve_options({}), seed=0)


def training_rate(algo: Any, steps: int) -> tuple[float, float]:
    """``(wall, cpu)`` env steps per second of ``algo.learn`` over ``steps`` more steps."""
    start = algo.steps_done
    with Clock() as clock:
        algo.learn(start + steps, NullRecorder())
    done = algo.steps_done - start
    return done / clock.wall, done / clock.cpu


def maddpg_config(comm_dim: int) -> MADDPGConfig:
    """The ctedd-learning preset's baseline: MADDPG-<comm_dim>, lr 0.01, critics on the env state."""
    return MADDPGConfig(comm_dim=comm_dim, actor_lr=0.01, critic_lr=0.01, use_state=True)


def section_train(args: argparse.Namespace) -> None:
    rates: dict[str, tuple[float, float]] = {}
    builders: dict[str, Callable[[], Any]] = {
        "CTEDD (defaults)": lambda: CTEDD(ctx(), CTEDDConfig(), seed=0),
        "CTEDD (no variant tests)": lambda: CTEDD(ctx(), CTEDDConfig(test_every=0), seed=0),
        "MADDPG-1": lambda: MADDPG(ctx(), maddpg_config(1), seed=0),
        "MADDPG-3": lambda: MADDPG(ctx(), maddpg_config(3), seed=0),
    }
    for name, build in builders.items():
        algo = build()
        warm = training_rate(algo, algo.config.learning_starts)
        rates[name] = training_rate(algo, args.train_steps)
        print(
            f"[train] {name:<24} warm-up {warm[1]:7,.0f} steps/CPU-s; learning {rates[name][1]:7,.0f} "
            f"steps/CPU-s ({rates[name][0]:7,.0f} wall), {algo.updates_done} updates"
        )
        algo.close()
    for ctedd in ("CTEDD (defaults)", "CTEDD (no variant tests)"):
        for maddpg in ("MADDPG-1", "MADDPG-3"):
            print(f"[train] ratio {ctedd} / {maddpg}: {rates[ctedd][1] / rates[maddpg][1]:.2f} (CPU rates)")


def section_parts(args: argparse.Namespace) -> None:
    algo = CTEDD(ctx(), CTEDDConfig(learning_starts=0, test_every=0), seed=0)
    algo.learn(20_000, NullRecorder())
    recent = algo.replay.recent(100)

    def learning_iteration() -> None:
        algo.exploration_update(recent)
        algo.update()

    ctedd_ms = median_ms(learning_iteration, args.repeats)
    sigma_ms = median_ms(lambda: algo.exploration_update(recent), args.repeats)
    maddpg = MADDPG(ctx(), dataclasses.replace(maddpg_config(3), learning_starts=0), seed=0)
    maddpg.learn(5_000, NullRecorder())
    maddpg_ms = median_ms(maddpg.update, args.repeats)
    print(
        f"[parts] one learning iteration, batch 1024: CTEDD {ctedd_ms:.1f} ms "
        f"(of which eq. 5 {sigma_ms:.1f} ms), MADDPG-3 {maddpg_ms:.1f} ms (3 critics and actors, batched)"
    )
    phase = algo.replay.recent(10_000)

    def distillation_phase() -> None:
        for batch in chronological_batches(phase, algo.config.distill_batch_size):
            algo.distill_batch(batch)

    distill_ms = median_ms(distillation_phase, max(3, args.repeats // 10))
    test_ms = median_ms(lambda: algo.test_variants(400), max(3, args.repeats // 10))
    print(
        f"[parts] per 10k env steps: one distillation phase (10k transitions, 2 students, 5 repeats) "
        f"{distill_ms:.0f} ms; one test round (3 variants x 400 episodes) {test_ms:.0f} ms"
    )


SECTIONS = {"train": section_train, "parts": section_parts}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default="train,parts", help="comma-separated sections")
    parser.add_argument("--train-steps", type=int, default=20_000, help="timed env steps after warm-up")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: see the algorithms' notes)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    np.random.seed(0)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {os.cpu_count()} CPUs visible")
    for name in args.only.split(","):
        SECTIONS[name.strip()](args)


if __name__ == "__main__":
    main()
