"""Figure style shared by every figure: colours that stay with an algorithm, a one-line heading and
the caption under the panels.

Colours come from seaborn's 10-colour ``colorblind`` palette. Several of its colours are close
relatives (orange, vermillion and brown; blue and light blue; pink and light pink), and two of
them in one figure read as one line: :func:`palette` gives the labels of a figure colours of
different families while it can (six families), and only then a second colour of a family.

Headings are one short line (the figure's subject and its paper figure); what the lines, bands,
bars and whiskers show goes into a smaller caption under the panels, above the legend entries
(:func:`set_title`). :func:`figure_words` returns both, for tests and for notes.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

FIXED_COLOURS: dict[str, int] = {
    "ppo": 0,
    "maddpg": 1,
    "a2c": 2,
    "ctedd": 4,
    "lbs": 3,
    "idqn": 5,
    "ps-dqn": 6,
    "idqn-shared-buffer": 8,
    "dqn": 9,
}
"""Index in seaborn's 10-colour ``colorblind`` palette of each algorithm's line (the same everywhere,
unless an earlier label of the same figure holds a colour of the same family)."""

FAMILIES: tuple[int, ...] = (0, 1, 2, 1, 3, 1, 3, 4, 5, 0)
"""The colour family of each palette index: 0 blue / 9 light blue; 1 orange / 3 vermillion /
5 brown; 4 pink / 6 light pink; 2 green; 7 grey; 8 yellow."""

GREY, YELLOW = 7, 8
"""Grey is the colour of the reference lines (random policy, human expert): a label gets it last.
Yellow is faint on white: it comes just before grey."""
LAST = (YELLOW, GREY)

TITLE_SIZE, CAPTION_SIZE = 10.5, 8.0
"""Points. A heading line holds ~12.5 characters per inch of figure width, a caption line ~14.5."""


def _preferred(label: str) -> int:
    """The palette index a label asks for: its algorithm's fixed colour, else a stable hash of it."""
    import zlib

    algo = label.split("/")[0].split(" ")[0]
    if label == algo and algo in FIXED_COLOURS:
        return FIXED_COLOURS[algo]
    return zlib.crc32(label.encode()) % 10


def palette(order: Sequence[str]) -> dict[str, Any]:
    """A colour per label that does not depend on which other labels a figure shows.

    An algorithm alone keeps its :data:`FIXED_COLOURS` entry (PPO is blue in every figure); a
    variant or setting gets a colour from a stable hash of its label. Two labels of one figure never
    share a colour, and while a family of :data:`FAMILIES` is still free no two share a family: a
    label whose colour is taken (or whose family is) gets the next colour that is free (in ``order``).
    Yellow (faint on white) and then grey (the reference lines' colour) go to a label only when no
    other family is free.
    """
    import seaborn as sns

    colours = sns.color_palette("colorblind", 10)
    taken: list[int] = []
    out: dict[str, Any] = {}
    for label in order:
        start = _preferred(label)
        candidates = [(start + step) % 10 for step in range(10)]
        used_families = {FAMILIES[i] for i in taken}
        free = [i for i in candidates if i not in taken] or candidates
        apart = [i for i in free if FAMILIES[i] not in used_families]
        index = ([i for i in apart if i not in LAST] or [i for i in apart if i != GREY] or apart or free)[0]
        taken.append(index)
        out[label] = colours[index]
    return out


def legend_columns(names: Sequence[str], width: float, most: int = 4) -> int:
    """Columns of a figure legend under the panels: the most (up to ``most``) whose widest row of
    entries fits ``width`` inches (~0.075 in per character of a label, 0.7 in for a handle and gaps)."""
    for columns in range(min(most, len(names)), 1, -1):
        rows = [names[i : i + columns] for i in range(0, len(names), columns)]
        column_widths = [
            max(len(row[c]) for row in rows if c < len(row)) * 0.075 + 0.7 for c in range(columns)
        ]
        if sum(column_widths) <= width:
            return columns
    return 1


def set_title(figure: Any, title: str, *details: str) -> None:
    """The heading (``title``, one line where it fits) and the caption (``details`` joined by "; ").

    The caption is the title of the figure's legend (made, without entries, when the figure has
    none), so that constrained layout keeps it clear of the panels and the legend entries.
    """
    width = figure.get_figwidth()
    figure.suptitle(textwrap.fill(title, int(width * 12.5), break_on_hyphens=False), fontsize=TITLE_SIZE)
    caption = "; ".join(d for d in details if d)
    if not caption:
        return
    legend = figure.legends[-1] if figure.legends else None
    if legend is None:
        legend = figure.legend([], [], loc="outside lower center", frameon=False)
    legend.set_title(
        textwrap.fill(caption, int(width * 14.5), break_on_hyphens=False), prop={"size": CAPTION_SIZE}
    )
    legend.get_title().set_color("0.25")
    legend.set_alignment("center")


def figure_words(figure: Any) -> str:
    """The heading and the caption of ``figure`` as one line of text (line breaks as spaces)."""
    parts = [figure.get_suptitle()] + [legend.get_title().get_text() for legend in figure.legends]
    return " ".join(" ".join(parts).split())
