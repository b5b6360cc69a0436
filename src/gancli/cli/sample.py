"""`gan sample`: draw images from a trained generator."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from gancli.cli.fmt import escape
from gancli.errors import UserError

console = Console()
MAX_IMAGES = 10_000  # one grid of them is already a 100-megapixel PNG at 64px


def sample_command(
    run: Path | None = typer.Argument(
        None, help="Run folder or checkpoint file. Default: the latest run under runs/."
    ),
    n: int = typer.Option(25, "-n", "--num", help="Number of images (a near-square grid: 25 -> 5x5)."),
    out: Path = typer.Option(Path("samples.png"), "--out", "-o", help="Grid PNG to write."),
    out_dir: Path | None = typer.Option(
        None, "--out-dir", help="Also write one PNG per image into this folder."
    ),
    seed: int = typer.Option(
        0, "--seed", help="Seed of the latent vectors: the same seed gives the same images."
    ),
    interpolate: int = typer.Option(
        0,
        "--interpolate",
        help="Write latent walks instead: each row is K images between two random latents.",
    ),
    rows: int = typer.Option(1, "--rows", help="Number of walks with --interpolate."),
    best: bool = typer.Option(
        False, "--best", help="Draw from the run's best.pt (lowest FID; runs trained with --score-every)."
    ),
    device: str = typer.Option(
        "auto",
        "--device",
        help="auto, cpu, cuda, cuda:N or mps. A GPU-trained checkpoint loads on the CPU too.",
    ),
    force: bool = typer.Option(False, "--force", help="Replace --out and --out-dir files that exist."),
) -> None:
    """Draw images from a trained generator into a grid PNG.

    Examples:

      gan sample runs/quick-20261127-101500 -n 25 --out grid.png

      gan sample --seed 7 -n 64 --out-dir images/

      gan sample runs/mine --interpolate 10 --rows 4 --out walk.png

      gan sample runs/mine --best -n 16 --out best.png   (a run trained with --score-every)
    """
    if not 0 < n <= MAX_IMAGES:
        raise UserError(
            f"-n must be a positive number of images, at most {MAX_IMAGES:,} per command, got {n}. For more, run the command again with another --seed."
        )
    if interpolate < 0 or interpolate == 1 or rows <= 0:
        raise UserError("--interpolate needs at least 2 steps per walk and --rows at least 1.")
    if interpolate and rows * interpolate > MAX_IMAGES:
        raise UserError(
            f"--interpolate {interpolate} --rows {rows} asks for {rows * interpolate:,} images; at most {MAX_IMAGES:,} per command are drawn."
        )
    count = rows * interpolate if interpolate else n
    out, out_dir, each = _check_outputs(out, out_dir, count, force)
    # torch and the nets load here, not at import: `gan --help` stays instant
    from gancli.devices import resolve_device
    from gancli.reporting.grids import make_grid, save_png
    from gancli.sampling import generate_from_latents, interpolation_latents, latents, load_generator

    dev = resolve_device(device)
    generator, cfg = load_generator(run, dev, best=best)
    if interpolate:
        z = interpolation_latents(rows, interpolate, generator.latent_dim, seed)
        cols = interpolate
    else:
        z = latents(n, generator.latent_dim, seed)
        cols = None
    images = generate_from_latents(generator, z, dev)
    try:
        save_png(make_grid(images, cols=cols), out)
        for i, path in enumerate(each):
            save_png(make_grid(images[i : i + 1], padding=0), path)
    except OSError as exc:
        raise UserError(
            f"Cannot write the images ({exc}). Check that the output folder exists and is writable."
        ) from exc
    what = f"{rows} interpolation walks of {interpolate}" if interpolate else f"{images.shape[0]} images"
    console.print(
        f"Wrote {what} ({cfg.preset}, {cfg.model.resolution}px) to {escape(out)}"
        + (f" and {escape(out_dir)}/" if out_dir else ""),
        highlight=False,
    )


def _check_outputs(
    out: Path, out_dir: Path | None, count: int, force: bool
) -> tuple[Path, Path | None, list[Path]]:
    """--out, --out-dir (``~`` expanded) and the per-image files, once none of them replaces a
    file of the user's without --force (checked before the generator is loaded)."""
    from gancli.fsutil import check_output_files, user_path

    out = user_path(out, "--out")
    check_output_files([out], force, "--out")
    if out_dir is None:
        return out, None, []
    out_dir = user_path(out_dir, "--out-dir")
    width = len(str(count))
    each = [out_dir / f"{i:0{width}d}.png" for i in range(count)]
    if out in each:
        raise UserError(f"--out {out} is also one of the images --out-dir writes. Choose another --out.")
    check_output_files(each, force, "--out-dir")
    return out, out_dir, each
