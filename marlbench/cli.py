"""The ``marlbench`` command line: thin Typer commands over :mod:`marlbench.api`.

Heavy modules (torch, SB3, pandas) are imported inside commands so ``marlbench --help`` is instant.
Every error a user can cause ends in one message naming the problem and the fix, exit code 2.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from marlbench import __version__
from marlbench.errors import MarlbenchError

app = typer.Typer(
    name="marlbench",
    help="Benchmark multi-agent RL: train baselines and paper algorithms, keep every run in a Parquet "
    "ledger, compare them and draw the papers' figures.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
runs_app = typer.Typer(help="List the runs in the ledger, or show one.", invoke_without_command=True)
app.add_typer(runs_app, name="runs")

LedgerOpt = Annotated[
    str | None,
    typer.Option(
        "--ledger",
        envvar="MARLBENCH_LEDGER",
        help="Ledger directory (default ./marlbench-runs; env MARLBENCH_LEDGER).",
        show_default=False,
    ),
]

F = TypeVar("F", bound=Callable[..., Any])


def _width(stream: Any) -> int | None:
    """Rich's width: the terminal's, or a generous 160 columns when output goes to a file or pipe."""
    return None if stream.isatty() else 160


def _stderr() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False, width=_width(sys.stderr))


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, width=_width(sys.stdout))


def fail(message: str, fix: str | None = None) -> None:
    """Print one clear error (and its fix) and exit with code 2."""
    err = _stderr()
    err.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)
    if fix:
        err.print(f"[bold]fix:[/] {fix}", markup=True, soft_wrap=True)
    raise typer.Exit(2)


def user_errors(func: F) -> F:
    """Turn MarlbenchError (and ledger warnings) into clean CLI output."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import warnings

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                return func(*args, **kwargs)
            except MarlbenchError as exc:
                fail(exc.message, exc.fix)
            finally:
                ledger_warnings = [w for w in caught if w.category.__name__ == "LedgerWarning"]
                for w in ledger_warnings[:3]:
                    _stderr().print(f"[yellow]warning:[/] {w.message}", soft_wrap=True)
                if len(ledger_warnings) > 3:
                    _stderr().print(
                        f"[yellow]warning:[/] ... and {len(ledger_warnings) - 3} more damaged files skipped"
                    )

    return wrapper  # type: ignore[return-value]


