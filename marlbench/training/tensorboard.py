"""TensorBoard scalars of runs: written live while training, or exported from the ledger afterwards.

One folder per run under the chosen directory (``DIR/<run_id>``), written with torch's
``SummaryWriter`` (the ``tensorboard`` package's event format). The x axis is env steps. Tags:

* ``train/reward/<agent>``, ``train/length/<agent>``, ``train/<metric>/<agent>``: every training
  episode (``episodes`` table);
* ``eval/reward/<agent>`` (and ``eval/<metric>/<agent>``): the mean over one evaluation round's
  episodes; rounds of another policy of the run (CTEDD's variants) go to ``eval-<policy>/...``;
* ``diagnostics/<name>``: the learners' statistics as the ``metrics`` table keeps them.

Wall times are the run's own: live rows get the current time, exported rows ``created_at +
wall_time``, so TensorBoard's "relative" axis is the same either way.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from marlbench.errors import ConfigError

INSTALL_FIX = 'install it with: pip install "marlbench[tensorboard]"'


def summary_writer_class() -> Any:
    """torch's ``SummaryWriter``; ConfigError naming the extra when ``tensorboard`` is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:
        raise ConfigError(f"TensorBoard output needs the tensorboard package ({err})", INSTALL_FIX) from None
    return SummaryWriter


def _metric_names(row: Mapping[str, Any]) -> list[str]:
    return sorted(k for k in row if k.startswith("metric_"))


def _number(value: Any) -> float | None:
    """``value`` as a float, None when it is missing (NaN: the agent has no such metric)."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


class TensorBoardSink:
    """Scalars of one run in ``directory/<run_id>``.

    Args:
        directory: the TensorBoard log directory the user named.
        run_id: the run; its folder is created under ``directory``.
        start: unix time of the run's start, for exported rows (``None``: rows are stamped now).
    """

    def __init__(self, directory: str | Path, run_id: str, start: float | None = None) -> None:
        writer_class = summary_writer_class()
        self.path = Path(directory).expanduser() / run_id
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ConfigError(
                f"cannot write TensorBoard files to {self.path}: {err.strerror or err}",
                "pass --tensorboard a directory you can write",
            ) from err
        self.writer = writer_class(log_dir=str(self.path), flush_secs=10)
        self.start = start

    def _wall(self, row: Mapping[str, Any]) -> float:
        if self.start is None:
            return time.time()
        return self.start + float(row.get("wall_time") or 0.0)

    def _scalar(self, tag: str, value: Any, step: Any, wall: float) -> None:
        number = _number(value)
        if number is not None:
            self.writer.add_scalar(tag, number, int(step), walltime=wall)

    def episodes(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """One scalar per agent per training episode: reward, length and each ``metric_*``."""
        for row in rows:
            agent, step, wall = row["agent"], row["step"], self._wall(row)
            self._scalar(f"train/reward/{agent}", row["reward"], step, wall)
            self._scalar(f"train/length/{agent}", row["length"], step, wall)
            for name in _metric_names(row):
                self._scalar(f"train/{name[len('metric_') :]}/{agent}", row[name], step, wall)

    def evaluation(self, rows: list[Mapping[str, Any]]) -> None:
        """One evaluation round (rows of one ``eval_id``): the per-agent means of its episodes."""
        by_agent: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
        for row in rows:
            by_agent.setdefault((str(row.get("policy") or ""), str(row["agent"])), []).append(row)
        for (policy, agent), group in by_agent.items():
            prefix = f"eval-{policy}" if policy else "eval"
            step, wall = group[0]["step"], self._wall(group[0])
            names = ["reward", "length"] + sorted({n for r in group for n in _metric_names(r)})
            for name in names:
                values = [v for r in group if (v := _number(r.get(name))) is not None]
                if values:
                    tag = name[len("metric_") :] if name.startswith("metric_") else name
                    self._scalar(f"{prefix}/{tag}/{agent}", sum(values) / len(values), step, wall)

    def metrics(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Rows of the ``metrics`` table as ``diagnostics/<name>``."""
        for row in rows:
            self._scalar(f"diagnostics/{row['name']}", row["value"], row["step"], self._wall(row))

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


def export_run(ledger: Any, row: Mapping[str, Any], directory: str | Path) -> Path:
    """Write everything the ledger holds about run ``row`` as TensorBoard scalars; returns its folder.

    Evaluations made later by ``marlbench evaluate`` (``env_options`` set) are left out: their
    step is the run's last and they measure other settings.
    """
    run_id = str(row["run_id"])
    start = float(row.get("created_at") or 0.0)
    sink = TensorBoardSink(directory, run_id, start=start if math.isfinite(start) else 0.0)
    try:
        episodes = ledger.episodes([run_id])
        sink.episodes(episodes.to_dict("records"))
        evals = ledger.evals([run_id])
        if len(evals):
            evals = evals[evals["env_options"] == ""]
            for _, round_rows in evals.groupby("eval_id", sort=True):
                sink.evaluation(round_rows.to_dict("records"))
        sink.metrics(ledger.metrics([run_id]).to_dict("records"))
    finally:
        sink.close()
    return sink.path
