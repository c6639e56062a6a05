"""Shared machinery of the multi-agent DQN family of paper 004 (LBS, IDQN, IDQN-shared-buffer, PS-DQN).

* :class:`DQNConfig`: the DQN base agent of Table 1 (CNN [32, 64, 64], kernel 2, stride 1, learning
  rate 0.00016, mini-batch 32, buffer 120,000 per agent, epsilon 0.1 -> 0.001, target update every
  1,000 steps) plus the choices the paper leaves open, each documented on its field.
* :class:`BatchedCNN`: ``n`` homogeneous Q-networks evaluated as one network (grouped convolutions
  with ``groups=n`` and a batched linear head), so all agents share one forward and one backward.
* :class:`AgentReplay`: per-agent replay arrays ``[n_agents, capacity, ...]``, preallocated, with an
  optional batched sum-tree (one tree per agent buffer) for TD-error sampling.
* :class:`MultiAgentDQN`: the training loop on a vectorized :class:`~marlbench.envs.array.ArrayEnv`;
  subclasses only say how each learner's mini-batch is chosen (:meth:`MultiAgentDQN._select`).

The loss is the DQN loss of paper 004, section 2: for each learner ``i`` and sampled transition
``k``, ``y_k = r_k + gamma * (1 - terminal_k) * max_a' Q_target_i(s'_k, a')`` and the step minimises
``(1/B) sum_k w_k * l(Q_i(s_k, a_k), y_k)``, with ``w_k = 1/(K p_k)`` (section 3; ``w_k = 1`` under
uniform sampling). ``l`` is the L2 loss ``0.5 * delta^2`` by default, whose derivative with respect
to ``Q`` is the TD error ``delta`` as section 3 assumes.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from marlbench.algos.base import EnvContext, Recorder, hp
from marlbench.errors import ConfigError, Diverged

CHECKPOINT_FILE = "dqn.pt"
STATS_EVERY = 1_000
"""Env steps between two ``Recorder.log_stats`` calls."""


@dataclass
class DQNConfig:
    """The DQN base agent of paper 004 (Table 1), shared by LBS, IDQN, IDQN-shared-buffer and PS-DQN."""

    learning_rate: float = hp(0.00016, "Adam step size (Table 1)", low=0.0, low_open=True)
    batch_size: int = hp(32, "mini-batch size B of each SGD step (Table 1)", low=1)
    buffer_size: int = hp(
        120_000,
        "replay capacity per agent (Table 1); a shared buffer is the union of the agents' buffers",
        low=1,
    )
    exploration_initial_eps: float = hp(0.1, "epsilon at the start of training (Table 1)", low=0.0, high=1.0)
    exploration_final_eps: float = hp(0.001, "epsilon after the decay (Table 1)", low=0.0, high=1.0)
    exploration_fraction: float = hp(
        0.1,
        "fraction of the run over which epsilon decays linearly (not in the paper; SB3's default: "
        "80k of 800k steps)",
        low=0.0,
        high=1.0,
    )
    target_update_interval: int = hp(
        1_000, "env steps between copies of the online networks into the targets (Table 1)", low=1
    )
    cnn_channels: str = hp("32,64,64", "output channels of the conv layers, comma separated (Table 1)")
    kernel_size: int = hp(2, "square kernel of every conv layer (Table 1)", low=1)
    stride: int = hp(1, "stride of every conv layer (Table 1)", low=1)
    head_hidden: int = hp(
        0, "width of a ReLU dense layer between the convs and the Q head; 0: none (Table 1 lists none)", low=0
    )
    gamma: float = hp(0.99, "discount factor (not in Table 1; the usual DQN value)", low=0.0, high=1.0)
    learning_starts: int = hp(1_000, "env steps collected before the first SGD step (not in Table 1)", low=0)
    train_freq: int = hp(
        4, "env steps per learning step, as in DQN (Mnih et al. 2015; not in Table 1)", low=1
    )
    gradient_steps: int = hp(1, "SGD steps of every learner at each learning step", low=1)
    loss: str = hp(
        "mse",
        "per-sample loss: mse (0.5 delta^2, the L2 loss of section 3) or huber",
        choices=("mse", "huber"),
    )
    optimizer: str = hp("adam", "optimizer of every network (not in the paper)", choices=("adam", "sgd"))
    max_grad_norm: float = hp(10.0, "per-network gradient norm clip; 0 disables (SB3's DQN default)", low=0.0)
    num_envs: int = hp(4, "environment copies stepped together (each counts as an env step)", low=1)
    obs_storage: str = hp(
        "uint8",
        "replay dtype of observations: uint8 (exact for pursuit's integer counts) or float32",
        choices=("uint8", "float32"),
    )
    device: str = hp(
        "auto", "torch device: auto (cuda when available), cpu or cuda", choices=("auto", "cpu", "cuda")
    )

    def channels(self) -> tuple[int, ...]:
        """``cnn_channels`` parsed to integers."""
        try:
            values = tuple(int(part) for part in self.cnn_channels.split(",") if part.strip())
        except ValueError:
            values = ()
        if not values or any(v < 1 for v in values):
            raise ConfigError(
                f"cnn_channels={self.cnn_channels!r} is not a list of positive integers",
                "write it like --set cnn_channels=32,64,64",
            )
        return values

    def validate(self) -> None:
        self.channels()
        if self.exploration_final_eps > self.exploration_initial_eps:
            raise ConfigError(
                "exploration_final_eps is larger than exploration_initial_eps",
                "epsilon decays: give a final value <= the initial one",
            )


def linear_epsilon(step: int, total: int, config: DQNConfig) -> float:
    """Epsilon after ``step`` of ``total`` env steps: linear from initial to final over a fraction."""
    span = config.exploration_fraction * total
    if span <= 0 or step >= span:
        return config.exploration_final_eps
    frac = step / span
    return config.exploration_initial_eps + frac * (
        config.exploration_final_eps - config.exploration_initial_eps
    )


# --------------------------------------------------------------------------------------------------
# Batched CNN
# --------------------------------------------------------------------------------------------------


class BatchedCNN(nn.Module):
    """``n_nets`` independent CNN Q-networks computed together.

    Layer ``l`` of every network is stored stacked (``[n, out, in, k, k]``); the convolutions run
    as one grouped convolution (``groups=n_nets``) and the dense layers as one batched matmul, so a
    forward/backward over all networks is a single pass (:meth:`forward_shared`, for one large batch
    seen by every network, splits the later convolutions per network: faster there on CPU). Each
    network is, parameter for parameter, ``Conv2d(k, stride) -> ReLU`` per entry of ``channels``,
    ``Flatten``, optionally ``Linear -> ReLU`` of width ``head_hidden``, then ``Linear`` to
    ``n_actions`` (see :meth:`single`). Initialisation follows ``torch.nn``'s default (uniform in
    ``+-1/sqrt(fan_in)``) per network.
    """

    def __init__(
        self,
        n_nets: int,
        obs_shape: tuple[int, int, int],
        n_actions: int,
        channels: tuple[int, ...] = (32, 64, 64),
        kernel_size: int = 2,
        stride: int = 1,
        head_hidden: int = 0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.n_nets = n_nets
        self.obs_shape = tuple(obs_shape)
        self.n_actions = n_actions
        self.channels = tuple(channels)
        self.kernel_size = kernel_size
        self.stride = stride
        self.head_hidden = head_hidden
        c, h, w = obs_shape
        self.conv_weight = nn.ParameterList()
        self.conv_bias = nn.ParameterList()
        for out in self.channels:
            fan_in = c * kernel_size * kernel_size
            self.conv_weight.append(_uniform((n_nets, out, c, kernel_size, kernel_size), fan_in, generator))
            self.conv_bias.append(_uniform((n_nets, out), fan_in, generator))
            h, w, c = (h - kernel_size) // stride + 1, (w - kernel_size) // stride + 1, out
            if h < 1 or w < 1:
                raise ConfigError(
                    f"observations of shape {obs_shape} are too small for {len(self.channels)} conv layers "
                    f"of kernel {kernel_size} and stride {stride}",
                    "use fewer cnn_channels or a smaller kernel_size",
                )
        self.feature_shape = (c, h, w)
        sizes = [c * h * w] + ([head_hidden] if head_hidden else []) + [n_actions]
        self.head_weight = nn.ParameterList()
        self.head_bias = nn.ParameterList()
        for fan_in, out in zip(sizes[:-1], sizes[1:], strict=True):
            self.head_weight.append(_uniform((n_nets, out, fan_in), fan_in, generator))
            self.head_bias.append(_uniform((n_nets, out), fan_in, generator))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Q-values ``[n, B, A]``: network ``i`` on its own inputs ``x[i]`` (``x``: ``[n, B, C, H, W]``)."""
        n, b = x.shape[:2]
        if n != self.n_nets:
            raise ValueError(f"expected inputs for {self.n_nets} networks, got {n}")
        return self._run(x.transpose(0, 1).reshape(b, n * x.shape[2], *x.shape[3:]))

    def forward_shared(self, x: torch.Tensor) -> torch.Tensor:
        """Q-values ``[n, B, A]`` of every network on the same inputs ``x`` (``[B, C, H, W]``).

        Made for large batches (LBS scores its whole large batch with every network). Every network
        sees the same image, so the first convolution is one dense convolution with all networks'
        filters side by side (``x`` is not copied per network); the later convolutions then run
        network by network on their own channels. On CPU, dense convolutions over a large batch
        beat one grouped convolution: about 1.5x faster than the all-grouped path for Table 1's
        CNN on K = 256 (``benchmarks/lbs_bench.py``). The result equals :meth:`forward` on ``x``
        repeated for each network.
        """
        n = self.n_nets
        weights, biases = list(self.conv_weight), list(self.conv_bias)
        h = F.conv2d(x, weights[0].flatten(0, 1), biases[0].flatten(), stride=self.stride).relu_()
        if len(weights) > 1:
            parts = []
            for i, part in enumerate(h.chunk(n, dim=1)):  # network i's channels of the first layer
                for weight, bias in zip(weights[1:], biases[1:], strict=True):
                    part = F.conv2d(part, weight[i], bias[i], stride=self.stride).relu_()
                parts.append(part)
            h = torch.cat(parts, dim=1)
        return self._head(h)

    def _run(self, h: torch.Tensor) -> torch.Tensor:
        n = self.n_nets
        for weight, bias in zip(self.conv_weight, self.conv_bias, strict=True):
            h = F.conv2d(h, weight.flatten(0, 1), bias.flatten(), stride=self.stride, groups=n)
            h = torch.relu(h)
        return self._head(h)

    def _head(self, h: torch.Tensor) -> torch.Tensor:
        """Dense layers on conv features ``[B, n * c, h, w]`` (network-major channels) -> ``[n, B, A]``."""
        n = self.n_nets
        # [B, n * c, h, w] -> [B, n, c * h * w]: the same (c, h, w) order as nn.Flatten per network.
        h = h.reshape(h.shape[0], n, -1)
        last = len(self.head_weight) - 1
        for j, (weight, bias) in enumerate(zip(self.head_weight, self.head_bias, strict=True)):
            h = torch.einsum("bnf,nof->bno", h, weight) + bias
            if j < last:
                h = torch.relu(h)
        return h.transpose(0, 1)

    def per_net_grad_clip(self, max_norm: float) -> torch.Tensor:
        """Clip each network's gradient to ``max_norm`` separately; returns the norms before clipping."""
        params = [p for p in self.parameters() if p.grad is not None]
        sq = torch.zeros(self.n_nets, device=params[0].device)
        for p in params:
            sq += p.grad.pow(2).reshape(self.n_nets, -1).sum(1)
        norms = sq.sqrt()
        scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
        for p in params:
            p.grad.mul_(scale.view(-1, *([1] * (p.dim() - 1))))
        return norms

    def layer_parameters(self) -> list[nn.Parameter]:
        """Stacked parameters in the order of ``single(i).parameters()`` (weight, bias per layer)."""
        pairs = zip([*self.conv_weight, *self.head_weight], [*self.conv_bias, *self.head_bias], strict=True)
        return [p for pair in pairs for p in pair]

    def single(self, i: int) -> nn.Sequential:
        """Network ``i`` as an ordinary ``nn.Sequential`` holding a copy of its weights."""
        layers: list[nn.Module] = []
        c = self.obs_shape[0]
        with torch.no_grad():
            for weight, bias in zip(self.conv_weight, self.conv_bias, strict=True):
                conv = nn.Conv2d(c, weight.shape[1], self.kernel_size, self.stride)
                conv.weight.copy_(weight[i])
                conv.bias.copy_(bias[i])
                layers += [conv, nn.ReLU()]
                c = weight.shape[1]
            layers.append(nn.Flatten())
            for j, (weight, bias) in enumerate(zip(self.head_weight, self.head_bias, strict=True)):
                linear = nn.Linear(weight.shape[2], weight.shape[1])
                linear.weight.copy_(weight[i])
                linear.bias.copy_(bias[i])
                layers.append(linear)
                if j < len(self.head_weight) - 1:
                    layers.append(nn.ReLU())
        return nn.Sequential(*layers).to(self.conv_weight[0].device)


