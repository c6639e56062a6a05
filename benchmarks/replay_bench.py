"""Replay throughput: sampling 1024 from a 1e6 buffer, uniform vs rank-based vs proportional.

    python benchmarks/replay_bench.py [--capacity 1000000] [--batch 1024] [--channels 3]

Fills a buffer shaped like MADDPG's on 3-agent mpe-spread with random transitions, then times
``sample``, ``update_priorities`` and one learning-step cycle (add 100 new transitions, sample,
update priorities), which includes the rank sampler's amortised re-sorts. Times are the median of
repeated runs, in CPU time (the machine may be shared).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from timing import median_ms  # benchmarks/ is on sys.path when a script runs

from marlbench.replay import RankSampler, ReplayBuffer, make_replay

N_AGENTS, OBS_DIM, ACT_DIM = 3, 18, 5
FIELDS = {
    "obs": ((N_AGENTS, OBS_DIM), np.float32),
    "actions": ((N_AGENTS, ACT_DIM), np.float32),
    "rewards": ((N_AGENTS,), np.float32),
    "next_obs": ((N_AGENTS, OBS_DIM), np.float32),
    "terminated": ((N_AGENTS,), np.float32),
    "alive": ((N_AGENTS,), np.float32),
}


def random_transitions(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {name: rng.random((n, *shape), dtype=np.float32) for name, (shape, _) in FIELDS.items()}


def fill(buf: ReplayBuffer, rng: np.random.Generator, chunk: int = 50_000) -> None:
    block = random_transitions(chunk, rng)
    while len(buf) < buf.capacity:
        buf.add(block)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--channels", type=int, default=3, help="priority channels (MADDPG: one per agent)")
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"capacity {args.capacity:,}, batch {args.batch}, fields as MADDPG on {N_AGENTS}-agent spread")
    print(
        f"{'kind':<13}{'channels':>9}{'sample ms':>11}{'update ms':>11}{'cycle ms':>10}{'full sort ms':>14}"
    )
    results: dict[tuple[str, int], float] = {}
    for channels in (None, args.channels):
        k = channels or 1
        for kind in ("uniform", "rank", "proportional"):
            buf = make_replay(kind, args.capacity, FIELDS, channels=channels)
            fill(buf, rng)
            shape = (k, args.batch) if channels else (args.batch,)
            td = rng.random(shape) * 2
            _, idx, _ = buf.sample(args.batch, rng)
            buf.update_priorities(idx, td)
            sample_ms = median_ms(lambda buf=buf: buf.sample(args.batch, rng), args.repeats)
            update_ms = median_ms(
                lambda buf=buf, idx=idx, td=td: buf.update_priorities(idx, td), args.repeats
            )
            new = random_transitions(100, rng)

            def cycle(buf: ReplayBuffer = buf, new: dict[str, np.ndarray] = new, td: np.ndarray = td) -> None:
                buf.add(new)
                _, idx, _ = buf.sample(args.batch, rng)
                buf.update_priorities(idx, td)

            # enough cycles to include the rank sampler's periodic re-sorts in the median's neighbourhood
            cycles = 200
            start = time.process_time()
            for _ in range(cycles):
                cycle()
            cycle_ms = (time.process_time() - start) / cycles * 1e3
            sort_ms = float("nan")
            if isinstance(buf.sampler, RankSampler):
                sampler = buf.sampler
                sort_ms = median_ms(lambda s=sampler: s.resort(0, args.capacity), 5)
            results[(kind, k)] = cycle_ms
            print(
                f"{kind:<13}{k:>9}{sample_ms:>11.3f}{update_ms:>11.3f}{cycle_ms:>10.3f}"
                + (f"{sort_ms:>14.1f}" if sort_ms == sort_ms else f"{'-':>14}")
            )
            del buf
    for k in sorted({k for _, k in results}):
        base = results[("uniform", k)]
        ratios = ", ".join(f"{kind} {results[(kind, k)] / base:.1f}x" for kind in ("rank", "proportional"))
        print(f"cycle cost vs uniform ({k} channel{'s' if k > 1 else ''}): {ratios}")


if __name__ == "__main__":
    main()
