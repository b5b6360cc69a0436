"""`gan runs`: one table of the run folders under runs/ (or DIR)."""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from gancli.cli.fmt import Col, escape, fit_table, human_age, human_size
from gancli.runlist import RunSummary, as_dicts, list_runs

console = Console()


def _progress(r: RunSummary) -> str:
    if r.total is not None:
        return f"{r.iteration:,}/{r.total:,}"  # one word: a row stays one line
    return f"{r.iteration:,} (epoch {r.epoch or 0}/{r.epochs or '?'})"


@functools.cache
def _default_recipe(preset: str) -> str:
    """The recipe a built-in preset trains with unless told (quick: improved); faithful otherwise."""
    from gancli.config import preset_names, raw_preset_dict

    return str(raw_preset_dict(preset).get("recipe", "faithful")) if preset in preset_names() else "faithful"


def _row(r: RunSummary, now: float) -> list[str]:
    losses = f"{r.loss_d:.3f} {r.loss_g:.3f}" if r.loss_d is not None and r.loss_g is not None else "-"
    preset = r.preset if r.recipe == _default_recipe(r.preset) else f"{r.preset} ({r.recipe})"
    state = f"running (pid {r.pid})" if r.state == "running" and r.pid else r.state
    return [
        escape(r.name),  # a folder name may hold markup or control characters
        escape(preset),
        _progress(r),
        state,
        losses,
        f"{r.best_fid:.2f}" if r.best_fid is not None else "-",
        human_size(r.size_bytes),
        human_age(now - r.updated),
    ]


def runs_command(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="The folder holding the run folders.")] = Path(
        "runs"
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the runs under runs/ (or FOLDER): progress, state, last losses, best FID, size, age.

    Read from each run's config.yaml, metrics.jsonl, state.json and lock: no checkpoint is loaded, so it answers at once. `age` is the time since the run last wrote; `D/G loss` are the last logged losses; `best FID` appears for runs trained with --score-every; a recipe other than the preset's own shows beside the preset. In a narrow terminal the size, then the preset, then the losses are left out (--json has everything).

    Examples:

      gan runs

      gan runs experiments/ --json
    """
    if as_json and not folder.exists() and str(folder).lower() in ("true", "false", "yes", "no", "1", "0"):
        from gancli.errors import UserError

        raise UserError(
            f"--json is a flag and takes no value: run `gan runs --json` ({folder} is not a folder)."
        )
    runs = list_runs(folder)
    if as_json:
        print(json.dumps(as_dicts(runs), indent=2))
        return
    if not runs:
        console.print(
            f"No runs under {escape(folder)}/. Start one with: gan train --preset quick", highlight=False
        )
        return
    # One line per run: no column wraps; at 80 columns the least useful go first (size, then the
    # preset, usually in the run's name, then the losses)
    cols = [
        Col("run", wrap=True),
        Col("preset", drop=2),
        Col("iterations", "right", wrap=True),
        Col("state", wrap=True),
        Col("D/G loss", "right", drop=3),
        Col("best FID", "right", drop=4),
        Col("size", "right", drop=1),
        Col("age", "right"),
    ]
    now = time.time()
    rows = [_row(r, now) for r in runs]
    if all(r.best_fid is None for r in runs):  # no run was scored: the column would only say "-"
        del cols[5]
        rows = [row[:5] + row[6:] for row in rows]
    console.print(fit_table(f"runs in {escape(folder)}", cols, rows, console.width))
