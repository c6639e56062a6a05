"""CTEDD: centralized training and exploration with decentralized execution via policy distillation.

Paper 001 (Chen 2019), sections 3-5 and Algorithm 1. Two stages, run together here:

1. **Centralized training and exploration** (section 4.1). The global policy of agent ``i`` is
   ``pi~_i(s) = pi_theta_i(s) + eps * sigma_omega_i(s)`` with ``eps ~ N(0, I)``; both parts are the
   symmetric network of Fig. 1 (a shared global layer over the full state, then a local head per
   agent; :class:`~marlbench.algos.ctedd_nets.GlobalTower`). One centralized ``Q(s, a_1..a_N)``
   learns the team reward by eq. (2) with target networks. The deterministic part (heads and
   global layer) follows eq. (4); the stochastic part follows eq. (5) on the samples collected
   since the last learning iteration, with ``Q(s, a_sampled) - Q(s, pi(s))`` in place of ``Q`` and
   an entropy bonus whose weight ``alpha`` is annealed 0.1 -> 0.001 over 3M steps (section 5.2).
   ``fixed_std`` > 0 replaces eq. (5) by a constant ``sigma`` (the Fig. 6 ablation).
2. **Policy distillation** (section 4.2, eq. 6). Local policies of Fig. 2 (part 1: message
   ``m_i = f_i(o_i)``; part 2: ``a_i = g_i(o_i, m_{j != i})``; one hidden layer of 64 each, the
   same network as MADDPG-1/-3, :class:`marlbench.algos.maddpg.Policy`) regress onto the teacher
   ``pi_theta(s)`` over replayed states taken **chronologically**, each mini-batch repeated
   ``distill_repeats`` times, with no extra environment samples. One global policy teaches one
   student per entry of ``comm_dims`` (default 1 and 3: CTEDD-L-1 and CTEDD-L-3).

Choices where the paper is vague (hyperparameters where reasonable people differ):

* **When distillation runs** (``distill_mode``). Algorithm 1 draws it after training, but Fig. 5
  plots CTEDD-L-1/-3 test returns all along training and footnote 5 says the stages "can actually
  be performed in parallel". Default ``alongside``: every ``distill_every`` env steps (10k, the
  paper's test interval) the students take the transitions stored since the previous phase, oldest
  first, under the current teacher; over a run that is one chronological pass over every sample,
  as section 4.2 prescribes, and a distilled policy exists at every test point. ``after`` makes one
  chronological pass over the whole buffer with the final teacher at the end of ``learn``.
* **Global input**: the env's ``state()`` (positions and velocities; ``global_input=state``);
  ``observations`` concatenates all agents' observations for envs without a state.
* **Two towers**: the symmetric design of Fig. 1 gives the stochastic part its own global layer
  (``sigma_global=own``, trained by eq. 5 with its heads). ``shared`` puts the sigma heads on the
  deterministic part's global layer (detached, so eq. 5 still trains only omega).
* **Eq. (4)**: the joint deterministic gradient ``-Q(s, pi_1(s), .., pi_N(s))``, every agent's action
  from the global policy (``actor_others=policy``); ``buffer`` uses the other agents' replayed actions
  as MADDPG does (N critic passes).
* **Eq. (2)** bootstraps on ``pi~(s')`` = target deterministic part + ``eps * sigma(s')`` as written
  (``target_action=sampled``); ``deterministic`` uses DDPG's ``pi'(s')``. The stochastic part has no
  target network (section 4.1 names targets for the deterministic part and Q only).
* **Eq. (5)** is applied once per learning iteration (the on-policy batch is used once), before the
  critic and actor steps, so the networks that sampled the batch are the ones it differentiates.
  Both of its terms are batch means (the paper sums the entropy term). ``sigma`` lives in the
  normalised action box ``[-1, 1]`` and is squashed smoothly into ``[sigma_min, sigma_max]``
  (0.01, 1.0), starting near ``sigma_init`` = 0.6 (between Fig. 6's fixed levels). Sampled actions
  are clipped to the box for the env and the critic; eq. (5) uses the unclipped sample.
* The team reward is the agents' mean reward (the particle envs give every agent the same value).
* All other settings follow the MADDPG authors' code, as section 5.2 says ("all other
  hyper-parameters are made identical"): one learning iteration every 100 env steps after
  1024 x 25 stored transitions, tau 0.01, gradient norm clip 0.5, ``actor_reg`` 1e-3, buffer 1e6.
  The students' optimiser (Adam, ``distill_lr`` 0.005 = the paper's lr), batch (1024) and repeats
  (5: "a few iterations") are ours.

**Evaluation of the variants.** ``act`` serves the policy named by ``eval_policy`` (``global``,
``local-1``, ``local-3``): the runner evaluates that one, and its rows are the run's score in
``compare``. The global policy reads the state, which ``run_episode`` does not pass: ``eval_env(seed)``
wraps the env so each agent's observation is ``concat(o_i, state)`` (:class:`StateObservationEnv`);
the local policies slice off ``o_i`` and never see the rest. Independently, every ``test_every``
env steps (paper: 10,000) CTEDD tests **every** variant (``ctedd-g``, ``ctedd-l-<c>``) itself on
``test_episodes`` (paper: 400) copies of the env stepped as one batched ArrayEnv (the same start
states for each variant and each round), and writes the rows to the ledger's ``evals`` table with
``policy = "<variant>"`` and negative ``eval_id`` s: readers of a run's score (``compare``,
``learning-curves``) keep only rows with an empty ``policy`` and take the largest ``eval_id``, so
these rows never mix with the runner's; the paper-001 figures read them.
With a recorder that has no ledger (tests), results stay in :attr:`CTEDD.test_log`.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from pettingzoo import ParallelEnv

from marlbench.algos.base import EnvContext, Recorder, hp, torch_threads
from marlbench.algos.checkpoint import read_checkpoint, write_checkpoint
from marlbench.algos.ctedd_nets import (
    NP_ACT,
    GlobalTower,
    alpha_at,
    critic_loss,
    deterministic_policy_loss,
    distillation_loss,
    exploration_loss,
    init_sigma_bias_,
    make_critic,
    numpy_log_sigma,
    sigma_from_pre,
)
from marlbench.algos.maddpg import MADDPGConfig, Policy
from marlbench.envs.array import EpisodeRecord
from marlbench.errors import ConfigError, Diverged
from marlbench.nets import soft_update_
from marlbench.replay import ReplayBuffer, make_replay

GLOBAL_VARIANT = "ctedd-g"


def variant_name(comm_dim: int) -> str:
    """``ctedd-l-<comm_dim>``: the distilled local policy with ``comm_dim``-wide messages."""
    return f"ctedd-l-{comm_dim}"


def parse_comm_dims(text: str) -> tuple[int, ...]:
    """``"1,3"`` -> ``(1, 3)``; ConfigError for anything but distinct non-negative integers."""
    try:
        dims = tuple(int(part) for part in str(text).split(",") if part.strip())
    except ValueError:
        dims = ()
    if not dims or any(d < 0 for d in dims) or len(set(dims)) != len(dims):
        raise ConfigError(
            f"comm_dims={text!r} is not a list of distinct message sizes", "write e.g. --set comm_dims=1,3"
        )
    return dims


@dataclass
class CTEDDConfig:
    """CTEDD hyperparameters; defaults from paper 001 (section 5.2) unless noted."""

    global_hidden: int = hp(64, "units of the shared global layer of Fig. 1 (sec. 5.2: 64)", low=1)
    head_hidden: int = hp(64, "units of each agent's local head of Fig. 1 (sec. 5.2: 64)", low=1)
    critic_hidden: int = hp(64, "units per hidden layer of the centralized Q (sec. 5.2: 64x64)", low=1)
    critic_layers: int = hp(2, "hidden layers of the centralized Q (sec. 5.2: 64x64)", low=1)
    activation: str = hp("relu", "hidden activation (MADDPG code: ReLU)", choices=("relu", "tanh", "elu"))
    lr: float = hp(0.005, "Adam learning rate of both policy parts and Q (sec. 5.2)", low=0.0, low_open=True)
    batch_size: int = hp(1024, "mini-batch size for Q and eq. (4) (sec. 5.2)", low=1)
    gamma: float = hp(0.95, "discount factor (sec. 5.2)", low=0.0, high=1.0)
    tau: float = hp(0.01, "soft target update rate (MADDPG code)", low=0.0, high=1.0, low_open=True)
    buffer_size: int = hp(1_000_000, "replay capacity in transitions (MADDPG code)", low=1)
    learning_starts: int = hp(25_600, "stored transitions before learning (MADDPG code: 1024 x 25)", low=0)
    learn_every: int = hp(100, "env steps between learning iterations (MADDPG code)", low=1)
    updates_per_learn: int = hp(1, "Q and eq. (4) steps per learning iteration (MADDPG code)", low=1)
    grad_clip: float = hp(0.5, "gradient norm clip of each network (MADDPG code)", low=0.0, low_open=True)
    actor_reg: float = hp(1e-3, "weight of the squared pre-tanh deterministic output (MADDPG code)", low=0.0)
    alpha_start: float = hp(0.1, "entropy weight of eq. (5) at step 0 (sec. 5.2)", low=0.0)
    alpha_end: float = hp(0.001, "entropy weight after the annealing (sec. 5.2)", low=0.0)
    alpha_anneal_steps: int = hp(3_000_000, "env steps to anneal alpha over (sec. 5.2: 3M)", low=0)
    alpha_schedule: str = hp(
        "linear", "annealing of alpha: linear ('decremented') or geometric", choices=("linear", "geometric")
    )
    fixed_std: float = hp(
        0.0, "> 0: fixed exploration std instead of eq. (5) (Fig. 6: 0.4, 0.6, 0.8)", low=0.0
    )
    sigma_init: float = hp(
        0.6, "initial exploration std, normalised action units (ours)", low=0.0, low_open=True
    )
    sigma_min: float = hp(0.01, "smallest learned std (ours)", low=0.0, low_open=True)
    sigma_max: float = hp(1.0, "largest learned std (ours; actions span [-1, 1])", low=0.0, low_open=True)
    sigma_global: str = hp(
        "own", "stochastic part's global layer: own (Fig. 1 symmetric) or shared", choices=("own", "shared")
    )
    target_action: str = hp(
        "sampled",
        "eq. (2) bootstrap: sampled pi~(s') or deterministic pi'(s')",
        choices=("sampled", "deterministic"),
    )
    actor_others: str = hp(
        "policy", "eq. (4): other agents' actions from the policy or the buffer", choices=("policy", "buffer")
    )
    global_input: str = hp(
        "state",
        "what the global networks read: env state or all observations",
        choices=("state", "observations"),
    )
    comm_dims: str = hp("1,3", "message sizes of the distilled local policies (Fig. 5: 1 and 3)")
    distill_hidden: int = hp(64, "hidden units of each local policy part (sec. 5.2: 64)", low=1)
    distill_lr: float = hp(
        0.005, "Adam learning rate of eq. (6) (ours: the paper's lr)", low=0.0, low_open=True
    )
    distill_batch_size: int = hp(1024, "chronological mini-batch of eq. (6) (ours)", low=1)
    distill_repeats: int = hp(5, "gradient steps per distillation mini-batch (sec. 4.2: 'a few')", low=1)
    distill_mode: str = hp(
        "alongside",
        "distil during training or once after it (see module notes)",
        choices=("alongside", "after"),
    )
    distill_every: int = hp(10_000, "env steps between distillation phases (alongside)", low=1)
    test_every: int = hp(10_000, "env steps between tests of every variant (sec. 5.3; 0: none)", low=0)
    test_episodes: int = hp(400, "episodes per variant test (sec. 5.3: 400), batched", low=0)
    eval_policy: str = hp("global", "policy act() serves: global or local-<c> with c in comm_dims")
    num_envs: int = hp(1, "environment copies stepped together", low=1)
    batched_networks: bool = hp(True, "one batched network for all agents' heads (false: a loop)")
    save_replay: bool = hp(False, "checkpoints include the replay buffer (large) for exact resumes")
    torch_threads: int = hp(1, "torch threads while learning (0: torch's default)", low=0)

    def validate(self) -> None:
        dims = parse_comm_dims(self.comm_dims)
        allowed = ["global", *(f"local-{d}" for d in dims)]
        if self.eval_policy not in allowed:
            raise ConfigError(
                f"eval_policy={self.eval_policy!r} is not allowed", f"choose one of: {', '.join(allowed)}"
            )
        if not self.sigma_min < self.sigma_max:
            raise ConfigError(
                "sigma_min must be below sigma_max", "e.g. --set sigma_min=0.01 --set sigma_max=1.0"
            )
        if not self.sigma_min < self.sigma_init < self.sigma_max:
            raise ConfigError(
                f"sigma_init={self.sigma_init} lies outside ({self.sigma_min}, {self.sigma_max})",
                "choose sigma_init strictly between sigma_min and sigma_max",
            )
        if self.alpha_schedule == "geometric" and not (self.alpha_start > 0 and self.alpha_end > 0):
            raise ConfigError(
                "a geometric alpha schedule needs positive alpha_start and alpha_end", "or use linear"
            )


@dataclass
class _Dims:
    n_agents: int
    obs_dim: int
    act_dim: int
    state_dim: int


class StateObservationEnv(ParallelEnv):
    """A ParallelEnv whose agent observations are ``concat(o_i, state())``, for evaluating ``pi_theta(s)``.

    The runner's ``run_episode`` hands ``act`` per-agent observations only; this wrapper carries the
    full state alongside. Local policies read the first ``obs_dim`` entries and nothing else.
    """

    metadata = {"name": "marlbench_state_observation", "render_modes": [], "is_parallelizable": True}

    def __init__(self, env: Any, state_dim: int) -> None:
        self.env = env
        self.possible_agents = list(env.possible_agents)
        self.render_mode = None
        self._spaces = {}
        for agent in self.possible_agents:
            inner = env.observation_space(agent)
            width = int(np.prod(inner.shape)) + state_dim
            self._spaces[agent] = spaces.Box(-np.inf, np.inf, (width,), np.float32)

    @property
    def agents(self) -> list[str]:  # type: ignore[override]
        return self.env.agents

    def observation_space(self, agent: str) -> spaces.Space:
        return self._spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self.env.action_space(agent)

    def _augment(self, obs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        state = np.asarray(self.env.state(), dtype=np.float32).reshape(-1)
        return {a: np.concatenate([np.asarray(o, np.float32).reshape(-1), state]) for a, o in obs.items()}

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        obs, infos = self.env.reset(seed=seed, options=options)
        return self._augment(obs), infos

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        obs, rewards, terms, truncs, infos = self.env.step(actions)
        return self._augment(obs), rewards, terms, truncs, infos

    def state(self) -> np.ndarray:
        return self.env.state()

    def render(self) -> None:
        return None

    def close(self) -> None:
        self.env.close()


def _np_layers(layers: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray, act: Any) -> np.ndarray:
    """A batched MLP from ``numpy_params()`` copies: ``[1 or N, B, in] -> [N, B, out]``."""
    if x.shape[0] == 1 and layers[0][0].shape[0] > 1:  # broadcast matmul is a slow loop in numpy
        x = np.repeat(x, layers[0][0].shape[0], axis=0)
    for i, (weight, bias) in enumerate(layers):
        x = np.matmul(x, weight) + bias
        if i < len(layers) - 1:
            x = act(x)
    return x


def _crossed(before: int, after: int, every: int) -> int:
    """How many multiples of ``every`` lie in ``(before, after]``."""
    return after // every - before // every if every > 0 else 0


class CTEDD:
    """CTEDD on an :class:`~marlbench.envs.array.ArrayEnv` (see the module docstring)."""

    def __init__(self, env: EnvContext, config: CTEDDConfig | None = None, seed: int = 0) -> None:
        self.env = env
        self.config = cfg = config or CTEDDConfig()
        cfg.validate()
        self.seed = seed
        probe = env.make_array(1)
        try:
            self.agents: list[str] = list(probe.agents)
            obs_space, act_space, state_shape = probe.observation_space, probe.action_space, probe.state_shape
        finally:
            probe.close()
        if not isinstance(obs_space, spaces.Box) or len(obs_space.shape) != 1:
            raise ConfigError(
                f"CTEDD needs vector observations, '{env.spec.name}' gives {obs_space}",
                "pick a vector-observation environment (see 'marlbench envs')",
            )
        if not isinstance(act_space, spaces.Box) or len(act_space.shape) != 1:
            raise ConfigError(
                f"CTEDD needs a 1-d continuous action box, '{env.spec.name}' gives {act_space}",
                "use --env-opt continuous=true where the env offers it",
            )
        n, d = len(self.agents), int(obs_space.shape[0])
        if cfg.global_input == "state":
            if state_shape is None:
                raise ConfigError(
                    f"'{env.spec.name}' offers no global state for CTEDD's global networks",
                    "use --set global_input=observations",
                )
            state_dim = int(np.prod(state_shape))
        else:
            state_dim = n * d
        act_dim = int(act_space.shape[0])
        self.dims = _Dims(n, d, act_dim, state_dim)
        self._low = np.asarray(act_space.low, dtype=np.float32)
        self._high = np.asarray(act_space.high, dtype=np.float32)
        self.comm_dims = parse_comm_dims(cfg.comm_dims)
        self.variant_names = [GLOBAL_VARIANT, *(variant_name(c) for c in self.comm_dims)]

        self.rng = np.random.default_rng(seed)
        self.torch_rng = torch.Generator().manual_seed(seed)
        tower = {
            "global_hidden": cfg.global_hidden,
            "head_hidden": cfg.head_hidden,
            "activation": cfg.activation,
            "batched": cfg.batched_networks,
            "generator": self.torch_rng,
        }
        self.policy = GlobalTower(n, state_dim, act_dim, **tower)  # pi_theta: global layer + heads
        self.sigma = GlobalTower(n, state_dim, act_dim, own_trunk=cfg.sigma_global == "own", **tower)
        init_sigma_bias_(self.sigma, cfg.sigma_init, cfg.sigma_min, cfg.sigma_max)
        self.critic = make_critic(
            state_dim + n * act_dim, cfg.critic_hidden, cfg.critic_layers, cfg.activation, self.torch_rng
        )
        self.target_policy = copy.deepcopy(self.policy).requires_grad_(False)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.policy_opt = torch.optim.Adam(self.policy.parameters(), lr=cfg.lr)
        self.sigma_opt = torch.optim.Adam(self.sigma.parameters(), lr=cfg.lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.lr)

        self.students: dict[int, Policy] = {}
        self.student_opts: dict[int, torch.optim.Optimizer] = {}
        for c in self.comm_dims:
            student_cfg = MADDPGConfig(
                comm_dim=c,
                comm_hidden=cfg.distill_hidden,
                hidden_size=cfg.distill_hidden,
                hidden_layers=2,
                activation=cfg.activation,
                batched_networks=cfg.batched_networks,
            )
            self.students[c] = Policy(n, d, act_dim, student_cfg, self.torch_rng)
            self.student_opts[c] = torch.optim.Adam(self.students[c].parameters(), lr=cfg.distill_lr)

        fields: dict[str, tuple[tuple[int, ...], Any]] = {
            "state": ((state_dim,), np.float32),
            "obs": ((n, d), np.float32),
            "actions": ((n, act_dim), np.float32),  # normalised, clipped: what the env and Q saw
            "raw_actions": ((n, act_dim), np.float32),  # the unclipped Gaussian sample, for eq. (5)
            "reward": ((), np.float32),
            "next_state": ((state_dim,), np.float32),
            "terminated": ((), np.float32),
        }
        self.replay: ReplayBuffer = make_replay("uniform", cfg.buffer_size, fields)
        self.steps_done = 0
        self.updates_done = 0
        self.sigma_updates = 0
        self.distill_steps = 0
        self.tests_done = 0
        self.last_test_step = -1
        self.test_log: list[tuple[int, str, float]] = []
        """``(env step, variant, mean team return)`` of every variant test."""
        self._sigma_from = 0  # replay.total_added at the last learning-iteration boundary (eq. 5 batch)
        self._distilled_upto = 0  # replay.total_added already distilled
        self._train_env: Any = None
        self._test_env: Any = None
        self._obs: np.ndarray | None = None
        self._state: np.ndarray | None = None
        self._eye = torch.eye(n).view(n, n, 1, 1)
        self._acting: dict[str, list[list[tuple[np.ndarray, np.ndarray]]]] = {}
        self._acting_version = -1

    # --- the policies --------------------------------------------------------------------------

    def alpha(self, step: int | None = None) -> float:
        """Entropy weight of eq. (5) after ``step`` env steps (default: now)."""
        cfg = self.config
        at = self.steps_done if step is None else step
        return alpha_at(at, cfg.alpha_start, cfg.alpha_end, cfg.alpha_anneal_steps, cfg.alpha_schedule)

    def log_sigma(self, state: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, S] -> [N, B, A]``: log of the stochastic part ``sigma_omega(s)`` (or of ``fixed_std``)."""
        cfg = self.config
        n, b, a = self.dims.n_agents, state.shape[0], self.dims.act_dim
        if cfg.fixed_std > 0:
            return torch.full((n, b, a), float(np.log(cfg.fixed_std)))
        if cfg.sigma_global == "shared":
            if features is None:
                with torch.no_grad():
                    features = self.policy.features(state)
            pre = self.sigma.heads_forward(features.detach())
        else:
            pre = self.sigma(state)
        return sigma_from_pre(pre, cfg.sigma_min, cfg.sigma_max)

    def _numpy_mu_sigma(self, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``state [E, S]`` -> deterministic actions and stds, both ``[E, N, A]`` (normalised units).

        Acting runs in numpy on copies of the towers' weights refreshed after each update (torch's
        per-call overhead is larger than one env step's arithmetic).
        """
        cfg = self.config
        if self._acting_version != self.updates_done + self.sigma_updates:
            self._acting = {
                name: [p for p in (tower.trunk, tower.heads) if p is not None]
                for name, tower in (("policy", self.policy), ("sigma", self.sigma))
            }
            self._acting = {k: [net.numpy_params() for net in v] for k, v in self._acting.items()}
            self._acting_version = self.updates_done + self.sigma_updates
        act = NP_ACT[cfg.activation]
        state = np.asarray(state, dtype=np.float32)[None]
        trunk, heads = self._acting["policy"]
        features = act(_np_layers(trunk, state, act))
        mu = np.tanh(_np_layers(heads, features, act))
        if cfg.fixed_std > 0:
            sigma = np.full_like(mu, cfg.fixed_std)
        else:
            sigma_nets = self._acting["sigma"]
            sig_features = (
                features if cfg.sigma_global == "shared" else act(_np_layers(sigma_nets[0], state, act))
            )
            pre = _np_layers(sigma_nets[-1], sig_features, act)
            sigma = np.exp(numpy_log_sigma(pre, cfg.sigma_min, cfg.sigma_max))
        return mu.transpose(1, 0, 2), sigma.transpose(1, 0, 2)

    def _to_env(self, normalised: np.ndarray) -> np.ndarray:
        return (self._low + (normalised + 1.0) * 0.5 * (self._high - self._low)).astype(np.float32)

    def global_actions(self, state: np.ndarray) -> np.ndarray:
        """CTEDD-G: deterministic parts ``pi_theta(s)`` for ``state [E, S]`` -> ``[E, N, A]`` (normalised)."""
        return np.tanh(self.policy.numpy_forward(np.asarray(state, np.float32))).transpose(1, 0, 2)

    def local_actions(self, comm_dim: int, obs: np.ndarray) -> np.ndarray:
        """CTEDD-L-c: distilled local policies for observations ``[E, N, obs_dim]`` -> ``[E, N, A]``."""
        student = self.students[comm_dim]
        pre = student.numpy_forward(np.asarray(obs, np.float32).transpose(1, 0, 2))
        return np.tanh(pre).transpose(1, 0, 2)

    def variant_actions(self, variant: str, obs: np.ndarray, state: np.ndarray) -> np.ndarray:
        """Deterministic normalised actions ``[E, N, A]`` of ``variant`` (``ctedd-g`` or ``ctedd-l-<c>``)."""
        if variant == GLOBAL_VARIANT:
            return self.global_actions(state)
        return self.local_actions(int(variant.rsplit("-", 1)[1]), obs)

    def _global_input(self, state: np.ndarray | None, obs: np.ndarray) -> np.ndarray:
        if self.config.global_input == "observations":
            return obs.reshape(obs.shape[0], -1).astype(np.float32)
        assert state is not None
        return np.asarray(state, dtype=np.float32).reshape(obs.shape[0], -1)

    def _explore(self, state: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sample ``a = pi(s) + eps * sigma(s)``: (env actions, clipped normalised, unclipped normalised)."""
        mu, sigma = self._numpy_mu_sigma(state)
        raw = (mu + self.rng.standard_normal(mu.shape) * sigma).astype(np.float32)
        clipped = np.clip(raw, -1.0, 1.0)
        return self._to_env(clipped), clipped, raw

    # --- acting (evaluation) -------------------------------------------------------------------

    def eval_env(self, seed: int) -> Any:
        """The env the runner evaluates ``act`` on: the state appended where the global policy needs it."""
        env = self.env.make(seed)
        if self.config.eval_policy == "global" and self.config.global_input == "state":
            return StateObservationEnv(env, self.dims.state_dim)
        return env

    def act(self, observations: Mapping[str, np.ndarray], deterministic: bool = True) -> dict[str, Any]:
        """Actions of the ``eval_policy`` variant for one env.

        Each observation is ``o_i`` or ``concat(o_i, state)`` (from :meth:`eval_env`); the global
        policy needs the latter (with ``global_input=state``). ``deterministic=False`` adds the
        global policy's exploration noise (local policies are deterministic).
        """
        dims, cfg = self.dims, self.config
        width = dims.obs_dim + dims.state_dim
        obs = np.zeros((1, dims.n_agents, dims.obs_dim), dtype=np.float32)
        state: np.ndarray | None = None
        for j, agent in enumerate(self.agents):
            if agent not in observations:
                continue
            value = np.asarray(observations[agent], dtype=np.float32).reshape(-1)
            obs[0, j, : min(value.size, dims.obs_dim)] = value[: dims.obs_dim]
            if value.size == width and cfg.global_input == "state":
                state = value[dims.obs_dim :][None]
        if cfg.eval_policy == "global":
            if cfg.global_input == "observations":
                state = obs.reshape(1, -1)
            if state is None:
                raise ConfigError(
                    "CTEDD's global policy needs the state with each observation",
                    "evaluate on CTEDD.eval_env(seed), or use --set eval_policy=local-<c>",
                )
            if deterministic:
                actions = self.global_actions(state)
            else:
                actions = np.clip(self._explore(state)[2], -1.0, 1.0)
        else:
            actions = self.local_actions(int(cfg.eval_policy.rsplit("-", 1)[1]), obs)
        env_actions = self._to_env(actions)
        return {
            agent: env_actions[0, j].copy() for j, agent in enumerate(self.agents) if agent in observations
        }

    # --- learning ------------------------------------------------------------------------------

    def _joint(self, actions: torch.Tensor) -> torch.Tensor:
        """``[N, B, A] -> [B, N*A]``."""
        n, b, a = actions.shape
        return actions.permute(1, 0, 2).reshape(b, n * a)

    def _q(self, critic: Any, state: torch.Tensor, joint_actions: torch.Tensor) -> torch.Tensor:
        """``Q(s, a_1..a_N)`` for ``state [B, S]``, ``joint_actions [B, N*A]`` -> ``[B]``."""
        return critic(torch.cat([state, joint_actions], dim=-1).unsqueeze(0))[0, :, 0]

    def exploration_update(self, batch: Mapping[str, np.ndarray]) -> dict[str, float]:
        """Eq. (5) on ``batch`` (the samples since the last learning iteration); trains omega only."""
        state = torch.as_tensor(batch["state"])
        executed = torch.as_tensor(batch["actions"])  # [B, N, A]
        raw = torch.as_tensor(batch["raw_actions"]).transpose(0, 1)  # [N, B, A]
        with torch.no_grad():
            features = self.policy.features(state)
            mu = torch.tanh(self.policy.heads_forward(features))
            advantage = self._q(self.critic, state, executed.flatten(1)) - self._q(
                self.critic, state, self._joint(mu)
            )
        log_sigma = self.log_sigma(state, features)
        loss, entropy = exploration_loss(raw, mu, log_sigma, advantage, self.alpha())
        value = loss.item()
        if not np.isfinite(value):
            raise Diverged(
                f"CTEDD eq. (5) loss became non-finite ({value}) after {self.updates_done} updates"
            )
        self.sigma_opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.sigma.parameters(), self.config.grad_clip)
        self.sigma_opt.step()
        self.sigma_updates += 1
        return {
            "sigma_loss": value,
            "entropy": float(entropy),
            "advantage_mean": float(advantage.mean()),
            "sigma_mean": float(log_sigma.detach().exp().mean()),
            "alpha": self.alpha(),
        }

    def update(self) -> dict[str, float]:
        """One step of Q (eq. 2) and of the deterministic part (eq. 4), then the soft target updates."""
        cfg = self.config
        batch_np, _, _ = self.replay.sample(cfg.batch_size, self.rng)
        batch = {key: torch.from_numpy(v) for key, v in batch_np.items()}
        state, next_state = batch["state"], batch["next_state"]
        n, b = self.dims.n_agents, state.shape[0]

        with torch.no_grad():
            next_mu = torch.tanh(self.target_policy(next_state))
            if cfg.target_action == "sampled":  # eq. (2): pi~(s') = pi'(s') + eps * sigma(s')
                noise = torch.randn(next_mu.shape, generator=self.torch_rng)
                next_mu = (next_mu + noise * self.log_sigma(next_state).exp()).clamp(-1.0, 1.0)
            q_next = self._q(self.target_critic, next_state, self._joint(next_mu))
        q = self._q(self.critic, state, batch["actions"].flatten(1))
        c_loss, td = critic_loss(q, batch["reward"], cfg.gamma * (1.0 - batch["terminated"]), q_next)
        c_value = c_loss.item()
        if not np.isfinite(c_value):
            raise Diverged(
                f"CTEDD critic loss became non-finite ({c_value}) after {self.updates_done} updates"
            )
        self.critic_opt.zero_grad()
        c_loss.backward()
        torch.nn.utils.clip_grad_norm_(self.critic.parameters(), cfg.grad_clip)
        self.critic_opt.step()

        pre = self.policy(state)  # [N, B, A]
        mu = torch.tanh(pre)
        self.critic.requires_grad_(False)
        if cfg.actor_others == "policy":
            q_pi = self._q(self.critic, state, self._joint(mu))
        else:  # agent i's own action from the policy, the others' from the buffer (MADDPG-style)
            buffer = batch["actions"].transpose(0, 1).unsqueeze(0).expand(n, -1, -1, -1)  # [N(i), N, B, A]
            joint = buffer * (1.0 - self._eye) + mu.unsqueeze(0) * self._eye
            joint = joint.permute(0, 2, 1, 3).reshape(n * b, -1)
            q_pi = self._q(self.critic, state.repeat(n, 1), joint) * n  # sum over agents of their means
        self.critic.requires_grad_(True)
        a_loss = deterministic_policy_loss(q_pi) + cfg.actor_reg * pre.pow(2).mean()
        a_value = a_loss.item()
        if not np.isfinite(a_value):
            raise Diverged(
                f"CTEDD policy loss became non-finite ({a_value}) after {self.updates_done} updates"
            )
        self.policy_opt.zero_grad()
        a_loss.backward()
        torch.nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.grad_clip)
        self.policy_opt.step()

        soft_update_(self.target_critic, self.critic, cfg.tau)
        soft_update_(self.target_policy, self.policy, cfg.tau)
        self.updates_done += 1
        return {
            "critic_loss": c_value,
            "policy_loss": a_value,
            "q_mean": float(q.detach().mean()),
            "td_abs_mean": float(td.detach().abs().mean()),
        }

    def distill_batch(self, batch: Mapping[str, np.ndarray]) -> dict[str, float]:
        """Eq. (6) on one chronological mini-batch, ``distill_repeats`` steps for every student."""
        state = torch.as_tensor(batch["state"])
        obs = torch.as_tensor(batch["obs"]).transpose(0, 1).contiguous()  # [N, B, d]: joint rows
        with torch.no_grad():
            teacher = torch.tanh(self.policy(state))
        stats: dict[str, float] = {}
        for c, student in self.students.items():
            opt = self.student_opts[c]
            for _ in range(self.config.distill_repeats):
                loss = distillation_loss(teacher, torch.tanh(student(obs)))
                opt.zero_grad()
                loss.backward()
                opt.step()
            value = loss.item()
            if not np.isfinite(value):
                raise Diverged(f"CTEDD distillation loss of {variant_name(c)} became non-finite ({value})")
            stats[f"distill_loss_{c}"] = value
        self.distill_steps += 1
        return stats

    def _distill_chronological(self, data: Mapping[str, np.ndarray]) -> dict[str, float]:
        size = len(data["state"])
        stats: dict[str, float] = {}
        bs = self.config.distill_batch_size
        for start in range(0, size, bs):
            stats = self.distill_batch({k: v[start : start + bs] for k, v in data.items()})
        return stats

    def distill_new_samples(self) -> dict[str, float]:
        """Distil on the transitions stored since the last phase, oldest first (``alongside``)."""
        new = min(self.replay.total_added - self._distilled_upto, len(self.replay))
        self._distilled_upto = self.replay.total_added
        if new <= 0:
            return {}
        return self._distill_chronological(self.replay.recent(new))

    def distill_buffer(self) -> dict[str, float]:
        """One chronological pass over the whole buffer with the current teacher (``after``)."""
        stats: dict[str, float] = {}
        for batch in self.replay.iter_chronological(self.config.distill_batch_size):
            stats = self.distill_batch(batch)
        self._distilled_upto = self.replay.total_added
        return stats

    # --- testing every variant -----------------------------------------------------------------

    def test_variants(
        self, episodes: int, variants: list[str] | None = None
    ) -> dict[str, list[EpisodeRecord]]:
        """``episodes`` deterministic episodes of each variant on one batched env, same starts for all."""
        if self._test_env is None or self._test_env.num_envs != episodes:
            if self._test_env is not None:
                self._test_env.close()
            self._test_env = self.env.make_array(episodes, seed=3_000_017 + self.seed)
        env = self._test_env
        max_steps = max(10 * self.env.spec.length_for(self.env.options), 10_000)
        out: dict[str, list[EpisodeRecord]] = {}
        for variant in variants or self.variant_names:
            obs = env.reset(seed=3_000_017 + self.seed)
            state = self._global_input(env.state(), obs)
            first: dict[int, EpisodeRecord] = {}
            for _ in range(max_steps):
                step = env.step(self._to_env(self.variant_actions(variant, obs, state)))
                for record in step.episodes:
                    first.setdefault(record.env_index, record)
                if len(first) >= episodes:
                    break
                obs, state = step.obs, self._global_input(step.state, step.obs)
            out[variant] = [first[i] for i in sorted(first)]
        return out

    def _run_tests(self, recorder: Recorder) -> None:
        """Test every variant now; rows to the recorder's ledger (see the module notes), stats to it."""
        from marlbench.runner import episode_rows

        variants = [GLOBAL_VARIANT]
        if self.distill_steps > 0:
            variants += [variant_name(c) for c in self.comm_dims]
        results = self.test_variants(self.config.test_episodes, variants)
        ledger, run_id = getattr(recorder, "ledger", None), getattr(recorder, "run_id", None)
        rows: list[dict[str, Any]] = []
        stats: dict[str, float] = {}
        for name, records in results.items():
            eval_id = -(1 + self.tests_done * len(self.variant_names) + self.variant_names.index(name))
            for i, record in enumerate(records):
                rows += episode_rows(
                    record,
                    run_id=run_id or "",
                    eval_id=eval_id,
                    step=self.steps_done,
                    episode=i,
                    policy=name,
                )
            team = float(np.mean([np.mean(list(r.rewards.values())) for r in records]))
            stats[f"test_{name}"] = team
            self.test_log.append((self.steps_done, name, team))
        if ledger is not None and run_id:
            ledger.append("evals", run_id, rows)
        recorder.log_stats(self.steps_done, stats)
        self.tests_done += 1
        self.last_test_step = self.steps_done

    # --- the loop ------------------------------------------------------------------------------

    def _start_env(self) -> None:
        self._train_env = self.env.make_array(self.config.num_envs, seed=self.env.seed + self.steps_done)
        self._obs = self._train_env.reset()
        self._state = self._global_input(self._train_env.state(), self._obs)

    def learn(self, total_steps: int, recorder: Recorder) -> None:
        """Collect, learn, distil and test until ``steps_done >= total_steps`` (env steps, all copies)."""
        with torch_threads(self.config.torch_threads):
            self._learn(total_steps, recorder)

    def _learn(self, total_steps: int, recorder: Recorder) -> None:
        cfg = self.config
        if self._train_env is None:
            self._start_env()
        env = self._train_env
        warmup = max(1, min(cfg.learning_starts, cfg.buffer_size))
        testing = cfg.test_every > 0 and cfg.test_episodes > 0
        while self.steps_done < total_steps:
            assert self._obs is not None and self._state is not None
            env_actions, clipped, raw = self._explore(self._state)
            step = env.step(env_actions)
            next_state = self._global_input(step.state, step.obs)
            if step.done.any():
                final = self._global_input(step.final_state, step.final_obs)
                next_state = next_state.copy()
                next_state[step.done] = final[step.done]
            self.replay.add(
                {
                    "state": self._state,
                    "obs": self._obs,
                    "actions": clipped,
                    "raw_actions": raw,
                    "reward": step.rewards.mean(axis=1),
                    "next_state": next_state,
                    "terminated": step.terminated.any(axis=1).astype(np.float32),
                }
            )
            self._obs = step.obs
            self._state = self._global_input(step.state, step.obs)
            before = self.steps_done
            self.steps_done += env.num_envs
            if step.episodes:
                recorder.log_episodes(self.steps_done, step.episodes)
            if _crossed(before, self.steps_done, cfg.learn_every):
                if len(self.replay) >= warmup:
                    stats: dict[str, float] = {}
                    if cfg.fixed_std <= 0:
                        recent = min(self.replay.total_added - self._sigma_from, len(self.replay))
                        stats |= self.exploration_update(self.replay.recent(recent))
                    phases = _crossed(before, self.steps_done, cfg.learn_every)
                    for _ in range(phases * cfg.updates_per_learn):
                        stats |= self.update()
                    recorder.log_stats(self.steps_done, stats)
                self._sigma_from = self.replay.total_added
            if cfg.distill_mode == "alongside" and _crossed(before, self.steps_done, cfg.distill_every):
                recorder.log_stats(self.steps_done, self.distill_new_samples())
            if testing and _crossed(before, self.steps_done, cfg.test_every):
                self._run_tests(recorder)
            recorder.tick(self.steps_done)
        final = self.distill_new_samples() if cfg.distill_mode == "alongside" else self.distill_buffer()
        recorder.log_stats(self.steps_done, final)
        if testing and self.last_test_step != self.steps_done:
            self._run_tests(recorder)

    # --- checkpoints ---------------------------------------------------------------------------

    def _shape_signature(self) -> dict[str, Any]:
        keys = (
            "global_hidden",
            "head_hidden",
            "critic_hidden",
            "critic_layers",
            "comm_dims",
            "distill_hidden",
            "sigma_global",
            "global_input",
            "batched_networks",
        )
        return dataclasses.asdict(self.dims) | {k: getattr(self.config, k) for k in keys}

    def save(self, directory: Path) -> None:
        """Networks, targets, optimizers (students' too), counters and RNG states to ``ctedd.pt``."""
        state = {
            "format": 1,
            "shape": self._shape_signature(),
            "config": dataclasses.asdict(self.config),
            "counters": {
                "steps_done": self.steps_done,
                "updates_done": self.updates_done,
                "sigma_updates": self.sigma_updates,
                "distill_steps": self.distill_steps,
                "tests_done": self.tests_done,
                "last_test_step": self.last_test_step,
                "distilled_upto": self._distilled_upto,
                "sigma_from": self._sigma_from,
                "replay_added": self.replay.total_added,
            },
            "nets": {
                "policy": self.policy.state_dict(),
                "sigma": self.sigma.state_dict(),
                "critic": self.critic.state_dict(),
                "target_policy": self.target_policy.state_dict(),
                "target_critic": self.target_critic.state_dict(),
                "policy_opt": self.policy_opt.state_dict(),
                "sigma_opt": self.sigma_opt.state_dict(),
                "critic_opt": self.critic_opt.state_dict(),
                **{f"student_{c}": s.state_dict() for c, s in self.students.items()},
                **{f"student_opt_{c}": o.state_dict() for c, o in self.student_opts.items()},
            },
            "rng": self.rng.bit_generator.state,
            "torch_rng": self.torch_rng.get_state(),
        }
        write_checkpoint(directory, "ctedd.pt", state, self.replay if self.config.save_replay else None)

    def load(self, directory: Path) -> None:
        """Restore what :meth:`save` wrote; also the replay buffer when ``replay.npz`` is there."""
        directory = Path(directory)
        state = read_checkpoint(directory, "ctedd.pt", "CTEDD", self._shape_signature())
        nets = state["nets"]
        for name in ("policy", "sigma", "critic", "target_policy", "target_critic"):
            getattr(self, name).load_state_dict(nets[name])
        for name in ("policy_opt", "sigma_opt", "critic_opt"):
            getattr(self, name).load_state_dict(nets[name])
        for c in self.comm_dims:
            self.students[c].load_state_dict(nets[f"student_{c}"])
            self.student_opts[c].load_state_dict(nets[f"student_opt_{c}"])
        counters = state["counters"]
        self.steps_done = int(counters["steps_done"])
        self.updates_done = int(counters["updates_done"])
        self.sigma_updates = int(counters["sigma_updates"])
        self.distill_steps = int(counters["distill_steps"])
        self._acting_version = -1
        self.tests_done = int(counters["tests_done"])
        self.last_test_step = int(counters["last_test_step"])
        self.rng.bit_generator.state = state["rng"]
        self.torch_rng.set_state(state["torch_rng"])
        if (directory / "replay.npz").exists():
            self.replay.load(directory / "replay.npz")
            self._distilled_upto = int(counters["distilled_upto"])
            self._sigma_from = int(counters["sigma_from"])
        else:  # a fresh buffer: distil and explore from what arrives next
            self._distilled_upto = self._sigma_from = self.replay.total_added
        self.close()  # a resumed run starts fresh episodes

    def close(self) -> None:
        """Close the training and test environments (learn reopens them when called again)."""
        for name in ("_train_env", "_test_env"):
            env = getattr(self, name)
            if env is not None:
                env.close()
                setattr(self, name, None)
