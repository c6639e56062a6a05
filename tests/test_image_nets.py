"""The image branch (marlbench.nets.image): against a plain per-member reference, which columns it
encodes, MADDPG and SB3 wired to it, float16 replay storage, the replay memory guard, and MADDPG
learning a game whose only information is in the image."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from fakes import FakeRecorder
from gymnasium import spaces
from pettingzoo.utils.env import ParallelEnv
from rollouts import mean_return

from marlbench.algos.base import EnvContext
from marlbench.algos.maddpg import MADDPG, MADDPGConfig
from marlbench.envs.registry import EnvSpec
from marlbench.errors import ConfigError
from marlbench.nets import BatchedImageMLP, ImageLayout, make_member_net, numpy_forward
from marlbench.nets.image import CONV_STRIDES
from marlbench.replay import check_replay_memory

SHAPE = (2, 20, 20)
PIXELS = 2 * 20 * 20


def _reference(net: BatchedImageMLP, member: int, x: torch.Tensor) -> torch.Tensor:
    """Member ``member`` of ``net`` on its rows ``x [B, in]``, computed the slow, obvious way: each
    image cut out, convolved with that member's filters, projected, then the MLP on the input's
    other columns followed by every image's features."""
    enc = net.encoder
    feats, covered = [], set()
    for start in enc.layout.starts:
        z = x[:, start : start + PIXELS].reshape(-1, *SHAPE)
        covered |= set(range(start, start + PIXELS))
        for weight, bias, stride in zip(enc.conv_weight, enc.conv_bias, CONV_STRIDES, strict=True):
            z = torch.relu(F.conv2d(z, weight[member], bias[member], stride=stride))
        project = enc.project
        feats.append(torch.relu(z.flatten(1) @ project.weight[member] + project.bias[member, 0]))
    rest = x[:, [c for c in range(x.shape[1]) if c not in covered]]
    h = torch.cat([rest, *feats], dim=1)
    layers = list(net.mlp.layers)
    for i, layer in enumerate(layers):
        h = h @ layer.weight[member] + layer.bias[member, 0]
        if i < len(layers) - 1:
            h = torch.relu(h)
    return h


@pytest.mark.parametrize("broadcast", [False, True])
def test_matches_a_per_member_reference_with_two_images(broadcast: bool) -> None:
    layout = ImageLayout(SHAPE, (3, 3 + PIXELS + 2))  # vector 3, image, vector 2, image, vector 4
    in_dim = 3 + PIXELS + 2 + PIXELS + 4
    net = BatchedImageMLP(3, in_dim, layout, (16, 16), 5, generator=torch.Generator().manual_seed(1))
    x = torch.rand(1 if broadcast else 3, 6, in_dim)
    out = net(x)
    assert out.shape == (3, 6, 5)
    for member in range(3):
        own = x[0 if broadcast else member]
        torch.testing.assert_close(out[member], _reference(net, member, own), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(numpy_forward(net, x.numpy()), out.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_every_image_and_every_vector_column_reaches_the_output() -> None:
    """A critic's input holds each agent's observation: changing agent 1's image (or one vector
    value) changes every critic's value; the encoder keeps the vector columns verbatim."""
    layout = ImageLayout(SHAPE, (1,)).repeated(1 + PIXELS, 2)
    in_dim = 2 * (1 + PIXELS) + 3
    net = BatchedImageMLP(2, in_dim, layout, (8,), 1, generator=torch.Generator().manual_seed(0))
    x = torch.rand(2, 4, in_dim, generator=torch.Generator().manual_seed(2))
    encoded = net.encoder(x)
    kept = [0, 1 + PIXELS, in_dim - 3, in_dim - 2, in_dim - 1]
    torch.testing.assert_close(encoded[..., : len(kept)], x[..., kept])
    assert encoded.shape[-1] == len(kept) + 2 * net.encoder.features
    base = net(x)
    image_1 = slice(1 + PIXELS + 1, 2 * (1 + PIXELS))
    for columns in (image_1, slice(0, 1), slice(in_dim - 1, in_dim)):  # agent 1's image, a vector, an action
        changed = x.clone()
        changed[..., columns] = 1.0 - changed[..., columns] + 2.0
        moved = (net(changed) - base).abs().amax(dim=1)  # per member, over the batch
        assert (moved > 0).all(), columns


def test_per_member_gradient_norms_cover_the_image_branch() -> None:
    net = BatchedImageMLP(2, 1 + PIXELS, ImageLayout(SHAPE, (1,)), (8,), 1)
    net(torch.rand(2, 3, 1 + PIXELS))[1].sum().backward()  # only member 1's output
    norms = net.member_sq_grad_norms()
    assert norms[0] == 0 and norms[1] > 0
    by_hand = sum(float(p.grad[1].pow(2).sum()) for p in net.parameters())
    assert float(norms[1]) == pytest.approx(by_hand, rel=1e-5)


def test_bad_layouts_and_loop_networks_are_refused() -> None:
    with pytest.raises(ValueError, match="overlaps"):
        ImageLayout(SHAPE, (0, 10)).kept_columns(2 * PIXELS)
    with pytest.raises(ValueError, match="leaves"):
        ImageLayout(SHAPE, (5,)).kept_columns(PIXELS)
    with pytest.raises(ConfigError, match="too small"):
        BatchedImageMLP(1, 3 * 8 * 8, ImageLayout((3, 8, 8), (0,)), (8,), 1)
    with pytest.raises(ConfigError, match="batched_networks"):
        make_member_net(2, PIXELS, (8,), 1, batched=False, layout=ImageLayout(SHAPE, (0,)))


def test_replay_memory_guard_names_a_buffer_that_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    from marlbench.replay import buffer

    monkeypatch.setattr(buffer, "machine_memory", lambda: 10 * 2**30)
    fields = {"obs": ((4, 12_411), np.float16), "next_obs": ((4, 12_411), np.float16)}
    check_replay_memory(20_000, fields, "MADDPG")  # 4 GB of 10 GiB: fine
    with pytest.raises(ConfigError, match=r"1,000,000 transitions.*GiB") as err:
        check_replay_memory(1_000_000, fields, "MADDPG")
    assert "buffer_size=32000" in err.value.fix  # 0.6 x 10 GiB / 198.6 kB, in thousands


# --- an env whose only information is in the image -------------------------------------------


class ImageMatchEnv(ParallelEnv):
    """The matching game of ``match_env`` with the target drawn as a bright band in an image: each
    step an agent sees ``[0.5, image (2 x 20 x 20)]``, the band in columns ``6k .. 6k+5`` of channel
    ``k % 2`` for target ``k`` of 3, and earns 1 for naming ``k``. Random earns 5/3 per 5-step episode."""

    metadata = {"name": "image_match_v0"}
    render_mode = None

    def __init__(self, seed: int | None = None) -> None:
        self.possible_agents = ["a", "b"]
        self.rng = np.random.default_rng(seed)

    def observation_space(self, agent: str) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (1 + PIXELS,), np.float32)

    def action_space(self, agent: str) -> spaces.Discrete:
        return spaces.Discrete(3)

    def _draw(self) -> dict[str, np.ndarray]:
        self.targets = {a: int(self.rng.integers(3)) for a in self.agents}
        out = {}
        for agent, k in self.targets.items():
            image = np.zeros(SHAPE, dtype=np.float32)
            image[k % 2, :, 6 * k : 6 * k + 6] = 1.0
            out[agent] = np.concatenate([[0.5], image.reshape(-1)]).astype(np.float32)
        return out

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self.t = 0
        return self._draw(), {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]):
        self.t += 1
        rewards = {a: float(int(actions[a]) == self.targets[a]) for a in self.agents}
        done = self.t >= 5
        obs = self._draw()
        terms, truncs = dict.fromkeys(self.agents, done), dict.fromkeys(self.agents, False)
        infos = {a: {} for a in self.agents}
        if done:
            self.agents = []
        return obs, rewards, terms, truncs, infos