def _uniform(shape: tuple[int, ...], fan_in: int, generator: torch.Generator | None) -> nn.Parameter:
    bound = 1.0 / math.sqrt(fan_in)
    return nn.Parameter(torch.empty(shape).uniform_(-bound, bound, generator=generator))


# --------------------------------------------------------------------------------------------------
# Per-agent replay
# --------------------------------------------------------------------------------------------------


class Transitions(NamedTuple):
    """A gathered batch; every array has the leading shape of the indices used to gather it."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray


class BatchedSumTree:
    """``n_trees`` sum-trees over ``capacity`` leaves each, updated and sampled for all trees at once."""

    def __init__(self, n_trees: int, capacity: int) -> None:
        self.depth = max(1, math.ceil(math.log2(capacity)))
        self.leaves = 1 << self.depth
        self.tree = np.zeros((n_trees, 2 * self.leaves), dtype=np.float64)
        self.max_priority = np.ones(n_trees, dtype=np.float64)

    def update(self, tree_idx: np.ndarray, leaf_idx: np.ndarray, values: np.ndarray) -> None:
        node = np.asarray(leaf_idx, dtype=np.int64) + self.leaves
        self.tree[tree_idx, node] = values
        np.maximum.at(self.max_priority, tree_idx, values)
        for _ in range(self.depth):
            node //= 2
            self.tree[tree_idx, node] = self.tree[tree_idx, 2 * node] + self.tree[tree_idx, 2 * node + 1]

    def total(self) -> np.ndarray:
        return self.tree[:, 1]

    def sample(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """``[n_trees, count]`` leaf indices, leaf ``j`` of tree ``t`` with probability ``v_tj / total_t``."""
        n = self.tree.shape[0]
        rows = np.arange(n)[:, None]
        u = rng.random((n, count)) * self.total()[:, None]
        node = np.ones((n, count), dtype=np.int64)
        for _ in range(self.depth):
            left = self.tree[rows, 2 * node]
            go_right = (u >= left) & (self.tree[rows, 2 * node + 1] > 0)
            u = np.where(go_right, u - left, np.minimum(u, left))
            node = 2 * node + go_right
        return node - self.leaves


class AgentReplay:
    """One preallocated ring buffer per agent, stored as arrays ``[n_agents, capacity, ...]``.

    Agent ``j``'s transitions are written only to row ``j``. With ``prioritized``, a sum-tree per
    agent holds a priority per stored transition (new ones get that tree's running maximum, the PER
    convention of Schaul et al. 2016) for TD-error sampling.
    """

    def __init__(
        self,
        n_agents: int,
        capacity: int,
        obs_shape: tuple[int, ...],
        obs_dtype: np.dtype | type = np.uint8,
        prioritized: bool = False,
    ) -> None:
        self.n_agents = n_agents
        self.capacity = capacity
        self.obs = np.zeros((n_agents, capacity, *obs_shape), dtype=obs_dtype)
        self.next_obs = np.zeros_like(self.obs)
        self.actions = np.zeros((n_agents, capacity), dtype=np.int64)
        self.rewards = np.zeros((n_agents, capacity), dtype=np.float32)
        self.terminated = np.zeros((n_agents, capacity), dtype=np.float32)
        self.ptr = np.zeros(n_agents, dtype=np.int64)
        self.size = np.zeros(n_agents, dtype=np.int64)
        self.tree = BatchedSumTree(n_agents, capacity) if prioritized else None

    def _store(self, values: np.ndarray) -> np.ndarray:
        if self.obs.dtype == np.uint8 and not (
            np.all(values >= 0) and np.all(values <= 255) and np.array_equal(values, np.round(values))
        ):
            raise ConfigError(
                "observations are not integers in [0, 255] and cannot be stored as uint8",
                "use --set obs_storage=float32",
            )
        return values

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        alive: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Store one vectorized step (arrays ``[E, N, ...]``); only ``alive`` agents' transitions.

        Returns the ``(agent, position)`` of every stored transition.
        """
        mask = np.ones(actions.shape, dtype=bool) if alive is None else np.asarray(alive, dtype=bool)
        agent, env = np.nonzero(mask.T)  # grouped by agent, envs in order within an agent
        if agent.size == 0:
            return agent, agent
        counts = np.bincount(agent, minlength=self.n_agents)
        first = np.cumsum(counts) - counts
        rank = np.arange(agent.size) - first[agent]
        pos = (self.ptr[agent] + rank) % self.capacity
        self.obs[agent, pos] = self._store(obs[env, agent])
        self.next_obs[agent, pos] = self._store(next_obs[env, agent])
        self.actions[agent, pos] = actions[env, agent]
        self.rewards[agent, pos] = rewards[env, agent]
        self.terminated[agent, pos] = terminated[env, agent]
        self.ptr = (self.ptr + counts) % self.capacity
        self.size = np.minimum(self.size + counts, self.capacity)
        if self.tree is not None:
            self.tree.update(agent, pos, self.tree.max_priority[agent])
        return agent, pos

    def gather(self, agent: np.ndarray, index: np.ndarray) -> Transitions:
        return Transitions(
            self.obs[agent, index],
            self.actions[agent, index],
            self.rewards[agent, index],
            self.next_obs[agent, index],
            self.terminated[agent, index],
        )

    def sample_own(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """``[n_agents, count]`` uniform positions, row ``j`` within agent ``j``'s buffer."""
        return rng.integers(0, self.size[:, None], size=(self.n_agents, count))

    def sample_union(self, rows: int, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``(agent, position)``, each ``[rows, count]``, uniform over all agents' transitions together."""
        ends = np.cumsum(self.size)
        flat = rng.integers(0, ends[-1], size=(rows, count))
        agent = np.searchsorted(ends, flat, side="right")
        return agent, flat - (ends[agent] - self.size[agent])

    def sample_prioritized(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """``[n_agents, count]`` positions, row ``j`` drawn from agent ``j``'s buffer by priority."""
        assert self.tree is not None, "the buffer was built without priorities"
        return np.minimum(self.tree.sample(count, rng), self.size[:, None] - 1)

    def update_priorities(self, agent: np.ndarray, index: np.ndarray, priorities: np.ndarray) -> None:
        assert self.tree is not None, "the buffer was built without priorities"
        self.tree.update(agent, index, priorities)


# --------------------------------------------------------------------------------------------------
# The learner
# --------------------------------------------------------------------------------------------------


class Selection(NamedTuple):
    """What each learner trains on at one SGD step: ``[L, B]`` transitions and their weights."""

    agent: np.ndarray
    """``[L, B]`` which agent's buffer each transition comes from."""
    index: np.ndarray
    """``[L, B]`` position in that buffer."""
    weights: torch.Tensor | None = None
    """``[L, B]`` importance weights ``w_k`` (``None``: all 1)."""
    targets: torch.Tensor | None = None
    """``[L, B]`` precomputed targets ``y_k`` (``None``: computed from the target networks)."""
    stats: Mapping[str, float] | None = None


class MultiAgentDQN:
    """DQN learners for homogeneous agents with image observations and discrete actions.

    ``parameter_sharing`` (class attribute): one network and one learner for all agents instead of
    one per agent. Subclasses implement :meth:`_select`. ``learn`` counts env steps over all
    ``num_envs`` copies and runs until ``steps_done >= total_steps`` (so a loaded checkpoint resumes);
    replay buffers are not checkpointed.

    Observations arrive channels last (``[H, W, C]``, PettingZoo's image convention) and are fed to
    the CNN channels first (``obs.transpose(2, 0, 1)``).
    """

    parameter_sharing: ClassVar[bool] = False
    prioritized_replay: bool = False
    """Keep a sum-tree of priorities in the replay (set by LBS with ``p1 = td``)."""

    def __init__(self, env: EnvContext, config: DQNConfig, seed: int) -> None:
        from gymnasium import spaces

        self.env_ctx = env
        self.config = config
        self.seed = int(seed)
        probe = env.make(self.seed)
        try:
            self.agents: list[str] = list(probe.possible_agents)
            obs_space = probe.observation_space(self.agents[0])
            act_space = probe.action_space(self.agents[0])
        finally:
            probe.close()
        if not isinstance(act_space, spaces.Discrete):
            raise ConfigError(
                f"{type(self).__name__} needs discrete actions; '{env.spec.name}' has {act_space}",
                "pick a discrete-action environment",
            )
        if obs_space.shape is None or len(obs_space.shape) != 3:
            raise ConfigError(
                f"{type(self).__name__} needs image observations [H, W, C]; '{env.spec.name}' gives "
                f"{obs_space.shape}",
                "pick an image environment such as pursuit",
            )
        h, w, c = obs_space.shape
        self.obs_shape = (int(c), int(h), int(w))
        self.n_agents = len(self.agents)
        self.n_actions = int(act_space.n)
        self.n_learners = 1 if self.parameter_sharing else self.n_agents
        if config.device == "auto":
            self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        else:
            if config.device == "cuda" and not torch.cuda.is_available():
                raise ConfigError("device=cuda but no CUDA device is available", "use --set device=cpu")
            self.device = torch.device(config.device)
        self.torch_gen = torch.Generator().manual_seed(self.seed)
        self.online = BatchedCNN(
            self.n_learners,
            self.obs_shape,
            self.n_actions,
            config.channels(),
            config.kernel_size,
            config.stride,
            config.head_hidden,
            generator=self.torch_gen,
        ).to(self.device)
        self.target = copy.deepcopy(self.online).requires_grad_(False)
        if config.optimizer == "adam":
            # Adam is elementwise, so one Adam over the stacked parameters equals one Adam per network.
            self.optimizer: torch.optim.Optimizer = torch.optim.Adam(
                self.online.parameters(), config.learning_rate
            )
        else:
            self.optimizer = torch.optim.SGD(self.online.parameters(), config.learning_rate)
        self.rng = np.random.default_rng(self.seed)
        self.eval_rng = np.random.default_rng(self.seed + 7_919)
        self.steps_done = 0
        self.updates = 0
        self.replay: AgentReplay | None = None
        self._train_env: Any = None
        self._obs: np.ndarray | None = None
        self._total_steps = 0
        self._update_credit = 0.0
        self._stats_sum: dict[str, float] = {}
        self._stats_count = 0

    # -- what subclasses define ------------------------------------------------------------------

    def _select(self) -> Selection:
        """The transitions (and weights) each learner trains on at this SGD step."""
        raise NotImplementedError

    # -- acting ----------------------------------------------------------------------------------

    @staticmethod
    def channels_first(obs: np.ndarray) -> np.ndarray:
        """``[..., H, W, C] -> [..., C, H, W]`` as float32."""
        return np.moveaxis(np.asarray(obs, dtype=np.float32), -1, -3)

    def _to_tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(array, dtype=torch.float32, device=self.device)

    @torch.no_grad()
    def greedy(self, obs: np.ndarray) -> np.ndarray:
        """Greedy actions ``[E, N]`` for channels-first observations ``[E, N, C, H, W]``."""
        e, n = obs.shape[:2]
        if self.parameter_sharing:
            q = self.online(self._to_tensor(obs.reshape(1, e * n, *obs.shape[2:])))
            return q.argmax(-1).reshape(e, n).cpu().numpy()
        q = self.online(self._to_tensor(obs.swapaxes(0, 1)))
        return q.argmax(-1).T.cpu().numpy()

    def _epsilon_greedy(self, obs: np.ndarray, eps: float, rng: np.random.Generator) -> np.ndarray:
        actions = self.greedy(obs)
        explore = rng.random(actions.shape) < eps
        random_actions = rng.integers(0, self.n_actions, size=actions.shape)
        return np.where(explore, random_actions, actions)

    def epsilon(self) -> float:
        if self._total_steps <= 0:
            return self.config.exploration_final_eps
        return linear_epsilon(self.steps_done, self._total_steps, self.config)

    def act(self, observations: Mapping[str, np.ndarray], deterministic: bool = True) -> dict[str, int]:
        obs = np.zeros((1, self.n_agents, *self.obs_shape), dtype=np.float32)
        for j, agent in enumerate(self.agents):
            if agent in observations:
                obs[0, j] = self.channels_first(observations[agent])
        if deterministic:
            actions = self.greedy(obs)[0]
        else:
            actions = self._epsilon_greedy(obs, self.epsilon(), self.eval_rng)[0]
        return {agent: int(actions[j]) for j, agent in enumerate(self.agents) if agent in observations}

    # -- learning --------------------------------------------------------------------------------

    def _start(self) -> None:
        cfg = self.config
        if self._train_env is None:
            self._train_env = self.env_ctx.make_array(cfg.num_envs, seed=self.seed)
            self._obs = self.channels_first(self._train_env.reset(seed=self.seed))
        if self.replay is None:
            self.replay = AgentReplay(
                self.n_agents,
                cfg.buffer_size,
                self.obs_shape,
                np.uint8 if cfg.obs_storage == "uint8" else np.float32,
                prioritized=self.prioritized_replay,
            )

    def learn(self, total_steps: int, recorder: Recorder) -> None:
        """Collect with epsilon-greedy and learn until ``steps_done >= total_steps`` env steps."""
        cfg = self.config
        self._start()
        env, replay = self._train_env, self.replay
        assert replay is not None
        self._total_steps = int(total_steps)
        while self.steps_done < total_steps:
            obs = self._obs
            assert obs is not None
            actions = self._epsilon_greedy(obs, self.epsilon(), self.rng)
            step = env.step(actions)
            next_obs = self.channels_first(step.obs)
            stored_next = next_obs
            if step.done.any():
                stored_next = next_obs.copy()
                stored_next[step.done] = self.channels_first(step.final_obs[step.done])
            replay.add(obs, actions, step.rewards, stored_next, step.terminated, step.alive)
            self._obs = next_obs
            before = self.steps_done
            self.steps_done += env.num_envs
            if step.episodes:
                recorder.log_episodes(self.steps_done, step.episodes)
            if self.steps_done >= cfg.learning_starts and replay.size.min() > 0:
                self._update_credit += env.num_envs / cfg.train_freq
                while self._update_credit >= 1.0:
                    self._update_credit -= 1.0
                    for _ in range(cfg.gradient_steps):
                        self._record(self._update(self._select()))
            if self.steps_done // cfg.target_update_interval > before // cfg.target_update_interval:
                self.sync_target()
            if self.steps_done // STATS_EVERY > before // STATS_EVERY:
                recorder.log_stats(self.steps_done, self._flush_stats())
            recorder.tick(self.steps_done)

    def sync_target(self) -> None:
        self.target.load_state_dict(self.online.state_dict())

    def _batch(self, agent: np.ndarray, index: np.ndarray) -> tuple[torch.Tensor, ...]:
        assert self.replay is not None
        t = self.replay.gather(agent, index)
        return (
            self._to_tensor(t.obs),
            torch.as_tensor(t.actions, device=self.device),
            self._to_tensor(t.rewards),
            self._to_tensor(t.next_obs),
            self._to_tensor(t.terminated),
        )

    def _update(self, selection: Selection) -> dict[str, float]:
        """One SGD step of every learner on its selection (section 3's weighted update)."""
        obs, actions, rewards, next_obs, terminated = self._batch(selection.agent, selection.index)
        targets = selection.targets
        if targets is None:
            with torch.no_grad():
                next_q = self.target(next_obs).max(-1).values
                targets = rewards + self.config.gamma * (1.0 - terminated) * next_q
        q = self.online(obs).gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        if self.config.loss == "mse":
            per_sample = 0.5 * (q - targets).pow(2)
        else:
            per_sample = F.smooth_l1_loss(q, targets, reduction="none")
        if selection.weights is not None:
            per_sample = per_sample * selection.weights
        # Sum over learners of each learner's mean: the learners' parameters are disjoint, so each
        # network receives exactly the gradient of its own mini-batch loss.
        loss = per_sample.mean(-1).sum()
        if not torch.isfinite(loss):
            raise Diverged(f"{type(self).__name__}: non-finite DQN loss after {self.steps_done} env steps")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.max_grad_norm > 0:
            self.online.per_net_grad_clip(self.config.max_grad_norm)
        self.optimizer.step()
        self.updates += 1
        stats = {"loss": float(loss.detach()) / self.n_learners, "q_mean": float(q.detach().mean())}
        if selection.stats:
            stats.update(selection.stats)
        return stats

    def _record(self, stats: Mapping[str, float]) -> None:
        for key, value in stats.items():
            self._stats_sum[key] = self._stats_sum.get(key, 0.0) + float(value)
        self._stats_count += 1

    def _flush_stats(self) -> dict[str, float]:
        out = {k: v / max(self._stats_count, 1) for k, v in self._stats_sum.items()}
        out |= {"epsilon": self.epsilon(), "updates": float(self.updates)}
        self._stats_sum, self._stats_count = {}, 0
        return out

    # -- persistence -----------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "online": self.online.state_dict(),
                "target": self.target.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "steps_done": self.steps_done,
                "updates": self.updates,
                "total_steps": self._total_steps,
                "config": dataclasses.asdict(self.config),
                "algorithm": type(self).__name__,
            },
            directory / CHECKPOINT_FILE,
        )

    def load(self, directory: Path) -> None:
        path = Path(directory) / CHECKPOINT_FILE
        if not path.exists():
            raise ConfigError(
                f"no {type(self).__name__} checkpoint at {path}", "give a directory written by save"
            )
        state = torch.load(path, map_location=self.device, weights_only=True)
        if state.get("algorithm") != type(self).__name__:
            raise ConfigError(
                f"{path} holds a {state.get('algorithm')} checkpoint, not {type(self).__name__}",
                "load it with the algorithm that wrote it",
            )
        self.online.load_state_dict(state["online"])
        self.target.load_state_dict(state["target"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.steps_done = int(state["steps_done"])
        self.updates = int(state["updates"])
        self._total_steps = int(state.get("total_steps", 0))
