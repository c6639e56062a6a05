"""Cost of the image branch (marlbench.nets.image) for SMARTS with ``bev=true`` (paper 000).

Measures, one process, CPU-time medians, rows as ratios measured in the same run:

1. one critic forward+backward of 4 agents' critics (each input holds the 4 agents' 3 x 64 x 64
   image stacks), with the convolutions as one grouped convolution vs member by member (the
   path the module takes): the ratio justifies the choice;
2. one MADDPG critic forward+backward at batch 64 and 1024 with and without the image (vector
   observation only), and the projected update time of a 500k-step paper-000 run (one update per
   100 steps);
3. with ``--smarts``: smarts-intersection env steps/s with ``bev=true`` vs ``bev=false``
   (random actions, interleaved rounds), i.e. what the rasterisation costs.

Usage: ``python benchmarks/image_bench.py [--repeats 3] [--smarts] [--smarts-steps 200]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from timing import median_ms

from marlbench.nets import BatchedImageMLP, ImageLayout, make_member_mlp

N, VECTOR, STACK, PIXELS, ACT = 4, 123, 3, 64, 4
OBS = VECTOR + STACK * PIXELS * PIXELS


def grouped_forward(net: BatchedImageMLP, x: torch.Tensor) -> torch.Tensor:
    """The encoder as one grouped convolution over the members (the alternative not taken)."""
    enc = net.encoder
    m, b = enc.n_members, x.shape[1]
    k, (c, h, w), p = len(enc.layout.starts), enc.layout.shape, enc.layout.pixels
    images = torch.stack([x[..., s : s + p] for s in enc.layout.starts], dim=2)
    z = images.reshape(m, b * k, c, h, w).transpose(0, 1).reshape(b * k, m * c, h, w)
    for weight, bias, stride in zip(enc.conv_weight, enc.conv_bias, enc.strides, strict=True):
        z = torch.relu(F.conv2d(z, weight.flatten(0, 1), bias.flatten(), stride=stride, groups=m))
    z = z.reshape(b * k, m, -1).transpose(0, 1)
    feats = torch.relu(enc.project(z)).reshape(m, b, k * enc.features)
    return net.mlp(torch.cat([x.index_select(-1, enc.keep), feats], dim=-1))


def critic_rows(repeats: int) -> None:
    layout = ImageLayout((STACK, PIXELS, PIXELS), (VECTOR,)).repeated(OBS, N)
    image_critic = BatchedImageMLP(N, N * OBS + N * ACT, layout, (64, 64), 1)
    vector_critic = make_member_mlp(N, N * VECTOR + N * ACT, (64, 64), 1)

    def step(net: torch.nn.Module, x: torch.Tensor, forward=None) -> None:
        net.zero_grad()
        (forward(net, x) if forward else net(x)).sum().backward()

    x = torch.rand(N, 256, N * OBS + N * ACT)
    member = median_ms(lambda: step(image_critic, x), repeats)
    grouped = median_ms(lambda: step(image_critic, x, grouped_forward), repeats)
    print(
        f"critic fwd+bwd, B=256, 4 critics x 4 images: member by member {member:,.0f} ms, "
        f"grouped {grouped:,.0f} ms -> grouped / member = {grouped / member:.2f}"
    )
    for batch in (64, 1024):
        xi = torch.rand(N, batch, N * OBS + N * ACT)
        xv = torch.rand(N, batch, N * VECTOR + N * ACT)
        with_image = median_ms(lambda: step(image_critic, xi), repeats)  # noqa: B023
        vector = median_ms(lambda: step(vector_critic, xv), repeats)  # noqa: B023
        # an update: critic fwd+bwd, target critic fwd, actor pass through the critic: ~2.5 critic passes
        hours = 2.5 * with_image / 1e3 * 500_000 / 100 / 3600
        print(
            f"critic fwd+bwd, B={batch}: image {with_image:,.0f} ms, vector {vector:,.1f} ms "
            f"-> image / vector = {with_image / vector:,.0f}; ~{hours:.1f} h of updates per 500k-step run"
        )


def smarts_rows(steps: int) -> None:
    from marlbench.envs.registry import get_spec

    spec = get_spec("smarts-intersection")
    envs = {bev: spec.make(seed=0, **spec.resolve_options({"bev": bev})) for bev in (False, True)}
    rng = np.random.default_rng(0)
    cpu = dict.fromkeys(envs, 0.0)
    done = dict.fromkeys(envs, 0)
    try:
        for _ in range(3):  # interleaved rounds
            for bev, env in envs.items():
                env.reset(seed=int(rng.integers(1 << 30)))
                start = time.process_time()
                for _ in range(steps):
                    if not env.agents:
                        env.reset(seed=int(rng.integers(1 << 30)))
                    env.step({a: int(rng.integers(4)) for a in env.agents})
                cpu[bev] += time.process_time() - start
                done[bev] += steps
    finally:
        for env in envs.values():
            env.close()
    rates = {bev: done[bev] / cpu[bev] for bev in envs}
    ratio = rates[True] / rates[False]
    print(
        "smarts-intersection env steps per CPU-s (this process; SUMO runs apart): "
        f"bev=false {rates[False]:,.0f}, bev=true {rates[True]:,.0f} -> true / false = {ratio:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smarts", action="store_true")
    parser.add_argument("--smarts-steps", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    critic_rows(args.repeats)
    if args.smarts:
        smarts_rows(args.smarts_steps)


if __name__ == "__main__":
    main()
