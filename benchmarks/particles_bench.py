"""Throughput of the particle environments (paper 001, section 5.1) against MPE simple_spread.

Counts environment steps per second (one joint step of all agents in one copy; an ArrayEnv step of
``E`` copies counts ``E``), with random actions drawn beforehand so only the environment is timed.
Faces measured: the PettingZoo ParallelEnv (dict API, one copy), the native ArrayEnv with
``E = 1, 16, 256``, and mpe2's ``simple_spread_v3`` parallel env (3 agents, continuous actions) for
reference. Episodes reset as they end (automatically in the ArrayEnv, by ``reset()`` otherwise).
Ratios are taken on CPU time, which a machine shared with other jobs disturbs less than wall time.

    python benchmarks/particles_bench.py --seconds 2 --tasks cn-v1 predator-prey
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from marlbench.envs.particles import make_particle_array, make_particle_env

TASKS = ("cn-v1", "cn-v2", "push-forward", "predator-prey")
POOL = 512
"""Pre-drawn random actions, cycled."""


def timed(step: Callable[[int], int], seconds: float) -> tuple[float, float]:
    """Call ``step(i)`` (which returns env steps done) for about ``seconds`` of CPU time.

    Returns env steps per second of wall time and per second of this process's CPU time; on a
    shared machine the CPU figure is the steadier one (the code is single-threaded).
    """
    for i in range(50):  # warm-up
        step(i)
    done, i = 0, 0
    wall, cpu = time.perf_counter(), time.process_time()
    while True:
        for _ in range(100):
            done += step(i)
            i += 1
        cpu_elapsed = time.process_time() - cpu
        if cpu_elapsed >= seconds:
            return done / (time.perf_counter() - wall), done / cpu_elapsed


def parallel_face(task: str, seconds: float) -> tuple[float, float]:
    env = make_particle_env(task, seed=0)
    env.reset()
    rng = np.random.default_rng(0)
    pool = [{a: rng.uniform(-1, 1, 2) for a in env.possible_agents} for _ in range(POOL)]

    def step(i: int) -> int:
        env.step(pool[i % POOL])
        if not env.agents:
            env.reset()
        return 1

    return timed(step, seconds)


def array_face(task: str, num_envs: int, seconds: float) -> tuple[float, float]:
    env = make_particle_array(task, num_envs=num_envs, seed=0)
    env.reset()
    pool = np.random.default_rng(0).uniform(-1, 1, (POOL, num_envs, 3, 2))

    def step(i: int) -> int:
        env.step(pool[i % POOL])
        return num_envs

    return timed(step, seconds)


def mpe_spread(seconds: float) -> tuple[float, float]:
    from mpe2 import simple_spread_v3

    env = simple_spread_v3.parallel_env(N=3, max_cycles=25, continuous_actions=True)
    env.reset(seed=0)
    for agent in env.possible_agents:
        env.action_space(agent).seed(0)
    pool = [{a: env.action_space(a).sample() for a in env.possible_agents} for _ in range(POOL)]

    def step(i: int) -> int:
        env.step(pool[i % POOL])
        if not env.agents:
            env.reset()
        return 1

    return timed(step, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="timing window per measurement")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 16, 256], help="ArrayEnv copies")
    args = parser.parse_args()

    ref_wall, ref_cpu = mpe_spread(args.seconds)
    print(f"{'':29s}{'steps/s (wall)':>16s}{'steps/s (CPU)':>16s}{'ratio (CPU)':>14s}")
    print(f"{'mpe2 simple_spread_v3':29s}{ref_wall:16,.0f}{ref_cpu:16,.0f}{1.0:13.1f}x")
    for task in args.tasks:
        rows = [("ParallelEnv", parallel_face(task, args.seconds))]
        rows += [(f"ArrayEnv E={e}", array_face(task, e, args.seconds)) for e in args.batch]
        for name, (wall, cpu) in rows:
            print(f"{task + ' ' + name:29s}{wall:16,.0f}{cpu:16,.0f}{cpu / ref_cpu:13.1f}x")


if __name__ == "__main__":
    main()
