"""Paper 002's table and figure: the Atari columns of ``compare`` and ``report --figure atari-ac``.

The ledger is written with the Ledger API (real Parquet). Each Atari run plays one game every
1,000 env steps; its first 50 games score -21 and its last 100 alternate ``target - 1`` and
``target + 1``, so the running mean (last 100 games) is ``target`` exactly and any window that
reaches back one game too far is visibly off. The targets are the running means of the paper's
Fig. 7 (Model 2 / Model 3 on Pong and Breakout), so the paper's "% of human expert" column must come
back: 106%, 123%, 154%, 487%.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from test_compare_cli import assert_user_error, invoke
from test_reports import put_eval, put_run

from marlbench.envs.atari_scores import HUMAN_REFERENCE, percent_human
from marlbench.errors import ConfigError
from marlbench.ledger import Ledger
from marlbench.presets import load_preset
from marlbench.reports import stats
from marlbench.reports.compare import FIELDS, compare, human_references
from marlbench.reports.data import RUNNING_WINDOW, running_scores
from marlbench.reports.figures import FigureOptions, get_figure, report_data
from marlbench.reports.paper002 import NEEDS, running_mean
from marlbench.reports.render import render
from marlbench.reports.style import figure_words

PRESET = "atari-actor-critic"
AGENT = "player_0"
STEPS_PER_GAME = 1000
EARLY_GAMES = 50
"""Games scoring -21 before the last 100."""
TARGETS = {
    # (variant, env): running mean of each seed's last 100 games
    ("model2-pong", "atari-pong"): [10.2, 12.2],  # mean 11.2, the paper's Model 2 on Pong
    ("model3-pong", "atari-pong"): [15.2, 17.2],  # 16.2, Model 3 (ReLU) on Pong
    ("model3-breakout", "atari-breakout"): [150.8, 158.8],  # 154.8, Model 3 on Breakout
}
SHORT = ("model2-breakout", "atari-breakout", 49.0, 40)
"""One seed that played only 40 games (all scoring 49.0, the paper's Model 2 on Breakout)."""
HYPER = {"model2": {"policy": "cnn"}, "model3": {"policy": "cnn-lstm"}}


def game_scores(target: float) -> list[float]:
    """50 games at -21, then 100 games alternating target -+ 1 (mean: target)."""
    return [-21.0] * EARLY_GAMES + [target + (1.0 if g % 2 else -1.0) for g in range(RUNNING_WINDOW)]


def put_games(ledger: Ledger, run_id: str, scores: list[float]) -> None:
    """One training row per game, game g ending at g * 1000 steps; the later games are written first."""
    rows = [
        {
            "episode": g,
            "agent": AGENT,
            "step": (g + 1) * STEPS_PER_GAME,
            "wall_time": (g + 1) * 0.5,
            "reward": score,
            "length": 900,
            "metric_clipped_return": float(np.sign(score)),
        }
        for g, score in enumerate(scores)
    ]
    half = len(rows) // 2
    # chunks out of game order: the running mean must follow the episode counter, not the file order
    ledger.append("episodes", run_id, rows[half:])
    ledger.append("episodes", run_id, rows[:half])


def put_atari_run(
    ledger: Ledger, run_id: str, variant: str, env: str, seed: int, scores: list[float]
) -> None:
    steps = len(scores) * STEPS_PER_GAME
    hyper = HYPER[variant.split("-")[0]]
    put_run(ledger, run_id, "a2c", env, seed, preset=PRESET, variant=variant, steps=steps, hyperparams=hyper)
    put_games(ledger, run_id, scores)
    put_eval(ledger, run_id, 0, steps // 2, {AGENT: [-20.0, -20.0]})
    put_eval(ledger, run_id, 1, steps, {AGENT: [scores[-1] + 3.0, scores[-1] + 5.0]})


def atari_ledger(root: Path) -> Ledger:
    """The runs of :data:`TARGETS` and :data:`SHORT`, plus runs that must not count."""
    ledger = Ledger(root, create=True)
    for (variant, env), targets in TARGETS.items():
        for seed, target in enumerate(targets):
            put_atari_run(ledger, f"{variant}-s{seed}", variant, env, seed, game_scores(target))
    variant, env, score, games = SHORT
    put_atari_run(ledger, f"{variant}-s0", variant, env, 0, [score] * games)
    # a failed run (not scored) and an MPE run (no Atari columns)
    put_run(
        ledger,
        "model3-pong-failed",
        "a2c",
        "atari-pong",
        7,
        preset=PRESET,
        variant="model3-pong",
        status="failed",
        steps=150 * STEPS_PER_GAME,
        hyperparams=HYPER["model3"],
    )
    put_games(ledger, "model3-pong-failed", [21.0] * 150)
    put_eval(ledger, "model3-pong-failed", 0, 150_000, {AGENT: [21.0]})
    put_run(ledger, "ppo-spread", "ppo", "mpe-spread", 0)
    put_eval(ledger, "ppo-spread", 0, 1000, {"agent_0": [-5.0], "agent_1": [-7.0]})
    ledger.append(
        "episodes",
        "ppo-spread",
        [{"episode": 0, "agent": "agent_0", "step": 25, "wall_time": 0.1, "reward": -9.0, "length": 25}],
    )
    return ledger


def table(ledger: Ledger):
    runs = ledger.runs()
    return compare(runs, ledger.evals(), episodes=ledger.episodes())


def row(rows, label: str, env: str) -> dict:
    (match,) = [r for r in rows.to_dict("records") if r["label"] == label and r["env"] == env]
    return match


# ---------------------------------------------------------------------------------------------
# % of human expert and the running mean
# ---------------------------------------------------------------------------------------------
def test_percent_of_human_is_0_for_random_play_and_100_for_the_human_expert() -> None:
    references = human_references()
    assert {env: (r.random, r.human, r.floor) for env, r in references.items()} == {
        "atari-pong": (-20.7, 9.3, -21.0),
        "atari-breakout": (1.7, 31.8, 0.0),
    }
    for env, ref in references.items():
        assert percent_human(env, ref.random) == pytest.approx(0.0)
        assert percent_human(env, ref.human) == pytest.approx(100.0)
        assert percent_human(env, ref.floor, baseline="floor") == pytest.approx(0.0)
        assert percent_human(env, ref.human, baseline="floor") == pytest.approx(100.0)
    # hand-worked: Pong 0 is (0 + 20.7) / 30 = 69%, Breakout 100 is (100 - 1.7) / 30.1 = 326.6%
    assert percent_human("atari-pong", 0.0) == pytest.approx(69.0)
    assert percent_human("atari-breakout", 100.0) == pytest.approx(100 * 98.3 / 30.1)
    # paper 002's Fig. 7, random-play row: 1% (Pong) and 5% (Breakout) against the game's floor
    assert round(percent_human("atari-pong", -20.7, baseline="floor")) == 1
    assert round(percent_human("atari-breakout", 1.7, baseline="floor")) == 5


def test_percent_human_reproduces_paper_002s_column() -> None:
    for env, (random_score, human_score) in HUMAN_REFERENCE.items():
        assert percent_human(env, random_score) == pytest.approx(0.0)
        assert percent_human(env, human_score) == pytest.approx(100.0)
    # paper 002's Fig. 7 column uses the lowest possible score as its baseline
    floor = {"baseline": "floor"}
    assert round(percent_human("atari-pong", 16.2, **floor)) == 123
    assert round(percent_human("atari-breakout", 154.8, **floor)) == 487
    assert round(percent_human("atari-pong", -20.7, **floor)) == 1
    assert round(percent_human("atari-breakout", 1.7, **floor)) == 5
    with pytest.raises(ConfigError):
        percent_human("mpe-spread", 0.0)


def test_running_mean_is_the_mean_of_the_last_100_games_in_play_order(tmp_path: Path) -> None:
    ledger = atari_ledger(tmp_path / "l")
    scores = running_scores(ledger.episodes()).set_index("run_id")
    for (variant, _), targets in TARGETS.items():
        for seed, target in enumerate(targets):
            got = scores.loc[f"{variant}-s{seed}"]
            # one game more or less in the window would move it by about (target + 21) / 100 or by 1 / 100
            assert got["running_mean"] == pytest.approx(target) and got["games"] == 100
    # a run with fewer than 100 games: all of them
    assert scores.loc["model2-breakout-s0", "running_mean"] == pytest.approx(49.0)
    assert scores.loc["model2-breakout-s0", "games"] == 40
    # the curve: every game so far before the window is full, then the last 100
    np.testing.assert_allclose(running_mean(np.array([1.0, 3.0, 8.0]), window=2), [1.0, 2.0, 5.5])
    long = np.arange(1.0, 151.0)
    curve = running_mean(long)
    assert curve[49] == pytest.approx(25.5) and curve[149] == pytest.approx(np.mean(long[50:]))


def test_compare_adds_running_mean_and_percent_human_for_atari_rows(tmp_path: Path) -> None:
    rows = table(atari_ledger(tmp_path / "l")).rows
    # hand-worked: Pong (m + 20.7) / 30 and (m + 21) / 30.3; Breakout (m - 1.7) / 30.1 and m / 31.8
    want = {
        ("a2c/model2-pong", "atari-pong"): (11.2, 100, 31.9 / 30.0, 32.2 / 30.3, 106),
        ("a2c/model3-pong", "atari-pong"): (16.2, 100, 36.9 / 30.0, 37.2 / 30.3, 123),
        ("a2c/model2-breakout", "atari-breakout"): (49.0, 40, 47.3 / 30.1, 49.0 / 31.8, 154),
        ("a2c/model3-breakout", "atari-breakout"): (154.8, 100, 153.1 / 30.1, 154.8 / 31.8, 487),
    }
    for (label, env), (mean, games, human, paper, paper_rounded) in want.items():
        got = row(rows, label, env)
        assert got["running_mean"] == pytest.approx(mean)
        assert got["running_games"] == games
        assert got["percent_human"] == pytest.approx(100 * human)
        assert got["percent_human_paper"] == pytest.approx(100 * paper)
        assert round(got["percent_human_paper"]) == paper_rounded  # the paper's Fig. 7 column
    # the failed run (21 in every game) is not scored: Model 3 Pong keeps its two seeds
    assert row(rows, "a2c/model3-pong", "atari-pong")["seeds"] == 2
    # the headline score is still the last evaluation: last game (target + 1) + 3 and + 5, per seed
    assert row(rows, "a2c/model3-pong", "atari-pong")["mean"] == pytest.approx(np.mean([15.2 + 5, 17.2 + 5]))
    spread = row(rows, "ppo", "mpe-spread")
    assert all(np.isnan(spread[f]) for f in ("running_mean", "running_games", "percent_human"))


def test_without_episodes_the_atari_fields_stay_empty(tmp_path: Path) -> None:
    ledger = atari_ledger(tmp_path / "l")
    rows = compare(ledger.runs(), ledger.evals()).rows
    assert rows["running_mean"].isna().all() and rows["percent_human"].isna().all()
    assert rows["mean"].notna().all()


def test_formats_name_the_reference_scores_and_carry_the_new_fields(tmp_path: Path) -> None:
    result = table(atari_ledger(tmp_path / "l"))
    payload = json.loads(render(result, "json"))
    assert payload["fields"] == list(FIELDS)
    assert list(FIELDS)[-4:] == [
        "running_mean",
        "running_games",
        "percent_human",
        "percent_human_paper",
    ]
    assert payload["running_window"] == 100
    assert payload["references"] == {
        "atari-breakout": {"random": 1.7, "human": 31.8, "floor": 0.0},
        "atari-pong": {"random": -20.7, "human": 9.3, "floor": -21.0},
    }
    model3 = [r for r in payload["rows"] if r["label"] == "a2c/model3-pong"][0]
    assert model3["percent_human"] == pytest.approx(123.0)
    assert [r["running_mean"] for r in payload["rows"] if r["env"] == "mpe-spread"] == [None]
    for text in ("atari-pong -20.7 / 9.3", "atari-breakout 1.7 / 31.8", "Mnih et al. 2015", "last 100"):
        assert text in payload["references_text"]
    markdown = render(result, "markdown")
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[-3:] == ["running mean (100 games)", "% human", "% human (paper)"]
    cells = {c[0].strip(): c for c in (line.strip("|").split("|") for line in lines[2:])}
    assert [c.strip() for c in cells["a2c/model3-pong"][-3:]] == ["16.20", "123%", "123%"]
    assert [c.strip() for c in cells["a2c/model2-breakout"][-3:]] == ["49.00 (40 games)", "157%", "154%"]
    assert "atari-pong -20.7 / 9.3" in markdown.split("\n\n")[-1]
    latex = render(result, "latex")
    caption = next(line for line in latex.splitlines() if line.startswith(r"\caption"))
    assert "atari-pong -20.7 / 9.3" in caption and r"\% human" in caption
    csv_header = render(result, "csv").splitlines()[0].split(",")
    assert csv_header[-4:] == ["running_mean", "running_games", "percent_human", "percent_human_paper"]


def test_tables_without_atari_rows_are_unchanged(tmp_path: Path) -> None:
    ledger = atari_ledger(tmp_path / "l")
    runs = ledger.runs()
    spread = runs[runs["env"] == "mpe-spread"]
    result = compare(spread, ledger.evals(), episodes=ledger.episodes())
    assert result.references == {} and "Atari" not in result.caption and result.references_text == ""
    assert "% human" not in render(result, "markdown")
    assert json.loads(render(result, "json"))["references"] == {}


def test_atari_columns_need_no_ale_py(tmp_path: Path) -> None:
    """The reference scores are plain data: with ale-py unimportable compare still fills the Atari columns."""
    root = atari_ledger(tmp_path / "l").root
    code = (
        "import sys; sys.modules['ale_py'] = None; "
        "from marlbench.ledger import Ledger; "
        "from marlbench.reports.compare import compare, running_mean_runs; "
        "from marlbench.reports.render import render; "
        f"book = Ledger({str(root)!r}); runs = book.runs(); "
        "rows = compare(runs, book.evals(), episodes=book.episodes(running_mean_runs(runs))).rows; "
        "pong = rows[rows['label'] == 'a2c/model3-pong'].iloc[0]; "
        "print(round(pong['percent_human_paper']), 'marlbench.envs.atari' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["123", "False"]


def test_compare_cli_reads_the_training_games_of_atari_runs(ledger_dir: Path) -> None:
    atari_ledger(ledger_dir)
    result = invoke("compare", "--env", "atari-pong", "--format", "json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    got = {r["label"]: round(r["percent_human_paper"]) for r in payload["rows"]}
    assert got == {"a2c/model2-pong": 106, "a2c/model3-pong": 123}
    assert list(payload["references"]) == ["atari-pong"]
    rich = invoke("compare", "--preset", PRESET)
    assert rich.exit_code == 0, rich.output
    assert "% human" in rich.output and "Mnih et al. 2015" in rich.output


# ---------------------------------------------------------------------------------------------
# the figure
# ---------------------------------------------------------------------------------------------
def test_figure_needs_every_variant_of_the_preset() -> None:
    preset = load_preset(PRESET)
    assert set(NEEDS.variants) == {v.name for v in preset.variants}
    assert preset.figure == "atari-ac" and get_figure("atari-ac").needs == NEEDS


def draw(ledger: Ledger, **options: object):
    figure = get_figure("atari-ac")
    opts = FigureOptions(**options)  # type: ignore[arg-type]
    return figure.draw(report_data(ledger, figure, opts), opts)


def curve(ax, label: str) -> tuple[np.ndarray, np.ndarray]:
    (line,) = [line for line in ax.get_lines() if line.get_label() == label]
    return np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)


def test_figure_draws_running_mean_vs_games_and_vs_steps_per_game(tmp_path: Path) -> None:
    drawing = draw(atari_ledger(tmp_path / "l"), bins=3)
    axes = drawing.figure.axes
    assert len(axes) == 4  # rows: vs games, vs steps; columns: Pong, Breakout
    titles = [ax.get_title() for ax in axes]
    assert titles == [
        "Pong - score vs games played",
        "Breakout - score vs games played",
        "Pong - score vs env steps",
        "Breakout - score vs env steps",
    ]
    labels = {ax.get_title(): sorted(line.get_label() for line in ax.get_lines()) for ax in axes}
    pong = ["Model 2 (CNN + actor/critic)", "Model 3 (CNN + LSTM + actor/critic, ReLU)"]
    breakout = pong
    assert [lbl for lbl in labels["Pong - score vs games played"] if not lbl.startswith("_")] == pong
    assert [lbl for lbl in labels["Breakout - score vs env steps"] if not lbl.startswith("_")] == breakout
    for ax in axes:  # the two model curves and the human / random reference lines
        assert len(ax.get_lines()) == 4
    pong_games, pong_steps, breakout_games, breakout_steps = axes[0], axes[2], axes[1], axes[3]
    # bins=3 on 150 games: games 50, 100, 150 (and steps 50k, 100k, 150k, the same games)
    # running mean after game 50: -21; after 100: (50 * -21 + 50 * target) / 100; after 150: target
    xs, ys = curve(pong_games, pong[1])
    np.testing.assert_allclose(xs, [50, 100, 150])
    np.testing.assert_allclose(ys, [-21.0, (-21.0 + 16.2) / 2, 16.2])
    xs, ys = curve(pong_steps, pong[1])
    np.testing.assert_allclose(xs, [50_000, 100_000, 150_000])
    np.testing.assert_allclose(ys, [-21.0, (-21.0 + 16.2) / 2, 16.2])
    # Model 2 on Breakout has one seed of 40 games (49 each): its own grid, no band
    xs, ys = curve(breakout_games, pong[0])
    np.testing.assert_allclose(xs, [13, 27, 40])
    np.testing.assert_allclose(ys, [49.0, 49.0, 49.0])
    xs, ys = curve(breakout_steps, pong[0])
    np.testing.assert_allclose(xs, np.array([1, 2, 3]) / 3 * 40_000)
    np.testing.assert_allclose(ys, [49.0, 49.0, 49.0])
    # bands: the 95% bootstrap CI of the mean over seeds, for models with two seeds (not Model 2 on Breakout)
    bands = [c for c in pong_games.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2
    assert len([c for c in breakout_games.collections if isinstance(c, PolyCollection)]) == 1
    seeds = np.array([[-21.0, (-21.0 + 15.2) / 2, 15.2], [-21.0, (-21.0 + 17.2) / 2, 17.2]])
    low, high = stats.bootstrap_band(seeds)
    band_ys = bands[1].get_paths()[0].vertices[:, 1]
    for value in (*low, *high):
        assert np.isclose(band_ys, value).any()
    assert high[2] > 16.2 > low[2]
    # reference lines at the human expert and random play scores
    flat = {tuple(line.get_ydata()) for line in pong_games.get_lines() if line.get_label().startswith("_")}
    assert flat == {(9.3, 9.3), (-20.7, -20.7)}
    title = figure_words(drawing.figure)
    assert "Fig. 8" in title and "last 100 training games" in title and "human expert" in title
    missing = [n for n in drawing.notes if "no finished runs of variant(s)" in n]
    assert (
        len(missing) == 1
        and "a2c-pong" in missing[0]
        and "marlbench preset run atari-actor-critic" in missing[0]
    )


def test_figure_from_evaluations_places_them_at_the_games_played(tmp_path: Path) -> None:
    drawing = draw(atari_ledger(tmp_path / "l"), source="eval", env="atari-pong")
    pong_games, pong_steps = drawing.figure.axes
    label = "Model 3 (CNN + LSTM + actor/critic, ReLU)"
    xs, ys = curve(pong_games, label)
    np.testing.assert_allclose(xs, [75, 150])  # evaluations at 75k and 150k steps: 75 and 150 games
    # eval 0 scores -20 in both seeds; eval 1 scores last game + 4: (15.2 + 1) + 4 and (17.2 + 1) + 4
    np.testing.assert_allclose(ys, [-20.0, 16.2 + 1 + 4])
    xs, _ = curve(pong_steps, label)
    np.testing.assert_allclose(xs, [75_000, 150_000])


def test_report_atari_ac_without_runs_names_the_preset_and_exits_2(ledger_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = invoke("report", "--figure", "atari-ac", "--out", str(out))
    assert_user_error(
        result, "no finished runs for figure 'atari-ac'", "marlbench preset run atari-actor-critic"
    )
    assert not out.exists()


def test_report_atari_ac_writes_the_png(ledger_dir: Path, tmp_path: Path) -> None:
    atari_ledger(ledger_dir)
    out = tmp_path / "out"
    result = invoke("report", "--figure", "atari-ac", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert (out / "atari-ac.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "a2c-breakout" in result.output  # the note on missing variants