SPEC = EnvSpec(
    name="image-match",
    make=lambda seed=None, **options: ImageMatchEnv(seed),
    description="matching game read from an image",
    n_agents=2,
    episode_length=5,
    obs_kind="vector",
    action_kind="discrete",
    image_layout=lambda options: (1, SHAPE),
)


def _maddpg(**config: Any) -> MADDPG:
    base = {"batch_size": 32, "learning_starts": 64, "learn_every": 5, "buffer_size": 2000, "hidden_size": 32}
    return MADDPG(EnvContext(SPEC, {}, seed=0), MADDPGConfig(**(base | config)), seed=0)


def test_maddpg_gets_image_branches_and_stores_images_as_float16() -> None:
    algo = _maddpg()
    assert isinstance(algo.actor.body, BatchedImageMLP) and isinstance(algo.critic, BatchedImageMLP)
    assert algo.critic.encoder.layout.starts == (1, 1 + 1 + PIXELS)  # both agents' images
    assert algo.replay.data["obs"].dtype == np.float16
    algo.learn(80, FakeRecorder())
    assert algo.updates_done > 0
    stored = algo.replay.data["obs"][:80].astype(np.float32)
    assert set(np.unique(stored[..., 1:])) == {0.0, 1.0} and (stored[..., 0] == 0.5).all()
    with pytest.raises(ConfigError, match="comm_dim"):
        _maddpg(comm_dim=1)


@pytest.mark.slow
def test_maddpg_learns_from_the_image_alone() -> None:
    """1,500 env steps, learning from step 64, one update per 5 steps (~290 updates, lr 1e-3 for
    actors and critics): the learned policy must beat random (5/3 per episode) by 2.0 (it scored
    5.0 here; at lr 1e-2 dead ReLUs left two targets confused, 3.3); the answer is in the pixels only."""
    algo = _maddpg(actor_lr=1e-3, critic_lr=1e-3)
    algo.learn(1_500, FakeRecorder())
    ctx = EnvContext(SPEC, {}, seed=0)
    rng = np.random.default_rng(0)
    random_return = mean_return(lambda obs: {a: int(rng.integers(3)) for a in obs}, ctx)
    learned_return = mean_return(algo.act, ctx)
    assert learned_return > random_return + 2.0, (learned_return, random_return)


def test_sb3_policies_get_the_image_extractor() -> None:
    from marlbench.algos.base import resolve_config
    from marlbench.algos.sb3.config import sb3_config_cls
    from marlbench.algos.sb3.image_features import VectorImageExtractor
    from marlbench.algos.sb3.learner import model_setup

    config = resolve_config(sb3_config_cls("ppo"), {}, "ppo")
    space = spaces.Box(0.0, 1.0, (1 + PIXELS,), np.float32)
    setup = model_setup("ppo", config, space, spaces.Discrete(3), ImageLayout(SHAPE, (1,)))
    assert setup.policy_kwargs["features_extractor_class"] is VectorImageExtractor
    extractor = VectorImageExtractor(space, **setup.policy_kwargs["features_extractor_kwargs"])
    obs = torch.rand(7, 1 + PIXELS)
    features = extractor(obs)
    assert features.shape == (7, extractor.features_dim) == (7, 1 + 64)
    torch.testing.assert_close(features[:, 0], obs[:, 0])
    plain = model_setup("ppo", config, space, spaces.Discrete(3))
    assert "features_extractor_class" not in plain.policy_kwargs
