"""`gan sample`: draw images from a trained generator."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from gancli.cli.fmt import escape
from gancli.errors import UserError

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from gancli.latent_arithmetic import Group
    from gancli.sampling import LoadedGenerator

console = Console()
NEIGHBOURS = 4  # --arithmetic: the result plus this many latents near it
MAX_IMAGES = 10_000  # one grid of them is already a 100-megapixel PNG at 64px


def sample_command(
    run: Annotated[
        Path | None,
        typer.Argument(
            metavar="RUN|CKPT", help="Run folder or checkpoint file. Default: the latest run under runs/."
        ),
    ] = None,
    n: Annotated[
        int, typer.Option("-n", "--num", help="Number of images (a near-square grid: 25 -> 5x5).")
    ] = 25,
    out: Annotated[Path, typer.Option("--out", "-o", help="Grid PNG to write.")] = Path("samples.png"),
    out_dir: Annotated[
        Path | None, typer.Option("--out-dir", help="Also write one PNG per image into this folder.")
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the latent vectors: the same seed gives the same images.")
    ] = 0,
    interpolate: Annotated[
        int,
        typer.Option(
            "--interpolate",
            help="Write latent walks instead: each row is K images between two random latents.",
        ),
    ] = 0,
    rows: Annotated[int, typer.Option("--rows", help="Number of walks with --interpolate.")] = 1,
    truncation: Annotated[
        float | None,
        typer.Option(
            "--truncation",
            metavar="PSI",
            help="Truncation trick (BigGAN): latent entries beyond PSI drawn again, from the same seed. "
            "0.5-1: more typical images, less variety.",
        ),
    ] = None,
    numbered: Annotated[
        bool,
        typer.Option(
            "--numbered", help="Draw each tile's number on the grid (from 0), to pick tiles for --arithmetic."
        ),
    ] = False,
    arithmetic: Annotated[
        str | None,
        typer.Option(
            "--arithmetic",
            metavar="EXPR",
            help='Latent arithmetic on tiles of the --numbered grid of the same --seed and -n, e.g. "3,8,12 - 5,9,21 + 2,14,30": '
            "one row of each group's mean, then the result and 4 neighbours.",
        ),
    ] = None,
    class_name: Annotated[
        str | None,
        typer.Option(
            "--class",
            metavar="NAME|INDEX",
            help="A conditional run: draw every image (and every --interpolate walk) in this class.",
        ),
    ] = None,
    per_class: Annotated[
        bool,
        typer.Option(
            "--per-class",
            help="A conditional run: one grid row per class (class c in row c), -n images in all.",
        ),
    ] = False,
    best: Annotated[
        bool,
        typer.Option(
            "--best", help="Draw from the run's best.pt (lowest FID; runs trained with --score-every)."
        ),
    ] = False,
    device: Annotated[
        str,
        typer.Option(
            "--device", help="auto, cpu, cuda, cuda:N or mps. A GPU-trained checkpoint loads on the CPU too."
        ),
    ] = "auto",
    force: Annotated[
        bool, typer.Option("--force", help="Replace --out and --out-dir files that exist.")
    ] = False,
) -> None:
    """Draw images from a trained generator into a grid PNG.

    Examples:

      gan sample runs/quick-20261127-101500 -n 25 --out grid.png

      gan sample --seed 7 -n 64 --out-dir images/

      gan sample runs/mine --interpolate 10 --rows 4 --out walk.png

      gan sample runs/mine --best -n 16 --out best.png   (a run trained with --score-every)

      gan sample runs/mine --truncation 0.7 --out typical.png

      gan sample runs/mine --seed 7 -n 36 --numbered --out pick.png

      gan sample runs/mine --seed 7 -n 36 --arithmetic "3,8,12 - 5,9,21 + 2,14,30" --out result.png

      gan sample runs/flowers-cond --class daisy -n 16 --out daisies.png   (trained with --conditional)
    """
    groups = _check_options(n, interpolate, rows, arithmetic)
    count = rows * interpolate if interpolate else n if groups is None else len(groups) + 1 + NEIGHBOURS
    out, out_dir, each = _check_outputs(out, out_dir, count, force)
    # torch and the nets load here, not at import: `gan --help` stays instant
    from gancli.devices import resolve_device
    from gancli.reporting.grids import grid_shape, label_tiles, make_grid
    from gancli.sampling import check_truncation, generate_from_latents, open_generator

    check_truncation(truncation)
    dev = resolve_device(device)
    loaded = open_generator(run, dev, best=best)
    generator, cfg = loaded.generator, loaded.config
    z, cols, labels = _latents(generator.latent_dim, n, seed, truncation, interpolate, rows, groups)
    classes, cols = _classes(cfg, class_name, per_class, z.shape[0], cols, groups is not None)
    images = generate_from_latents(generator, z, dev, labels=classes)
    grid = make_grid(images, cols=cols)
    if numbered or labels:
        labels = labels or [str(i) for i in range(images.shape[0])]
        grid = label_tiles(grid, labels, images.shape[2:], cols or grid_shape(images.shape[0])[1])
    _write(grid, images, out, each)
    what = f"{rows} interpolation walks of {interpolate}" if interpolate else f"{images.shape[0]} images"
    if groups is not None:
        what = f"{arithmetic!r}: {len(groups)} group means, the result and {NEIGHBOURS} neighbours"
    if classes is not None:
        what += f" of class {cfg.model.classes[int(classes[0])]}" if class_name else " (class c in row c)"
    console.print(
        f"Wrote {what} ({cfg.preset}, {cfg.model.resolution}px"
        + (f", truncation {truncation:g}" if truncation is not None else "")
        + f") to {escape(out)}"
        + (f" and {escape(out_dir)}/" if out_dir else ""),
        highlight=False,
        soft_wrap=True,
    )
    console.print(_source_line(loaded, run), highlight=False, soft_wrap=True)


def _check_options(n: int, interpolate: int, rows: int, arithmetic: str | None) -> list[Group] | None:
    """Refuse impossible counts; the groups of --arithmetic (parsed before torch loads)."""
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
    if arithmetic is None:
        return None
    if interpolate:
        raise UserError("--arithmetic draws one row of its own: leave out --interpolate.")
    from gancli.latent_arithmetic import parse_arithmetic

    return parse_arithmetic(arithmetic, n)


def _classes(
    cfg, class_name: str | None, per_class: bool, count: int, cols: int | None, arithmetic: bool
) -> tuple[torch.Tensor | None, int | None]:
    """(each image's class, the grid's columns) for a conditional run: --class for all; else
    class c in row c (--per-class: as many rows as classes). None for an unconditional run."""
    import math

    import torch

    from gancli.models.conditional import grid_labels
    from gancli.reporting.grids import grid_shape
    from gancli.sampling import class_index

    if class_name is not None:
        if per_class:
            raise UserError("--class draws one class and --per-class every class: give one of them.")
        return torch.full((count,), class_index(cfg, class_name)), cols
    if not (cfg.model.conditional and cfg.model.classes):
        if per_class:
            raise UserError(
                "--per-class: this run was trained without classes (model.conditional is false). Leave out --per-class, or train with --conditional on a folder of class subfolders."
            )
        return None, cols
    if arithmetic:
        raise UserError(
            f"--arithmetic on a conditional run needs --class: the latents are combined within one class. Its classes: {', '.join(cfg.model.classes)}."
        )
    classes = len(cfg.model.classes)
    if per_class:
        cols = math.ceil(count / classes)
    return grid_labels(count, classes, cols or grid_shape(count)[1]), cols


def _write(grid: Image.Image, images: torch.Tensor, out: Path, each: list[Path]) -> None:
    """The grid, and with --out-dir one PNG per image (the files _check_outputs cleared)."""
    from gancli.reporting.grids import make_grid, save_png

    try:
        save_png(grid, out)
        for i, path in enumerate(each):
            save_png(make_grid(images[i : i + 1], padding=0), path)
    except OSError as exc:
        raise UserError(
            f"Cannot write the images ({exc}). Check that the output folder exists and is writable."
        ) from exc


def _latents(
    dim: int,
    n: int,
    seed: int,
    truncation: float | None,
    interpolate: int,
    rows: int,
    groups: list[Group] | None,
) -> tuple[torch.Tensor, int | None, list[str] | None]:
    """(latents, columns or None, tile labels or None) of the grid asked for."""
    from gancli.sampling import interpolation_latents, seeded_latents, seeded_rng

    if interpolate:
        return interpolation_latents(rows, interpolate, dim, seed, truncation), interpolate, None
    rng = seeded_rng(seed)
    z = seeded_latents(n, dim, rng, truncation)
    if groups is None:
        return z, None, None
    from gancli.latent_arithmetic import arithmetic_latents

    row = arithmetic_latents(z, groups, NEIGHBOURS, rng)  # offsets drawn after the grid's latents
    labels = [g.label for g in groups] + ["="] + ["~"] * NEIGHBOURS
    return row, row.shape[0], labels


def _source_line(loaded: LoadedGenerator, run: Path | None) -> str:
    """Which run, checkpoint and iteration the images came from."""
    which = "G_ema, the EMA weights" if loaded.ema else "the generator G"
    line = f"From {loaded.checkpoint} (iteration {loaded.iteration:,}, {which})"
    if run is None:
        line += ": the latest run under runs/; name a run to choose another"
    return line + "."


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
