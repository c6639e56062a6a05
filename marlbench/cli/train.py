"""``marlbench train`` and ``marlbench evaluate``: start, resume and re-evaluate runs."""

from __future__ import annotations

import json
import math
import time
from typing import Annotated, Any

import typer

from marlbench import api
from marlbench.cli.common import (
    JobsOpt,
    LedgerOpt,
    check_jobs,
    console,
    exit_unless_finished,
    fail,
    note,
    print_results,
    user_errors,
    warning,
    with_progress,
)
from marlbench.errors import MarlbenchError

RATE_METRICS = ("collided", "reached_goal", "off_road")
"""Metrics that are 0/1 per episode: their mean is shown as a rate."""


@user_errors
def train(
    algo: Annotated[
        str, typer.Argument(help="Algorithm name (see 'marlbench algos'); not needed with --resume.")
    ] = "",
    env: Annotated[str, typer.Option("--env", "-e", help="Environment name or package.module:factory.")] = "",
    steps: Annotated[
        int | None, typer.Option(help="Training budget in environment steps (default 100000).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed (ignored when --seeds is given).")] = 0,
    seeds: Annotated[
        str | None, typer.Option(help="Several seeds: N (0..N-1), a list 0,1,2 or a range 0-4.")
    ] = None,
    jobs: JobsOpt = 1,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Hyperparameter override key=value (repeatable).")
    ] = None,
    env_opt: Annotated[
        list[str] | None, typer.Option("--env-opt", help="Environment option key=value (repeatable).")
    ] = None,
    per: Annotated[
        bool, typer.Option("--per", help="Prioritized replay (algorithms with a replay buffer).")
    ] = False,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Mini-batch size.")] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Label stored with the run (repeatable).")
    ] = None,
    eval_every: Annotated[
        int | None,
        typer.Option(
            help="Evaluate every N env steps (default: up to 10 times per run, at most ~10% of its steps)."
        ),
    ] = None,
    eval_episodes: Annotated[int, typer.Option(help="Deterministic episodes per evaluation.")] = 10,
    checkpoint_every: Annotated[
        int | None, typer.Option(help="Checkpoint every N env steps (default: at the end).")
    ] = None,
    resume: Annotated[
        str | None, typer.Option(help="Continue an interrupted run from its last checkpoint.")
    ] = None,
    tensorboard: Annotated[
        str | None,
        typer.Option(
            help="Also write TensorBoard scalars (episodes, evaluations, diagnostics) to this directory."
        ),
    ] = None,
    distributed: Annotated[
        bool, typer.Option("--distributed", help="Collectors and asynchronous learners on Ray (maddpg).")
    ] = False,
    collectors: Annotated[
        int | None, typer.Option(help="With --distributed: Ray actors collecting experience (default 1).")
    ] = None,
    learners: Annotated[
        int | None, typer.Option(help="With --distributed: asynchronous learner actors (default 2).")
    ] = None,
    sync_every: Annotated[
        int | None, typer.Option(help="With --distributed: env steps between weight pulls (default 100).")
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(help="With --distributed: join this Ray cluster (else $RAY_ADDRESS, else a local Ray)."),
    ] = None,
    trust_ledger: Annotated[
        bool,
        typer.Option(
            "--trust-ledger", help="With --resume: import the environment the ledger names, unconfirmed."
        ),
    ] = False,
    ledger: LedgerOpt = None,
) -> None:
    """Train an algorithm on an environment and record the run in the ledger."""
    check_jobs(jobs)
    if trust_ledger and not resume:
        fail("--trust-ledger only goes with --resume (a new run imports the --env you give)", "drop it")
    dist_flags = {"--collectors": collectors, "--learners": learners, "--sync-every": sync_every}
    if not distributed and not resume and any(v is not None for v in (*dist_flags.values(), ray_address)):
        fail("--collectors, --learners, --sync-every and --ray-address need --distributed", "add it")
    hyperparams = api.parse_pairs(set_)
    if resume:
        api.use_ray_address(ray_address)
    elif distributed:
        algo, hyperparams = api.distributed_run(
            algo,
            hyperparams,
            collectors=collectors,
            learners=learners,
            sync_every=sync_every,
            ray_address=ray_address,
        )
    if resume:
        given = {  # --env is checked against the run's own (it confirms an import-path env)
            "--steps": steps is not None,
            "--seeds": seeds,
            "--set": set_,
            "--env-opt": env_opt,
            "--per": per,
            "--batch-size": batch_size is not None,
            "--tag": tag,
            "--eval-every": eval_every is not None,
            "--checkpoint-every": checkpoint_every is not None,
            "--distributed": distributed,
            **{flag: value is not None for flag, value in dist_flags.items()},
        }
        ignored = [flag for flag, value in given.items() if value]
        if ignored:
            fail(
                f"--resume continues run '{resume}' with its own settings: "
                f"{', '.join(ignored)} would be ignored",
                "drop them, or train a new run with those settings instead of --resume",
            )
    book = api.open_ledger(ledger)  # created by the run once every setting is checked
    if tensorboard:
        api.use_tensorboard(tensorboard)
    started = time.time()

    def interrupted() -> str:
        ids = api.interrupted_runs(book, since=started, also=[resume] if resume else [])
        hint = "; ".join(f"marlbench train --resume {run_id}" for run_id in ids) or "marlbench runs"
        return f"checkpoint written, run marked 'interrupted'. Continue with: {hint}"

    if resume:
        rows = with_progress(
            lambda bars: [
                api.resume(resume, ledger=book, algo=algo, progress=bars, env=env, trust_ledger=trust_ledger)
            ],
            interrupted,
        )
    else:
        if not algo:
            fail("no algorithm given", "write e.g. marlbench train ppo --env mpe-spread")
        if not env:
            fail("no environment given", "add --env NAME (see 'marlbench envs')")
        specs = api.make_specs(
            algo,
            env,
            seeds=api.parse_seeds(seeds) if seeds else [seed],
            steps=100_000 if steps is None else steps,
            env_options=api.parse_pairs(env_opt),
            hyperparams=hyperparams,
            per=per,
            batch_size=batch_size,
            eval_every=eval_every,
            eval_episodes=eval_episodes,
            checkpoint_every=checkpoint_every,
            tags=tag or [],
        )
        rows = with_progress(
            lambda bars: api.train_many(
                specs,
                jobs=jobs,
                ledger=book,
                progress=bars,
                notify=lambda text: note(f"note: {text}"),
                warn=warning,
            ),
            interrupted,
        )
    print_results(rows, book)
    exit_unless_finished(rows)


