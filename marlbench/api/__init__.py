"""The Python API behind the CLI: describe what exists, train runs, read the ledger, compare and draw.

Example::

    from marlbench import api

    row = api.train("ppo", env="mpe-spread", steps=20_000, seed=0, hyperparams={"learning_rate": 3e-4})
    ledger = api.open_ledger()                  # ./marlbench-runs or $MARLBENCH_LEDGER
    runs = ledger.runs()                        # one row per run
    episodes = ledger.episodes([row["run_id"]]) # one row per agent per training episode
    evals = ledger.last_eval(row["run_id"])     # the last deterministic evaluation, per agent

Three modules, one namespace: :mod:`~marlbench.api.catalog` (environments, algorithms, presets),
:mod:`~marlbench.api.experiments` (specs, training, re-evaluation, preset sweeps) and
:mod:`~marlbench.api.results` (runs, comparison tables, figures). Every function raises
:class:`~marlbench.errors.MarlbenchError` for a problem the user can fix. Heavy modules (torch, SB3,
pandas, matplotlib) are imported inside the functions, so importing this package (and so
``marlbench --help``) stays instant.
"""

from marlbench.api.catalog import (
    AlgoInfo,
    EnvInfo,
    algo_status,
    describe_algo,
    describe_env,
    list_algos,
    list_envs,
    load_preset,
    presets,
)
from marlbench.api.distributed import distributed_run, run_planned_on_ray, use_ray_address
from marlbench.api.experiments import (
    adopt_twins,
    evaluate,
    evaluate_preset,
    load_policy,
    make_specs,
    open_ledger,
    parse_pairs,
    plan_runs,
    progress_bars,
    resolve_preset,
    resolve_specs,
    resume,
    run_planned,
    run_warnings,
    scale_lines,
    train,
    train_many,
)
from marlbench.api.ledger_tools import (
    QUERY_FORMATS,
    export_tensorboard,
    query,
    query_text,
    render_run,
    run_metrics,
    use_tensorboard,
)
from marlbench.api.results import (
    DrawnFigure,
    FigureStatus,
    LastEval,
    compare,
    draw_figure,
    figure_options,
    figure_preset,
    figures,
    interrupted_runs,
    last_eval,
    render_table,
    run_settings,
    runs,
    table_formats,
)
from marlbench.api.verdicts import (
    VERDICT_FORMATS,
    all_verdicts,
    projected_hours,
    render_verdicts,
    results_page,
    run_command,
    tier_plans,
    verdicts,
)
from marlbench.config import parse_seeds

__all__ = [
    "AlgoInfo",
    "DrawnFigure",
    "EnvInfo",
    "VERDICT_FORMATS",
    "FigureStatus",
    "LastEval",
    "QUERY_FORMATS",
    "adopt_twins",
    "algo_status",
    "all_verdicts",
    "compare",
    "describe_algo",
    "describe_env",
    "distributed_run",
    "draw_figure",
    "evaluate",
    "evaluate_preset",
    "load_policy",
    "export_tensorboard",
    "figure_options",
    "figure_preset",
    "figures",
    "interrupted_runs",
    "last_eval",
    "list_algos",
    "list_envs",
    "load_preset",
    "make_specs",
    "open_ledger",
    "parse_pairs",
    "parse_seeds",
    "plan_runs",
    "presets",
    "progress_bars",
    "query",
    "query_text",
    "render_run",
    "render_table",
    "render_verdicts",
    "resolve_preset",
    "resolve_specs",
    "results_page",
    "resume",
    "run_command",
    "run_metrics",
    "run_planned",
    "run_planned_on_ray",
    "run_warnings",
    "run_settings",
    "runs",
    "scale_lines",
    "table_formats",
    "projected_hours",
    "tier_plans",
    "train",
    "train_many",
    "use_ray_address",
    "use_tensorboard",
    "verdicts",
]