def _ledger(path: str | None, *, create: bool = False) -> Any:
    from marlbench.ledger import Ledger

    return Ledger(path, create=create)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"marlbench {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """marlbench: multi-agent RL benchmarking."""


# ---------------------------------------------------------------------------------------------
# envs / algos
# ---------------------------------------------------------------------------------------------
@app.command()
@user_errors
def envs(
    show: Annotated[str | None, typer.Argument(help="Show one environment's options in detail.")] = None,
) -> None:
    """List the registered environments (or show one, with its options)."""
    from rich.table import Table

    from marlbench.envs import all_specs, get_spec

    console = _console()
    if show:
        spec = get_spec(show)
        options = spec.resolve_options({})
        console.print(f"[bold]{spec.name}[/]: {spec.description}")
        console.print(
            f"agents {spec.agents_for(options)}, episode length {spec.length_for(options)}, "
            f"observations {spec.obs_kind}, actions {spec.action_kind_for(options)}"
        )
        if spec.metrics:
            console.print(f"metrics: {', '.join(spec.metrics)}")
        if spec.paper:
            console.print(f"paper: {spec.paper}")
        table = Table("option (--env-opt)", "default", "meaning")
        for key, default in spec.options.items():
            choices = spec.option_choices.get(key)
            meaning = spec.option_help.get(key, "") + (f" ({'|'.join(choices)})" if choices else "")
            table.add_row(key, str(default), meaning)
        console.print(table)
        return
    table = Table("name", "agents", "observations", "actions", "episode length", "metrics", "description")
    for name, spec in all_specs().items():
        options = spec.resolve_options({})
        kinds = {spec.action_kind_for(options)}
        if "continuous" in spec.options or "action" in spec.options:
            kinds = {"discrete", "continuous"}
        table.add_row(
            name,
            str(spec.agents_for(options)),
            spec.obs_kind,
            "/".join(sorted(kinds)),
            str(spec.length_for(options)),
            ", ".join(spec.metrics) or "-",
            spec.description,
        )
    console.print(table)
    console.print("Your own: --env package.module:factory (a function returning a PettingZoo ParallelEnv).")


@app.command()
@user_errors
def algos(
    show: Annotated[
        str | None, typer.Argument(help="Show one algorithm's hyperparameters and defaults.")
    ] = None,
) -> None:
    """The catalogue of RL methods (paper 003): which marlbench runs, and how."""
    from rich.table import Table

    console = _console()
    if show:
        from marlbench.algos import get_algo
        from marlbench.algos.base import describe_config

        spec = get_algo(show)
        console.print(f"[bold]{spec.name}[/]: {spec.description} ({spec.source})")
        console.print(f"actions: {', '.join(sorted(spec.action_kinds))}")
        table = Table("hyperparameter (--set)", "default", "meaning")
        for name, default, help_text in describe_config(spec.config_cls()):
            table.add_row(name, repr(default), help_text)
        console.print(table)
        return
    from marlbench.algos.catalogue import catalogue_rows

    table = Table("method", "command", "available", "how marlbench offers it", "actions", "description")
    for row in catalogue_rows():
        colour = {"yes": "green", "planned": "yellow"}.get(row["available"], "dim")
        table.add_row(
            row["method"],
            row["command"],
            f"[{colour}]{row['available']}[/]",
            row["how"],
            row["actions"],
            row["description"],
        )
    console.print(table)
    console.print("Details of one: marlbench algos NAME")


# ---------------------------------------------------------------------------------------------
# train / evaluate
# ---------------------------------------------------------------------------------------------
@app.command()
@user_errors
def train(
    algo: Annotated[str, typer.Argument(help="Algorithm name (see 'marlbench algos').")] = "",
    env: Annotated[str, typer.Option("--env", "-e", help="Environment name or package.module:factory.")] = "",
    steps: Annotated[int, typer.Option(help="Training budget in environment steps.")] = 100_000,
    seed: Annotated[int, typer.Option(help="Random seed (ignored when --seeds is given).")] = 0,
    seeds: Annotated[
        str | None, typer.Option(help="Several seeds: N (0..N-1), a list 0,1,2 or a range 0-4.")
    ] = None,
    jobs: Annotated[int, typer.Option(help="Runs at once, each in its own process.")] = 1,
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
        int | None, typer.Option(help="Evaluate every N env steps (default: 10 times per run).")
    ] = None,
    eval_episodes: Annotated[int, typer.Option(help="Deterministic episodes per evaluation.")] = 10,
    checkpoint_every: Annotated[
        int | None, typer.Option(help="Checkpoint every N env steps (default: at the end).")
    ] = None,
    resume: Annotated[
        str | None, typer.Option(help="Continue an interrupted run from its last checkpoint.")
    ] = None,
    ledger: LedgerOpt = None,
) -> None:
    """Train an algorithm on an environment and record the run in the ledger."""
    from marlbench.api import make_specs
    from marlbench.config import RunSpec, parse_seeds
    from marlbench.envs.registry import split_options

    if jobs < 1:
        fail(f"--jobs {jobs} must be at least 1", "use --jobs 1 for one run at a time")
    book = _ledger(ledger, create=True)
    book.check_writable()
    if resume:
        row = book.get_run(resume)
        spec = RunSpec.from_json(row["config"])
        if algo and algo != spec.algo:
            fail(
                f"run {row['run_id']} is a '{spec.algo}' run, not '{algo}'",
                f"use marlbench train {spec.algo} --resume",
            )
        _train_specs([spec], book, jobs=1, resume=row["run_id"])
        return
    if not algo:
        fail("no algorithm given", "write e.g. marlbench train ppo --env mpe-spread")
    if not env:
        fail("no environment given", "add --env NAME (see 'marlbench envs')")
    hyper: dict[str, Any] = split_options(set_)
    if per:
        hyper.setdefault("per", "true")
    if batch_size is not None:
        hyper.setdefault("batch_size", str(batch_size))
    seed_list = parse_seeds(seeds, default=seed) if seeds else [seed]
    specs = make_specs(
        algo,
        env,
        seeds=seed_list,
        steps=steps,
        env_options=split_options(env_opt),
        hyperparams=hyper,
        eval_every=eval_every,
        eval_episodes=eval_episodes,
        checkpoint_every=checkpoint_every,
        tags=tag or [],
    )
    _check_flags(specs[0], per=per, batch_size=batch_size)
    _train_specs(specs, book, jobs=jobs)


def _check_flags(spec: Any, *, per: bool, batch_size: int | None) -> None:
    """--per / --batch-size only make sense for algorithms with those hyperparameters."""
    import dataclasses

    from marlbench.algos import get_algo

    names = {f.name for f in dataclasses.fields(get_algo(spec.algo).config_cls())}
    if per and "per" not in names:
        fail(
            f"'{spec.algo}' has no prioritized replay",
            "drop --per or pick an algorithm with a replay buffer (maddpg)",
        )
    if batch_size is not None and "batch_size" not in names:
        fail(f"'{spec.algo}' has no batch_size hyperparameter", "drop --batch-size")


def _train_specs(specs: list[Any], book: Any, *, jobs: int, resume: str | None = None) -> None:
    from marlbench.progress import RichProgress
    from marlbench.runner import prepare, run, run_many

    for spec in specs:  # every spec is checked before anything is written
        prepare(spec)
    console = _console()
    rows: list[dict[str, Any]] = []
    interrupted = False
    show_bars = sys.stderr.isatty() or os.environ.get("MARLBENCH_PROGRESS") == "1"
    from rich.console import Console

    with RichProgress(console=Console(stderr=True, force_terminal=show_bars or None)) as bars:
        try:
            if resume:
                rows = [run(specs[0], book, bars, resume=resume)]
            else:
                rows = run_many(specs, book, jobs=jobs, progress=bars)
        except KeyboardInterrupt:
            interrupted = True
    if interrupted:
        console.print(
            "[yellow]interrupted:[/] checkpoint written, run marked 'interrupted'. "
            "Continue with: marlbench train --resume RUN_ID"
        )
        raise typer.Exit(130)
    _print_results(rows, book)
    if any(r.get("status") != "finished" for r in rows):
        raise typer.Exit(1)


def _print_results(rows: list[dict[str, Any]], book: Any) -> None:
    from rich.table import Table

    console = _console()
    table = Table(
        "run", "status", "steps", "wall s", "env steps/s", "last eval (mean per agent)", "per agent"
    )
    for row in rows:
        run_id = row.get("run_id", "-")
        mean, per_agent = "-", "-"
        if row.get("run_id"):
            last = book.last_eval(row["run_id"])
            if len(last):
                by_agent = last.groupby("agent")["reward"].mean()
                mean = f"{by_agent.mean():.3f}"
                per_agent = ", ".join(f"{a}={v:.2f}" for a, v in by_agent.items())
        wall = float(row.get("wall_time_s") or 0.0)
        steps = int(row.get("steps") or 0)
        table.add_row(
            run_id,
            str(row.get("status")) + (f" ({row['error']})" if row.get("error") else ""),
            f"{steps:,}",
            f"{wall:.1f}",
            f"{steps / wall:,.0f}" if wall > 0 else "-",
            mean,
            per_agent,
        )
    console.print(table)


@app.command()
@user_errors
def evaluate(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    episodes: Annotated[int, typer.Option(help="Deterministic episodes to run.")] = 10,
    env_opt: Annotated[
        list[str] | None, typer.Option("--env-opt", help="Override an env option for this evaluation.")
    ] = None,
    ledger: LedgerOpt = None,
) -> None:
    """Evaluate a saved run deterministically and add the episodes to the ledger's evals."""
    from marlbench.envs.registry import split_options
    from marlbench.evaluation import evaluate_run

    if episodes < 1:
        fail(f"--episodes {episodes} must be at least 1", "e.g. --episodes 10")
    book = _ledger(ledger)
    summary = evaluate_run(book, run_id, episodes, split_options(env_opt))
    _console().print(summary)


