"""`gan data info`: what a dataset holds once prepared, with a preview grid.

The data and image modules need torch: they are imported inside the command, so that
`gan data --help` starts at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gancli.cli.fmt import escape
from gancli.cli.progress import dataset_label, preparing, show_data_notes
from gancli.units import format_size

console = Console()
_FITTED = {"resize": "plain resize (aspect not kept)", "center-crop": "centre crop (aspect kept)"}
data_app = typer.Typer(help="Inspect datasets: `gan data info NAME|PATH`.", no_args_is_help=True)


@data_app.command("info")
def info_command(
    spec: Annotated[
        str,
        typer.Argument(
            metavar="NAME|PATH", help="Dataset name (built-in `shapes`, or downloaded) or a folder of images."
        ),
    ],
    resolution: Annotated[int, typer.Option("--resolution", "-r", help="Side of the prepared images.")] = 64,
    channels: Annotated[int, typer.Option("--channels", help="1 (grayscale) or 3 (RGB).")] = 3,
    resize: Annotated[
        str, typer.Option("--resize", help="resize (plain, aspect not kept) or center-crop.")
    ] = "resize",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write a preview grid of real images here (PNG): a seeded random sample across the whole dataset.",
        ),
    ] = None,
    n: Annotated[int, typer.Option("-n", help="Images in the preview grid.")] = 64,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the preview's random sample across the dataset.")
    ] = 0,
    root: Annotated[
        str | None, typer.Option("--root", help="Data root (default $GAN_HOME, else ~/.cache/gancli).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace the --out file if it exists.")] = False,
) -> None:
    """Prepare a dataset (decoded once, then cached) and show what it holds.

    Examples:

      gan data info flowers --out real.png

      gan data info ~/photos --resolution 128 --resize center-crop
    """
    from gancli.data.labels import class_counts
    from gancli.data.source import load_images, preview_indices
    from gancli.errors import UserError
    from gancli.fsutil import check_output_file
    from gancli.reporting.grids import make_grid, save_png

    broken = [
        f"{text} (got {value})"
        for holds, text, value in (
            (channels in (1, 3), "--channels must be 1 or 3", channels),
            (resize in ("resize", "center-crop"), "--resize must be resize or center-crop", resize),
            (0 < resolution <= 4096, "--resolution must be between 1 and 4096", resolution),
            (n > 0, "-n must be positive", n),
        )
        if not holds
    ]
    if broken:
        raise UserError("; ".join(broken) + ".")
    if out is not None:  # before the data is prepared: a file of the user's is kept
        out = check_output_file(out, force, "--out")
    with preparing(console, dataset_label(spec, resolution)) as progress:
        prepared = load_images(spec, resolution, channels, resize, root=root, progress=progress)
    images = prepared.images
    size = images.numel() * images.element_size()
    summary = {
        "dataset": spec,
        "source": prepared.source,
        "images": int(images.shape[0]),
        "resolution": resolution,
        "channels": channels,
        "resize": resize,
        "cache_file": str(prepared.cache_file) if prepared.cache_file else None,
        "cache_bytes": prepared.cache_file.stat().st_size
        if prepared.cache_file and prepared.cache_file.exists()
        else None,
        "memory_bytes": size,
        "from_cache": prepared.from_cache,
        "skipped": [{"file": f, "reason": r} for f, r in prepared.skipped],
        "classes": class_counts(prepared.labels, prepared.classes) if prepared.labels is not None else {},
    }
    if out is not None:
        save_png(make_grid(images[preview_indices(images.shape[0], n, seed)]), out)
        summary["preview"] = str(out)
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    _print_summary(summary, prepared.warnings)


def _print_summary(summary: dict, warnings: list[str]) -> None:
    """The facts in a two-column table that keeps whole words at 80 columns; file paths after
    it on their own lines (a path is one long word: folded in a cell it would break anywhere)."""
    name = Path(summary["dataset"]).name or summary["dataset"]
    table = Table(title=f"dataset {escape(name)}", show_header=False)
    table.add_column("what", no_wrap=True)
    table.add_column("value")
    images = summary["images"]
    table.add_row(
        "images",
        f"{images:,} at {summary['resolution']}x{summary['resolution']}, {summary['channels']} channel(s)",
    )
    table.add_row(
        "fitted by",
        _FITTED.get(summary["resize"], summary["resize"])
        if summary["source"] != "shapes"
        else "drawn at this size (built in)",
    )
    table.add_row("in memory", format_size(summary["memory_bytes"]))
    made = "drawn" if summary["source"] == "shapes" else "decoded"
    cache = "read from the cache" if summary["from_cache"] else f"{made} now and cached"
    table.add_row(
        "cache", f"{format_size(summary['cache_bytes'])}, {cache}" if summary["cache_file"] else "none"
    )
    table.add_row("skipped", f"{len(summary['skipped']):,} files")
    classes = summary["classes"]
    table.add_row(
        "classes",
        ", ".join(f"{escape(name)} {n:,}" for name, n in classes.items())
        if classes
        else "none (no class subfolders)",
    )
    console.print(table)
    for key, label in (("source", "source"), ("cache_file", "cache file"), ("preview", "preview")):
        if summary.get(key):
            console.print(f"{label}: {escape(str(summary[key]))}", soft_wrap=True)
    show_data_notes(console, warnings, [(s["file"], s["reason"]) for s in summary["skipped"]], limit=10)
