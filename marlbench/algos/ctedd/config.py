"""CTEDD's hyperparameters (paper 001, section 5.2), what it needs of an env, and its policies' names.

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
* **Team reward** (``team_reward``): Q learns the *sum* of the agents' rewards, the joint return
  section 5.3 reports ("cumulative rewards obtained jointly by all agents", the MPE code's total);
  ``mean`` learns one agent's share (the particle envs give every agent the same value), N times
  smaller. The choice sets eq. (5)'s balance, since alpha is absolute while the advantage scales with
  the reward. Measured on cn-v1 (seed 0, learning from 2,560 steps, one iteration per 25 steps,
  alpha ~0.1): the advantage term pulls ``log sigma`` down by only ~0.03 per action dimension with
  ``mean`` (E[(z^2 - 1) A], A ~ -0.18), the entropy term pushes it up by alpha ~0.1, so sigma reached
  ``sigma_max`` = 1.0 within ~2k learning steps and stayed there (20k steps); and because the
  sigmoid squash lets its input run far past the bound, sigma still sat at 1.0 ~3k steps after alpha
  had annealed below the pull. With ``sum`` the pull is ~0.08 (A ~ -0.5), close to alpha: sigma stays
  near the bound (0.91-0.999) while alpha ~0.1 and falls as alpha anneals (0.1 -> 0.001 over 12k
  steps: sigma 0.86 at alpha 0.075, 0.78 at 0.046, 0.41 at 0.010, 0.06 at 0.001; ``mean``: 1.0 from
  alpha 0.06 to 0.001, 0.46 only at 16k). Taking the paper's sum over B in the entropy term (we
  average both terms) would multiply alpha by |B| and pin sigma harder, so both stay batch means.
  ``diagnostics``: ``sigma_mean``, ``alpha``, ``advantage_mean`` and ``sigma_pull`` (the advantage
  term's gradient on ``log sigma``, per dimension, to compare with alpha) reach the metrics table.
* All other settings follow the MADDPG authors' code, as section 5.2 says ("all other
  hyper-parameters are made identical"): one learning iteration every 100 env steps after
  1024 x 25 stored transitions, tau 0.01, gradient norm clip 0.5, ``actor_reg`` 1e-3, buffer 1e6.
  The students' optimiser (Adam, ``distill_lr`` 0.005 = the paper's lr), batch (1024) and repeats
  (5: "a few iterations") are ours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from marlbench.algos import hparams
from marlbench.algos.base import EnvContext, hp, probe_vector_env
from marlbench.errors import ConfigError

GLOBAL_VARIANT = "ctedd-g"
"""The global policies' deterministic parts ``pi_theta(s)`` (CTEDD-G of Fig. 5)."""


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
    batch_size: int = hparams.batch_size(1024, "Q and eq. (4); sec. 5.2")
    gamma: float = hparams.gamma(0.95, "sec. 5.2")
    tau: float = hparams.tau(0.01, "MADDPG code")
    buffer_size: int = hparams.buffer_size(1_000_000, "MADDPG code")
    learning_starts: int = hparams.learning_starts(25_600, "MADDPG code: 1024 x 25")
    learn_every: int = hp(100, "env steps between learning iterations (MADDPG code)", low=1)
    updates_per_learn: int = hp(1, "Q and eq. (4) steps per learning iteration (MADDPG code)", low=1)
    grad_clip: float = hparams.grad_clip(0.5, "MADDPG code")
    actor_reg: float = hp(1e-3, "weight of the squared pre-tanh deterministic output (MADDPG code)", low=0.0)
    alpha_start: float = hp(0.1, "entropy weight of eq. (5) at step 0 (sec. 5.2)", low=0.0)
    alpha_end: float = hp(0.001, "entropy weight after the annealing (sec. 5.2)", low=0.0)
    alpha_anneal_steps: int = hp(
        3_000_000, "env steps to anneal alpha over (sec. 5.2: 3M)", low=0, steps=True
    )
    alpha_schedule: str = hp(
        "linear", "annealing of alpha: linear ('decremented') or geometric", choices=("linear", "geometric")
    )
    team_reward: str = hp(
        "sum",
        "reward Q learns: sum of the agents' rewards (sec. 5.3's joint return) or their mean",
        choices=("sum", "mean"),
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
    distill_every: int = hp(10_000, "env steps between distillation phases (alongside)", low=1, steps=True)
    test_every: int = hp(
        10_000, "env steps between tests of every variant (sec. 5.3; 0: none)", low=0, steps=True
    )
    test_episodes: int = hp(400, "episodes per variant test (sec. 5.3: 400), batched", low=0)
    eval_policy: str = hp("global", "policy act() serves: global or local-<c> with c in comm_dims")
    num_envs: int = hparams.num_envs(1)
    batched_networks: bool = hparams.batched_networks()
    save_replay: bool = hparams.save_replay()
    torch_threads: int = hparams.torch_threads()

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
class Dims:
    """Sizes CTEDD builds its networks for (the state is the global networks' input)."""

    n_agents: int
    obs_dim: int
    act_dim: int
    state_dim: int


def env_dims(env: EnvContext, cfg: CTEDDConfig) -> tuple[list[str], Dims, spaces.Box]:
    """Agents, dimensions and action box of ``env``; ConfigError naming the fix where CTEDD cannot run."""
    probe = probe_vector_env(env, "CTEDD")
    agents, obs_space, act_space, state_shape = (
        probe.agents,
        probe.observation_space,
        probe.action_space,
        probe.state_shape,
    )
    if not isinstance(act_space, spaces.Box) or len(act_space.shape) != 1:
        raise ConfigError(
            f"CTEDD needs a 1-d continuous action box, '{env.spec.name}' gives {act_space}",
            "use --env-opt continuous=true where the env offers it",
        )
    n, d = len(agents), int(obs_space.shape[0])
    if cfg.global_input == "state" and state_shape is None:
        raise ConfigError(
            f"'{env.spec.name}' offers no global state for CTEDD's global networks",
            "use --set global_input=observations",
        )
    state_dim = int(np.prod(state_shape)) if cfg.global_input == "state" else n * d
    return agents, Dims(n, d, int(act_space.shape[0]), state_dim), act_space