# ---------------------------------------------------------------------------------------------
# runs
# ---------------------------------------------------------------------------------------------
@runs_app.callback(invoke_without_command=True)
@user_errors
def runs_list(
    ctx: typer.Context,
    algo: Annotated[str | None, typer.Option(help="Only this algorithm.")] = None,
    env: Annotated[str | None, typer.Option(help="Only this environment.")] = None,
    status: Annotated[str | None, typer.Option(help="Only this status (finished, crashed, ...).")] = None,
    ledger: LedgerOpt = None,
) -> None:
    """Table of the runs in the ledger."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"ledger": ledger}
        return
    from rich.table import Table

    book = _ledger(ledger)
    frame = book.runs()
    if algo:
        frame = frame[frame["algo"] == algo]
    if env:
        frame = frame[frame["env"] == env]
    if status:
        frame = frame[frame["status"] == status]
    console = _console()
    if frame.empty:
        console.print(f"no runs in {book.root}" + (" matching the filters" if algo or env or status else ""))
        console.print("start one with: marlbench train ppo --env mpe-spread --steps 20000")
        return
    table = Table("run", "algo", "env", "seed", "status", "steps", "wall s", "tags", "started")
    import datetime as dt

    for row in frame.itertuples():
        started = dt.datetime.fromtimestamp(row.created_at).strftime("%Y-%m-%d %H:%M")
        colour = {"finished": "green", "running": "cyan"}.get(row.status, "red")
        table.add_row(
            row.run_id,
            row.algo,
            row.env,
            str(row.seed),
            f"[{colour}]{row.status}[/]",
            f"{int(row.steps):,}/{int(row.total_steps):,}",
            f"{row.wall_time_s:.1f}",
            row.tags,
            started,
        )
    console.print(table)


@runs_app.command("show")
@user_errors
def runs_show(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    ledger: LedgerOpt = None,
) -> None:
    """A run's configuration, status, timings and last evaluation per agent."""
    import json

    from rich.table import Table

    path = ledger or (ctx.obj or {}).get("ledger")
    book = _ledger(path)
    row = book.get_run(run_id)
    console = _console()
    console.print(f"[bold]{row['run_id']}[/]  status [bold]{row['status']}[/]")
    info = Table.grid(padding=(0, 2))
    for key in (
        "algo",
        "env",
        "seed",
        "preset",
        "variant",
        "tags",
        "steps",
        "total_steps",
        "agent_steps",
        "wall_time_s",
        "checkpoint",
        "error",
        "host",
        "pid",
    ):
        value = row.get(key)
        if value not in (None, ""):
            info.add_row(key, f"{value:.1f}" if isinstance(value, float) else str(value))
    steps, wall = row.get("steps") or 0, row.get("wall_time_s") or 0.0
    if wall:
        info.add_row("env steps/s", f"{steps / wall:,.0f}")
    console.print(info)
    config = json.loads(row["config"])
    resolved = config.get("resolved", {})
    console.print("[bold]env options[/]", resolved.get("env_options", config.get("env_options")))
    console.print("[bold]hyperparameters[/]", resolved.get("hyperparams", config.get("hyperparams")))
    last = book.last_eval(row["run_id"])
    if len(last):
        table = Table(f"agent (eval at step {int(last['step'].iloc[0]):,})", "mean return", "std", "episodes")
        metric_cols = [c for c in last.columns if c.startswith("metric_") and last[c].notna().any()]
        for col in metric_cols:
            table.add_column(col.removeprefix("metric_"))
        for agent, group in last.groupby("agent"):
            extra = [f"{group[c].mean():.3f}" for c in metric_cols]
            table.add_row(
                str(agent),
                f"{group['reward'].mean():.3f}",
                f"{group['reward'].std(ddof=0):.3f}",
                str(len(group)),
                *extra,
            )
        console.print(table)
    else:
        console.print("no evaluation recorded yet")
    episodes = book.episodes([row["run_id"]])
    if len(episodes):
        console.print(f"{episodes['episode'].nunique():,} training episodes recorded")


from marlbench import cli_reports  # noqa: E402,F401  (registers compare, report, preset)
