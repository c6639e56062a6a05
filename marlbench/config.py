"""Run specifications: everything that defines one training run, resolved and validated.

A :class:`RunSpec` is built from CLI arguments or a preset, checked completely (algorithm, env,
env options, hyperparameters, budget) before anything is written, and hashed: the hash of its
fully resolved form is part of a run's identity, so a sweep can skip an identical finished run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from marlbench.errors import ConfigError


@dataclass
class RunSpec:
    """One run: which algorithm on which environment, with what settings and budget."""

    algo: str
    env: str
    seed: int = 0
    steps: int = 100_000
    """Training budget in environment steps (joint steps: one step moves every agent once)."""
    env_options: dict[str, Any] = field(default_factory=dict)
    hyperparams: dict[str, Any] = field(default_factory=dict)
    """Overrides of the algorithm's defaults (``--set``); resolved values are in ``resolved``."""
    eval_every: int | None = None
    """Evaluate every this many env steps (None: about 10 evaluations over the budget)."""
    eval_episodes: int = 10
    checkpoint_every: int | None = None
    """Checkpoint every this many env steps (None: only at the end)."""
    preset: str = ""
    variant: str = ""
    tags: list[str] = field(default_factory=list)
    device: str = "cpu"
    final_evals: list[dict[str, Any]] = field(default_factory=list)
    """Env-option sets (``[{"traffic": "low"}, {"traffic": "high"}]``): after training, one deterministic
    evaluation under each, stored with its env options like ``marlbench evaluate --env-opt`` rounds
    (so never the run's last-eval score). Options that change the spaces are refused."""
    final_eval_episodes: int | None = None
    """Episodes of each final evaluation (None: ``eval_episodes``)."""
    resolved: dict[str, Any] = field(default_factory=dict)
    """Filled by :func:`resolve`: env options and hyperparameters with every default."""

    def identity(self) -> dict[str, Any]:
        """What makes two runs the same experiment (not tags, preset names or the device).

        The final evaluations count only when there are some: a spec without them keeps the hash
        it had before they existed. Execution-only env options (``workers``) are left out."""
        from marlbench.envs.subproc import EXECUTION_OPTIONS

        out = {
            "algo": self.algo,
            "env": self.env,
            "seed": self.seed,
            "steps": self.steps,
            # how many worker processes step the env copies changes no result: not part of it
            "env_options": {
                k: v
                for k, v in self.resolved.get("env_options", self.env_options).items()
                if k not in EXECUTION_OPTIONS
            },
            "hyperparams": self.resolved.get("hyperparams", self.hyperparams),
            "eval_every": self.eval_every_steps(),
            "eval_episodes": self.eval_episodes,
        }
        if self.final_evals:
            out["final_evals"] = self.resolved.get("final_evals", self.final_evals)
            out["final_eval_episodes"] = self.final_episodes()
        return out

    def final_episodes(self) -> int:
        """Episodes of each final evaluation: ``final_eval_episodes``, else ``eval_episodes``."""
        return self.eval_episodes if self.final_eval_episodes is None else self.final_eval_episodes

    def config_hash(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def eval_every_steps(self) -> int:
        """``eval_every``, else the default schedule :func:`resolve` chose (``resolved``), else a tenth."""
        if self.eval_every is not None:
            return self.eval_every
        return int(self.resolved.get("eval_every") or max(1, self.steps // 10))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str) -> RunSpec:
        data = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


MAX_SEED = 2**32 - 1
"""numpy and the environments take seeds below 2^32."""
MAX_SEEDS = 1000
"""At most this many seeds in one command (a typo such as ``--seeds 1000000`` is refused, not started)."""
MAX_EPISODES = 100_000
"""At most this many evaluation episodes per round (``--eval-episodes``, ``evaluate --episodes``)."""


def validate_budget(spec: RunSpec) -> None:
    """Budgets and frequencies must be positive integers that fit the ledger's int64 columns."""
    from marlbench.values import check_int64

    for what, value in (
        ("--steps", spec.steps),
        ("--eval-every", spec.eval_every),
        ("--checkpoint-every", spec.checkpoint_every),
    ):
        if value is not None:
            check_int64(value, what)
    if not 0 <= spec.seed <= MAX_SEED:
        raise ConfigError(
            f"seed {spec.seed} must lie between 0 and {MAX_SEED:,} (2^32 - 1)", "use a smaller seed"
        )
    if spec.eval_episodes > MAX_EPISODES:
        raise ConfigError(
            f"--eval-episodes {spec.eval_episodes:,} is more than {MAX_EPISODES:,}", "give fewer episodes"
        )
    if spec.steps <= 0:
        raise ConfigError(
            f"--steps {spec.steps} must be positive", "give a number of env steps such as 100000"
        )
    if spec.eval_every is not None and spec.eval_every <= 0:
        raise ConfigError(f"--eval-every {spec.eval_every} must be positive", "give a number of env steps")
    if spec.eval_episodes < 0:
        raise ConfigError(f"--eval-episodes {spec.eval_episodes} must be >= 0", "give 0 to skip evaluation")
    final = spec.final_eval_episodes
    if final is not None and not (isinstance(final, int) and 1 <= final <= MAX_EPISODES):
        raise ConfigError(
            f"final_eval_episodes {final!r} must be a whole number from 1 to {MAX_EPISODES:,}",
            "give e.g. final_eval_episodes = 10 (the paper-000 presets' count), or leave it out",
        )
    if spec.checkpoint_every is not None and spec.checkpoint_every <= 0:
        raise ConfigError(f"--checkpoint-every {spec.checkpoint_every} must be positive", "give env steps")
    if spec.seed < 0:
        raise ConfigError(f"seed {spec.seed} must be >= 0", "use seeds 0, 1, 2, ...")


@dataclass(frozen=True)
class Resolved:
    """A run spec checked completely, with what building its run needs; made once by :func:`resolve`.

    ``spec.resolved`` holds the same env options and hyperparameters in plain form (for the hash
    and the ledger's ``config`` column); ``config`` is the typed hyperparameter dataclass.
    """

    spec: RunSpec
    algo: Any
    """The :class:`~marlbench.algos.base.AlgoSpec` registry entry."""
    env: Any
    """The :class:`~marlbench.algos.base.EnvContext`: env spec, resolved options, seed."""
    config: Any
    """The algorithm's hyperparameter dataclass, defaults filled and every value checked."""
    planned_steps: int = 0
    """Env steps the run will train: ``spec.steps`` rounded up to whole units of the learner's loop
    (:mod:`marlbench.algos.budget`)."""
    notes: tuple[str, ...] = ()
    """What resolving changed or rounded that the user should hear before the run starts."""
    warnings: tuple[str, ...] = ()
    """What makes the run unlikely to mean anything (a budget at or below the warm-up:
    :func:`marlbench.algos.budget.warmup_warning`); the run still starts."""


def resolve(spec: RunSpec) -> Resolved:
    """Check ``spec`` completely and fill ``spec.resolved``; raises ConfigError on any problem.

    Nothing is built or written here except importing the algorithm's module for its config.
    Every run is resolved once: the runner, the process pool and the sweep take the result.
    """
    from marlbench.algos import budget, get_algo
    from marlbench.algos.base import EnvContext, resolve_config
    from marlbench.envs import get_spec

    with _blame("settings"):
        validate_budget(spec)
    with _blame("algo"):
        algo = get_algo(spec.algo)
    with _blame("env"):
        env_spec = get_spec(spec.env)
    with _blame("env_options"):
        options = env_spec.resolve_options(spec.env_options)
    with _blame("final_evals"):
        finals = final_eval_options(spec.final_evals, env_spec, options)
    env_ctx = EnvContext(env_spec, dict(options), spec.seed)
    with _blame("env"):
        if env_spec.single_agent and algo.multi_agent and "shared weights" not in algo.source:
            raise ConfigError(
                f"'{algo.name}' is a multi-agent algorithm and '{env_spec.name}' has one agent",
                "use an SB3 algorithm such as ppo or a2c",
            )
        algo.check_env(env_ctx)
    # environment-dependent defaults (e.g. the RL Zoo's Atari settings) sit under the user's --set
    from marlbench.algos.sb3.config import SB3_ALGOS, env_defaults

    defaults = env_defaults(algo.name, env_spec) if algo.name in SB3_ALGOS else {}
    with _blame("hyperparams"):
        config = resolve_config(algo.config_cls(), {**defaults, **spec.hyperparams}, algo.name)
    with _blame("hyperparams"):
        check_batch(config)
    config, fitted = budget.fit_rollout(algo.name, config, spec.steps, given=spec.hyperparams)
    unit = budget.steps_per_round(algo.name, config)
    planned = budget.planned_steps(spec.steps, unit)
    notes = [fitted] if fitted else []
    if planned != spec.steps:
        notes.append(
            f"{algo.name} trains in whole units of {unit:,} env steps: --steps {spec.steps:,} "
            f"trains {planned:,}"
        )
    spec.resolved = {
        "env_options": dict(options),
        "hyperparams": dataclasses.asdict(config),
        **({"final_evals": finals} if finals else {}),
    }
    if spec.eval_every is None:
        length = env_spec.length_for(options)
        spec.resolved["eval_every"] = budget.default_eval_every(spec.steps, spec.eval_episodes, length)
    warning = budget.warmup_warning(algo.name, config, planned, env_ctx.n_agents)
    return Resolved(spec, algo, env_ctx, config, planned, tuple(notes), (warning,) if warning else ())


def final_eval_options(tables: Any, env_spec: Any, options: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every env option of each final evaluation (``tables`` over the run's resolved ``options``).

    ConfigError naming ``final_evals[i]`` for a malformed entry, an unknown option or value, an
    option set listed twice, or options that change the agents or spaces the run trains on (its
    policy could not act there: :func:`marlbench.envs.spaces.space_change`).
    """
    from marlbench.envs.spaces import space_change

    example = 'final_evals = [{ traffic = "low" }, { traffic = "high" }]'
    if not isinstance(tables, list) or not all(isinstance(t, Mapping) for t in tables):
        raise ConfigError(
            f"final_evals must be a list of env-option tables, not {tables!r}", f"write {example}"
        )
    out: list[dict[str, Any]] = []
    for i, table in enumerate(tables):
        where = f"final_evals[{i}]"
        try:
            full = env_spec.resolve_options({**options, **table})
        except ConfigError as err:
            raise ConfigError(f"{where}: {err.message}", err.fix) from None
        pairs = ", ".join(f"{k}={full[k]}" for k in table) or "the run's own options"
        if full in out:
            raise ConfigError(f"{where} ({pairs}) repeats an earlier entry", "list each option set once")
        change = space_change(env_spec, options, full)
        if change:
            raise ConfigError(
                f"{where} ({pairs}) changes the {change} of the run; its policy cannot act there",
                "list only options that keep the agents and spaces (e.g. traffic or episode length)",
            )
        out.append(full)
    return out


def check_batch(config: Any) -> None:
    """A mini-batch must fit what it is drawn from: the replay buffer, or one rollout of all env copies."""
    batch = getattr(config, "batch_size", None)
    if not isinstance(batch, int) or isinstance(batch, bool):
        return
    buffer = getattr(config, "buffer_size", None)
    if isinstance(buffer, int) and batch > buffer:
        raise ConfigError(
            f"batch_size {batch:,} is larger than the replay buffer (buffer_size {buffer:,})",
            "give a smaller --batch-size (or a larger buffer_size)",
        )
    n_steps, n_envs = getattr(config, "n_steps", None), getattr(config, "n_envs", 1)
    # with a replay buffer (SB3 dqn/sac/td3/ddpg) n_steps is the n-step return, not a rollout length
    rollout = buffer is None and isinstance(n_steps, int) and isinstance(n_envs, int)
    if rollout and batch > n_steps * n_envs:
        raise ConfigError(
            f"batch_size {batch:,} is larger than one rollout (n_steps {n_steps:,} x n_envs {n_envs:,})",
            "give a smaller --batch-size (or a larger n_steps)",
        )


@contextlib.contextmanager
def _blame(key: str) -> Iterator[None]:
    """Tag a ConfigError raised in the block with the part of the spec at fault (first tag wins)."""
    try:
        yield
    except ConfigError as err:
        err.key = err.key or key
        raise


_SEEDS_RANGE = re.compile(r"^(\d+)\s*-\s*(\d+)$")


def parse_seeds(text: str | None, default: int = 0) -> list[int]:
    """``"3"`` -> [0, 1, 2]; ``"0,4,7"`` -> [0, 4, 7]; ``"2-4"`` -> [2, 3, 4]."""
    if text is None or text == "":
        return [default]
    text = text.strip()
    fix = "write --seeds N (seeds 0..N-1), --seeds 0,1,2 or --seeds 0-4"
    try:
        if "," in text:
            seeds = [int(part) for part in text.split(",") if part.strip() != ""]
        elif m := _SEEDS_RANGE.match(text):
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi < lo:
                raise ConfigError(f"--seeds '{text}': the range is empty", fix)
            _check_seed_count(text, hi - lo + 1, fix)
            seeds = list(range(lo, hi + 1))
        else:
            n = int(text)
            if n <= 0:
                raise ConfigError(f"--seeds '{text}' must be a positive count", fix)
            _check_seed_count(text, n, fix)
            seeds = list(range(n))
    except ValueError:
        raise ConfigError(f"--seeds '{text}' does not parse", fix) from None
    if not seeds or any(s < 0 for s in seeds):
        raise ConfigError(f"--seeds '{text}' must list non-negative integers", fix)
    if any(s > MAX_SEED for s in seeds):
        raise ConfigError(f"--seeds '{text}': seeds must be at most {MAX_SEED:,} (2^32 - 1)", fix)
    _check_seed_count(text, len(seeds), fix)
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds '{text}' repeats a seed", fix)
    return seeds


MAX_THREADS = 1024


def thread_count() -> int:
    """Torch threads per run from ``MARLBENCH_THREADS`` (default 1); ConfigError unless 1..1024."""
    import os

    raw = os.environ.get("MARLBENCH_THREADS", "").strip()
    if not raw:
        return 1
    fix = "set MARLBENCH_THREADS to a whole number such as 1 or 4, or unset it"
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"MARLBENCH_THREADS='{raw}' is not a whole number", fix) from None
    if not 1 <= value <= MAX_THREADS:
        raise ConfigError(f"MARLBENCH_THREADS={value} must be between 1 and {MAX_THREADS}", fix)
    return value


def _check_seed_count(text: str, count: int, fix: str) -> None:
    if count > MAX_SEEDS:
        raise ConfigError(f"--seeds '{text}' asks for {count:,} runs, more than {MAX_SEEDS:,}", fix)


def package_versions() -> dict[str, str]:
    """Versions of the packages a result depends on, stored with every run."""
    import importlib.metadata as md
    import platform

    names = [
        "marlbench",
        "torch",
        "numpy",
        "gymnasium",
        "pettingzoo",
        "supersuit",
        "mpe2",
        "stable-baselines3",
        "sb3-contrib",
        "smarts",
        "pandas",
        "pyarrow",
    ]
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return out


def as_plain(value: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-friendly copy of a mapping (tuples to lists)."""
    return json.loads(json.dumps(dict(value), default=str))
