"""Atari throughput (paper 002): raw env steps/s with preprocessing vs SB3 training steps/s, and the
projected wall time of ``presets/atari-actor-critic.toml``.

* Env: the training-form chain of :mod:`marlbench.envs.atari` (no-op starts, frame skip 4, 84x84
  gray, 4-frame stack, episodic life, clipped rewards), one env, pre-drawn random actions,
  resetting as lives and games end. One step = one agent step = 4 emulator frames.
* Training: each distinct configuration of the preset (its Pong variants), built as the runner
  builds it (RL Zoo Atari defaults under the preset's hyperparameters), trained for
  ``--train-steps`` env steps with no evaluation and no ledger; the clock covers ``learn`` only.
  DQN and QR-DQN are measured with ``learning_starts`` lowered so that the window trains (their
  first 100k / 50k steps only collect and run near the env rate: the projection ignores this, so
  it is slightly pessimistic for them).
* Ratio: training rate / raw env rate. Projection: preset steps (variants x seeds) / training rate
  (CPU-time rate, i.e. one free core per run), runs one after another; ``--jobs N`` divides it by
  at most N on N free cores. Breakout variants are projected at the Pong rate of the same model.

Rates are given per second of wall time and of this process's CPU time (steadier on a shared
machine). torch uses ``--threads`` threads (the runner's default is 1).

    python benchmarks/atari_bench.py --seconds 5 --train-steps 4096
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
from timing import NullRecorder  # benchmarks/ is on sys.path when a script runs

POOL = 4096


def env_rate(env_name: str, seconds: float) -> tuple[float, float]:
    """Raw preprocessed env steps per second (wall, CPU) with random actions."""
    from marlbench.envs.atari import make_training_env

    env = make_training_env(env_name)
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(env.action_space.n, size=POOL)
    for i in range(200):  # warm-up
        _, _, terminated, truncated, _ = env.step(int(actions[i]))
        if terminated or truncated:
            env.reset()
    done = 0
    wall, cpu = time.perf_counter(), time.process_time()
    while time.perf_counter() - wall < seconds:
        for _ in range(100):
            _, _, terminated, truncated, _ = env.step(int(actions[done % POOL]))
            done += 1
            if terminated or truncated:
                env.reset()
    result = done / (time.perf_counter() - wall), done / (time.process_time() - cpu)
    env.close()
    return result


def train_rate(algo: str, env_name: str, hyperparams: dict[str, Any], steps: int) -> tuple[float, float]:
    """SB3 training env steps per second (wall, CPU) of one configuration."""
    from marlbench.algos import build, get_algo
    from marlbench.algos.base import EnvContext, resolve_config
    from marlbench.algos.sb3.config import env_defaults
    from marlbench.envs import get_spec

    spec = get_spec(env_name)
    algo_spec = get_algo(algo)
    overrides = {**env_defaults(algo, spec), **hyperparams}
    if "learning_starts" in overrides:
        overrides["learning_starts"] = 256
    config = resolve_config(algo_spec.config_cls(), overrides, algo)
    learner = build(algo_spec, EnvContext(spec, spec.resolve_options(), 0), config, 0)
    wall, cpu = time.perf_counter(), time.process_time()
    learner.learn(steps, NullRecorder())
    result = (
        learner.steps_done / (time.perf_counter() - wall),
        learner.steps_done / (time.process_time() - cpu),
    )
    learner.close()
    return result


def hours(seconds: float) -> str:
    return f"{seconds / 3600:,.1f} h" if seconds < 72 * 3600 else f"{seconds / 86400:,.1f} days"


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="timing window of the env measurement")
    parser.add_argument("--train-steps", type=int, default=4096, help="env steps per training measurement")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--scale", type=float, default=0.05, help="a second projection at this preset scale")
    parser.add_argument("--only", nargs="*", default=None, help="measure only these preset variants")
    parser.add_argument("--json", default="", help="also write the figures to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from marlbench.presets import load_preset

    figures: dict[str, Any] = {"threads": args.threads, "env": {}, "train": {}}
    print(f"{'raw env (preprocessed)':34s}{'steps/s wall':>14s}{'steps/s CPU':>14s}")
    for env_name in ("atari-pong", "atari-breakout"):
        wall, cpu = env_rate(env_name, args.seconds)
        figures["env"][env_name] = {"wall": wall, "cpu": cpu}
        print(f"{env_name:34s}{wall:14,.0f}{cpu:14,.0f}")
    reference = figures["env"]["atari-pong"]

    preset = load_preset("atari-actor-critic")
    rates: dict[str, tuple[float, float]] = {}
    print(f"\n{'training on atari-pong':34s}{'steps/s wall':>14s}{'steps/s CPU':>14s}{'ratio (CPU)':>13s}")
    for variant in preset.variants:
        if variant.env != "atari-pong" or (args.only and variant.name not in args.only):
            continue
        key = variant.name.removesuffix("-pong")
        wall, cpu = train_rate(variant.algo, variant.env, dict(variant.hyperparams), args.train_steps)
        rates[key] = (wall, cpu)
        figures["train"][key] = {"wall": wall, "cpu": cpu, "ratio_cpu": cpu / reference["cpu"]}
        print(f"{key:34s}{wall:14,.0f}{cpu:14,.0f}{cpu / reference['cpu']:12.3f}x")

    total = {1.0: 0.0, args.scale: 0.0}
    for scale in total:
        for spec in preset.specs(scale=scale):
            key = spec.variant.removesuffix("-pong").removesuffix("-breakout")
            if key in rates:
                total[scale] += spec.steps / rates[key][1]  # CPU rate: one free core per run
    measured = sorted(rates)
    print(
        f"\npreset atari-actor-critic ({len(preset.seeds)} seeds, variants measured: {', '.join(measured)})"
    )
    for scale, seconds in total.items():
        steps = preset.total_steps(scale=scale)
        print(f"  scale {scale:g}: {steps:,} env steps, one run at a time on one free core: {hours(seconds)}")
    figures["projection_s"] = {str(k): v for k, v in total.items()}
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(figures, handle, indent=2)


if __name__ == "__main__":
    main()