@user_errors
def evaluate(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix); or give --preset.")] = "",
    preset: Annotated[
        str | None, typer.Option(help="Evaluate every finished run of this preset in the ledger instead.")
    ] = None,
    episodes: Annotated[int, typer.Option(help="Deterministic episodes to run.")] = 10,
    env_opt: Annotated[
        list[str] | None, typer.Option("--env-opt", help="Override an env option for this evaluation.")
    ] = None,
    env: Annotated[
        str, typer.Option("--env", "-e", help="Confirm the run's import-path environment (module:factory).")
    ] = "",
    trust_ledger: Annotated[
        bool, typer.Option("--trust-ledger", help="Import the environment the ledger names, unconfirmed.")
    ] = False,
    ledger: LedgerOpt = None,
) -> None:
    """Evaluate a saved run (or every finished run of a preset) deterministically; the episodes go to
    the ledger's evals, marked with the env options used (``compare --eval-options`` scores them)."""
    if episodes < 1:
        fail(f"--episodes {episodes} must be at least 1", "e.g. --episodes 10")
    if bool(run_id) == bool(preset):
        fail(
            "give one run id or --preset NAME",
            "e.g. marlbench evaluate RUN or marlbench evaluate --preset NAME",
        )
    if preset:
        _evaluate_preset(preset, episodes, env_opt, env, trust_ledger, ledger)
        return
    result = api.evaluate(
        run_id,
        episodes,
        api.parse_pairs(env_opt),
        ledger=api.open_ledger(ledger),
        env=env,
        trust_ledger=trust_ledger,
    )
    console().print(_evaluation_table(result))


def _evaluate_preset(
    preset: str, episodes: int, env_opt: list[str] | None, env: str, trust_ledger: bool, ledger: str | None
) -> None:
    """``evaluate --preset``: one line per run as it ends, a summary, exit 1 when a run failed."""
    from rich.markup import escape

    overrides = api.parse_pairs(env_opt)
    out = console()

    def line(run_id: str, result: Any) -> None:
        if isinstance(result, MarlbenchError):
            out.print(f"{run_id}: [red]not evaluated[/]: {escape(result.message)}", soft_wrap=True)
            return
        team = next((r for r in result.results if r.team), result.results[0])
        out.print(f"{run_id}: mean return {team.mean:.3f} (std {team.std:.3f}, {team.label})", soft_wrap=True)

    results = api.evaluate_preset(
        preset,
        episodes,
        overrides,
        ledger=api.open_ledger(ledger),
        env=env,
        trust_ledger=trust_ledger,
        on_result=line,
    )
    failed = sum(isinstance(r, MarlbenchError) for r in results.values())
    options = " ".join(f"--env-opt {k}={v}" for k, v in overrides.items()) or "the runs' own env options"
    out.print(
        f"preset {preset}: {len(results) - failed} of {len(results)} runs evaluated "
        f"({episodes} episodes each, {options})" + (f"; {failed} failed" if failed else ""),
        soft_wrap=True,
    )
    if overrides:
        pairs = ",".join(f"{k}={v}" for k, v in overrides.items())
        out.print(f"Table: marlbench compare --preset {preset} --eval-options {pairs}", soft_wrap=True)
    if failed:
        raise typer.Exit(1)


def _evaluation_table(result: Any) -> Any:
    """Mean and std of the return per agent (and for the team), and each env metric's mean."""
    from rich.table import Table

    title = f"{result.run_id}: {result.episodes} deterministic episodes ({json.dumps(result.env_overrides)})"
    table = Table(title=title)
    for column in ("agent", "mean return", "std"):
        table.add_column(column)
    for name in result.metric_names:
        table.add_column(f"{name} rate" if name in RATE_METRICS else name)
    for i, item in enumerate(result.results):
        metrics = [
            f"{item.metrics[m]:.3f}" if not math.isnan(item.metrics[m]) else "-" for m in result.metric_names
        ]
        before_team = i + 1 < len(result.results) and result.results[i + 1].team
        table.add_row(item.label, f"{item.mean:.3f}", f"{item.std:.3f}", *metrics, end_section=before_team)
    return table


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command()(evaluate)
