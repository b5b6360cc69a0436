"""`gan score`: FID, KID, Inception Score and precision/recall of a generator or an image folder."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gancli.cli.progress import counting
from gancli.devices import resolve_device
from gancli.errors import UserError
from gancli.metrics.api import check_reference, compute_metrics, parse_metrics
from gancli.metrics.features import extract_features
from gancli.metrics.inception import find_weights, load_inception
from gancli.metrics.kid import DEFAULT_SUBSET_SIZE, DEFAULT_SUBSETS
from gancli.metrics.reference import ReferenceStats, dataset_reference, export_npz, load_reference, weights_id
from gancli.metrics.resize import RESIZE_MODES

DEFAULT_N = 10_000
LABELS = {"fid": "FID", "kid": "KID", "is": "Inception Score", "precision": "Precision", "recall": "Recall"}


def score_command(
    target: Path = typer.Argument(
        ..., help="Run folder or checkpoint (images are generated), or a folder of images."
    ),
    ref: str = typer.Option(
        ...,
        "--ref",
        help="Reference: a dataset name, a folder of images, or a statistics .npz (pytorch-fid's mu/sigma layout).",
    ),
    metrics: str | None = typer.Option(
        None,
        "--metrics",
        help="Comma-separated: fid, kid, is, pr. Default: all four (fid,is for a mu/sigma-only .npz reference).",
    ),
    n: int | None = typer.Option(
        None,
        "-n",
        "--num",
        help=f"Images to generate (default {DEFAULT_N:,}); for a folder, use at most this many (default: all).",
    ),
    ref_n: int = typer.Option(
        0,
        "--ref-n",
        help="Use a fixed random subset of this many reference images (0: all). Cached separately.",
    ),
    batch_size: int = typer.Option(
        50, "--batch-size", help="Images per Inception forward pass (and per generator pass)."
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
    resize: str = typer.Option(
        "tf",
        "--resize",
        help="Input pipeline: tf (torch-fidelity/TensorFlow bilinear, the default), pytorch-fid (F.interpolate), clean (clean-fid's PIL bicubic).",
    ),
    kid_subset_size: int = typer.Option(
        DEFAULT_SUBSET_SIZE,
        "--kid-subset-size",
        help="Images per KID subset (torch-fidelity's default 1000); both sets must have at least this many.",
    ),
    kid_subsets: int = typer.Option(DEFAULT_SUBSETS, "--kid-subsets", help="Number of KID subsets."),
    weights: Path | None = typer.Option(
        None,
        "--weights",
        help="FID Inception weights file (pt_inception-2015-12-05-6726825d.pth). Default: $GAN_INCEPTION_WEIGHTS, else `gan download inception`'s copy.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the generator's latents."),
    resolution: int | None = typer.Option(
        None,
        "--resolution",
        help="Image size for a folder target (default: its first image's height; a generator uses its own).",
    ),
    root: Path | None = typer.Option(
        None, "--root", help="Data root. Default: $GAN_HOME, else ~/.cache/gancli."
    ),
    export_ref: Path | None = typer.Option(
        None, "--export-ref", help="Also write the reference mu/sigma to this .npz in pytorch-fid's layout."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the results as JSON on stdout (progress and warnings go to stderr)."
    ),
) -> None:
    """Score generated images against a reference with the standard FID Inception network.

    Examples:

      gan download inception

      gan score runs/quick-20261127-101500 --ref shapes -n 2000 --kid-subset-size 500

      gan score samples/ --ref cifar10 --metrics fid,is --resize pytorch-fid --json

      gan score runs/mine --ref stats/cifar10-train.npz --metrics fid
    """
    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    chosen = parse_metrics(metrics or "fid,kid,is,pr")
    if resize not in RESIZE_MODES:
        raise UserError(f"--resize {resize} is not known; use one of: {', '.join(RESIZE_MODES)}.")
    if batch_size <= 0 or (n is not None and n <= 0) or ref_n < 0:
        raise UserError("--batch-size and -n must be positive, and --ref-n zero or positive.")
    if not Path(target).exists():
        raise UserError(
            f"{target} does not exist. Give a run folder or checkpoint from `gan train`, or a folder of images."
        )
    dev = resolve_device(device)
    weights_path = find_weights(str(weights) if weights else None, root)
    # A statistics file is read first: if it cannot serve the metrics asked for, stop before any work.
    real = _stats_file(ref)
    if real is not None:
        if metrics is None and real.pool is None:
            # Only the default is narrowed; an explicit --metrics kid/pr is an error.
            chosen -= {"kid", "pr"}
            err.print(f"note: {escape(ref)} holds only mu/sigma, so KID and precision/recall are skipped.")
        check_reference(real, chosen)
    model = load_inception(weights_path).to(dev)
    wid = weights_id(weights_path)

    fake_images, channels, res, target_kind = _target_images(
        target, n, seed, dev, batch_size, resolution, root
    )
    show = not as_json or err.is_terminal
    with counting(err, "Inception: reference", show) as progress:
        if real is None:
            real = dataset_reference(
                ref,
                resolution=res,
                channels=channels,
                metric_resize=resize,
                weights=wid,
                model=model,
                device=dev,
                batch_size=batch_size,
                root=root,
                need_features=bool(chosen & {"kid", "pr"}),
                progress=progress,
                subset=ref_n,
            )
    if export_ref is not None:
        export_npz(real, export_ref)
    with counting(err, "Inception: generated", show) as progress:
        fake = extract_features(fake_images, model, resize, dev, progress=progress, batch_size=batch_size)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = compute_metrics(real, fake, chosen, kid_subset_size, kid_subsets)
    for w in caught:
        err.print(f"[yellow]warning:[/] {escape(str(w.message))}")

    report = {
        "target": str(target),
        "target_kind": target_kind,
        "reference": str(ref),
        "n": len(fake),
        "n_ref": real.n,
        "resolution": res,
        "channels": channels,
        "resize": resize,
        "weights": str(weights_path),
        "weights_sha256_prefix": wid,
        "kid_subset_size": kid_subset_size if "kid" in chosen else None,
        "kid_subsets": kid_subsets if "kid" in chosen else None,
        "metrics": results,
    }
    if export_ref is not None:
        report["exported_ref"] = str(export_ref)
    if as_json:
        # print() rather than rich: scripts parse this, so no wrapping or markup.
        print(json.dumps(report, indent=2))
        return
    out.print(_table(report))


def _target_images(
    target: Path,
    n: int | None,
    seed: int,
    dev: torch.device,
    batch_size: int,
    resolution: int | None,
    root: Path | None,
) -> tuple[torch.Tensor, int, int, str]:
    """(uint8 images, channels, resolution, kind) of a run folder / checkpoint (generated) or an image folder."""
    target = Path(target)
    if not target.exists():
        raise UserError(
            f"{target} does not exist. Give a run folder or checkpoint from `gan train`, or a folder of images."
        )
    is_run = target.is_file() or (target / "checkpoints").is_dir()
    if is_run:
        from gancli.sampling import generate_images, load_generator

        generator, cfg = load_generator(target, dev)
        count = n or DEFAULT_N
        images = generate_images(generator, count, seed, dev, batch_size)
        return images, cfg.model.channels, cfg.model.resolution, "generator"
    from gancli.data.source import load_images

    res = resolution or _first_image_size(target)
    # Channels: 3 (RGB). A grayscale folder decodes to equal R, G and B, which is exactly what
    # the Inception input gets for grayscale images (repeated channels), so nothing is lost.
    prepared = load_images(str(target), res, 3, root=str(root) if root else None)
    images = prepared.images
    if n is not None:
        images = images[:n]
    return images, 3, res, "folder"


def _first_image_size(folder: Path) -> int:
    from gancli.data.folder import image_side, scan_images

    entries = scan_images(folder)
    if not entries:
        raise UserError(
            f"No image files were found under {folder}. Give a folder of images, or a run folder/checkpoint."
        )
    return image_side(folder / entries[0][0])  # bounded: the header is untrusted


def _stats_file(ref: str) -> ReferenceStats | None:
    """The statistics in ``ref`` when it names a .npz file; None for a dataset or folder."""
    if not ref.endswith(".npz"):
        return None
    path = Path(ref).expanduser()
    if not path.is_file():
        raise UserError(f"Reference statistics file {ref} does not exist.")
    return load_reference(path)


def _table(report: dict) -> Table:
    table = Table(title=f"gan score: {escape(report['target'])}", title_justify="left")
    for col, justify in (
        ("metric", "left"),
        ("value", "right"),
        ("± std", "right"),
        ("n", "right"),
        ("reference", "left"),
    ):
        table.add_column(col, justify=justify)
    n_ref = report["n_ref"]
    ref = f"{report['reference']} ({n_ref:,} images)" if n_ref else report["reference"]
    for name, result in report["metrics"].items():
        value = result["value"]
        std = result["std"]
        fmt = "{:.6f}" if name in ("kid", "precision", "recall") else "{:.4f}"
        shown = fmt.format(value) if np.isfinite(value) else str(value)
        if float(shown) == 0:
            shown = fmt.format(0.0)  # rounding noise of an exact 0 would print as "-0.0000"
        table.add_row(
            LABELS.get(name, name),
            shown,
            fmt.format(std) if std is not None else "",
            f"{report['n']:,}",
            escape(ref),
        )
    kid = (
        f", KID subsets {report['kid_subsets']} x {report['kid_subset_size']}"
        if report["kid_subset_size"]
        else ""
    )
    table.caption = (
        f"resize {report['resize']}, {report['resolution']}px {report['channels']}ch, "
        f"weights {report['weights_sha256_prefix']}{kid}"
    )
    table.caption_justify = "left"
    return table
