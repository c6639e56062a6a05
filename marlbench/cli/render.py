"""``marlbench render RUN_ID``: play a trained policy deterministically and write an animation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from marlbench import api
from marlbench.cli.common import LedgerOpt, console, fail, user_errors


@user_errors
def render(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    episodes: Annotated[int, typer.Option(help="Deterministic episodes to play.")] = 1,
    out: Annotated[Path, typer.Option(help="The file to write: NAME.gif, or NAME.mp4 with ffmpeg.")] = Path(
        "run.gif"
    ),
    fps: Annotated[float, typer.Option(help="Frames per second.")] = 10.0,
    max_steps: Annotated[
        int | None, typer.Option(help="At most this many steps per episode (default: the env's cap).")
    ] = None,
    ledger: LedgerOpt = None,
) -> None:
    """Play a run's last checkpoint and draw every step (particles, pursuit's grid, Atari's screen)."""
    if out.suffix.lower() not in (".gif", ".mp4"):
        fail(f"cannot write '{out}': unknown animation format", "use --out NAME.gif or NAME.mp4")
    if not out.parent.is_dir():
        fail(f"the folder of {out} does not exist", "create it first or choose another --out")
    animation = api.render_run(
        api.open_ledger(ledger), run_id, episodes=episodes, max_steps=max_steps, fps=fps
    )
    animation.save(out)
    console().print(str(out), soft_wrap=True)
    console(stderr=True).print(f"{len(animation.frames)} frames")


def register(app: typer.Typer) -> None:
    app.command()(render)
