"""The Parquet ledger: every run, training episode and evaluation episode marlbench records.

CONTRACT (to be implemented; signatures and schema are fixed, other modules rely on them).

Layout under the root directory (default ``./marlbench-runs``; ``MARLBENCH_LEDGER`` or ``--ledger``)::

    runs/<run_id>.parquet                 one row per run, rewritten whole on every status change
    episodes/<run_id>/<chunk>.parquet     training episodes, one row per agent per episode
    evals/<run_id>/<chunk>.parquet        evaluation episodes, one row per agent per episode
    checkpoints/<run_id>/...              algorithm checkpoints (written by the algorithm's save)

Every file is written whole to a temporary name in the same directory and then ``os.replace``-d
into place, so a reader never sees half a file. A run only ever writes its own files, so
concurrent runs never write the same file. Chunk names sort in write order
(``00000000-<pid>-<random>.parquet``).

``runs`` columns: run_id (str), config_hash (str), algo (str), env (str), seed (int64),
preset (str, "" if none), variant (str, "" if none), tags (str, comma-joined), config (str, JSON of
the fully resolved run spec), status (str: running | finished | failed | interrupted | diverged;
readers add the derived ``crashed``), created_at / updated_at / finished_at (float unix seconds,
NaN when not yet), wall_time_s (float), steps (int64, env steps done), total_steps (int64, budget),
agent_steps (int64), n_agents (int64), versions (str, JSON), error (str), host (str), pid (int64),
checkpoint (str, path relative to the root, "" if none), resumed_from (str).

``episodes`` columns: run_id, episode (int64, per-run counter), agent (str), step (int64, env steps
at the episode's end), wall_time (float, seconds since the run started), reward (float64), length
(int64), and one float64 column ``metric_<name>`` per environment metric.

``evals`` columns: run_id, eval_id (int64, 0.. per run), step (int64, training env steps at the
evaluation), episode (int64, index within the evaluation), agent, reward, length, ``metric_<name>``.
"""
