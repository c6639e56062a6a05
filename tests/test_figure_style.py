"""The readability fixes of the figures (issue 18 item 7): colours of one figure that cannot be
confused, one-line headings with the details in a caption, labels that stay clear of whiskers and
inside their panels, integer game ticks, and captions that do not promise a band a bin of one seed
cannot have."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from test_paper002 import atari_ledger
from test_paper002 import draw as draw_atari
from test_reports import AGENTS4, _draw, put_eval, put_run, smarts_ledger

from marlbench.reports.curves import seeds_words
from marlbench.reports.style import FAMILIES, GREY, YELLOW, figure_words, legend_columns, palette, set_title


def _index(colour: tuple[float, float, float]) -> int:
    import seaborn as sns

    return [tuple(c) for c in sns.color_palette("colorblind", 10)].index(tuple(colour))


def test_one_figure_never_shows_two_colours_of_one_family_while_a_family_is_free() -> None:
    # the labels of ctedd-testing: CTEDD-L-1 and CTEDD-L-3 came out orange and vermillion
    labels = ["CTEDD-G", "CTEDD-L-1", "CTEDD-L-3", "MADDPG-1", "MADDPG-3"]
    families = [FAMILIES[_index(c)] for c in palette(labels).values()]
    assert len(set(families)) == len(labels)
    assert GREY not in [_index(c) for c in palette(labels).values()]  # grey is the reference lines'
    four = ["LBS", "IDQN", "PS (shared network)", "IDQN same RB"]
    assert not {_index(c) for c in palette(four).values()} & {GREY, YELLOW}  # yellow is faint on white
    # past six labels a family repeats, but a colour never does
    many = [f"variant-{i}" for i in range(10)]
    assert len({_index(c) for c in palette(many).values()}) == 10
    # an algorithm keeps its colour beside the others
    assert palette(["ppo"])["ppo"] == palette(["maddpg", "ctedd", "a2c", "ppo"])["ppo"]


def test_headings_are_one_line_and_the_details_go_to_the_caption(tmp_path: Path) -> None:
    drawing = _draw(smarts_ledger(tmp_path / "l"), "per")
    heading = drawing.figure.get_suptitle()
    assert "\n" not in heading and "Fig. 3" in heading
    caption = drawing.figure.legends[-1].get_title().get_text()
    assert "2 seeds" in caption and "95% bootstrap CI" in caption
    assert "Fig. 3" in figure_words(drawing.figure) and "2 seeds" in figure_words(drawing.figure)


def test_a_figure_without_a_legend_still_gets_its_caption() -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 3))
    figure.subplots()
    set_title(figure, "Heading", "first detail", "", "second detail")
    assert figure_words(figure) == "Heading first detail; second detail"


def test_legend_columns_fit_the_figure_width() -> None:
    short = ["ppo", "a2c", "dqn"]
    assert legend_columns(short, 6.4) == 3
    long = ["PPO, shared weights (mpe-spread)", "MADDPG (mpe-spread)", "random policy"]
    columns = legend_columns(long, 6.4)
    assert columns < 3  # all three in one row ran past the right edge of a 6.4 in figure
    assert legend_columns(long, 12.0) == 3


def test_safety_labels_sit_above_the_whiskers_and_the_caption_counts_episodes_per_density(
    tmp_path: Path,
) -> None:
    ledger = smarts_ledger(tmp_path / "l", with_high=False)
    # seeds that differ, so each bar has a whisker of some length
    for seed in (0, 1):
        run_id = f"ppo-shared-s{seed}-axis"
        put_run(
            ledger,
            run_id,
            "ppo",
            "smarts-intersection",
            seed,
            preset="biswas-ppo-vs-maddpg",
            variant="ppo-shared",
            steps=2000,
        )
        collided = {ag: [float(seed), 0.0, 1.0] for ag in AGENTS4}
        put_eval(
            ledger,
            run_id,
            0,
            2000,
            {ag: [1.0] * 3 for ag in AGENTS4},
            metrics={"collided": collided, "reached_goal": collided},
        )
    drawing = _draw(ledger, "smarts-safety")
    for ax in drawing.figure.axes:
        tops = [float(np.max(seg[:, 1])) for c in ax.collections for seg in c.get_segments()]
        for text in ax.texts:
            x, y = text.xy
            near = [
                t
                for c in ax.collections
                for seg in c.get_segments()
                for t in [seg]
                if abs(float(seg[0][0]) - x) < 1e-9
            ]
            for seg in near:
                assert y >= float(np.max(seg[:, 1])) - 1e-9, text.get_text()
        assert tops  # some whisker was drawn
    words = figure_words(drawing.figure)
    assert "2-3 episodes" in words  # the smarts ledger's runs evaluate 2 episodes, the new ones 3


def test_atari_games_axis_has_integer_ticks_and_reference_labels_inside_the_panel(tmp_path: Path) -> None:
    drawing = draw_atari(atari_ledger(tmp_path / "l"), bins=3)
    games_axes = [ax for ax in drawing.figure.axes if "games played" in ax.get_title()]
    assert games_axes
    for ax in games_axes:
        ticks = ax.get_xticks()
        assert np.allclose(ticks, np.round(ticks))
    for ax in drawing.figure.axes:
        human = [t for t in ax.texts if t.get_text().startswith("human expert")]
        random = [t for t in ax.texts if t.get_text().startswith("random play")]
        if human:  # each label on the side facing the other line: never past the panel's edge
            assert human[0].get_va() == "top" and random[0].get_va() == "bottom"


def test_captions_say_where_a_point_holds_one_seed() -> None:
    runs = pd.DataFrame({"label": ["a", "a", "b", "b"], "run_id": ["a0", "a1", "b0", "b1"]})
    summary = pd.DataFrame({"seeds": [2, 2, 1, 2]})
    assert "none at the 1 of 4 points that hold one seed" in seeds_words(runs, summary)
    assert "points" not in seeds_words(runs, pd.DataFrame({"seeds": [2, 2]}))
    assert "(none with one seed)" in seeds_words(runs.iloc[[0, 2]])
