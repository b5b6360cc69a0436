"""`gan score`: parse options, render the report (the work is gancli.metrics.scoring)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gancli.cli.fmt import escape
from gancli.cli.progress import counting
from gancli.metrics.registry import METRICS, decimals, labels

METRICS_HELP = f"Comma-separated: {', '.join(METRICS)}. Default: all of them (fid,is for a mu/sigma-only .npz reference)."


def score_command(
    target: Annotated[
        Path,
        typer.Argument(
            metavar="RUN|CKPT|FOLDER",
            help="Run folder or checkpoint (images are generated), or a folder of images.",
        ),
    ],
    ref: Annotated[
        str,
        typer.Option(
            "--ref",
            help="Reference: a dataset name, a folder of images, or a statistics .npz (pytorch-fid's mu/sigma layout).",
        ),
    ],
    metrics: Annotated[str | None, typer.Option("--metrics", help=METRICS_HELP)] = None,
    n: Annotated[
        int | None,
        typer.Option(
            "-n",
            "--num",
            help="Images to generate (default 10,000); for a folder, use at most this many (default: all).",
        ),
    ] = None,
    ref_n: Annotated[
        int,
        typer.Option(
            "--ref-n",
            help="Use a fixed random subset of this many reference images (0: all). Cached separately.",
        ),
    ] = 0,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Images per Inception forward pass (and per generator pass).")
    ] = 50,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    resize: Annotated[
        str,
        typer.Option(
            "--resize",
            help="Input pipeline: tf (torch-fidelity/TensorFlow bilinear, the default), pytorch-fid (F.interpolate), clean (clean-fid's PIL bicubic).",
        ),
    ] = "tf",
    kid_subset_size: Annotated[
        int | None,
        typer.Option(
            "--kid-subset-size",
            help="Images per KID subset (torch-fidelity's default 1000); both sets must have at least this many.",
        ),
    ] = None,
    kid_subsets: Annotated[
        int | None,
        typer.Option("--kid-subsets", help="Number of KID subsets (default 100, torch-fidelity's)."),
    ] = None,
    weights: Annotated[
        Path | None,
        typer.Option(
            "--weights",
            help="FID Inception weights file (pt_inception-2015-12-05-6726825d.pth). Default: $GAN_INCEPTION_WEIGHTS, else `gan download inception`'s copy.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generator's latents.")] = 0,
    truncation: Annotated[
        float | None,
        typer.Option(
            "--truncation",
            metavar="PSI",
            help="Score the generator with truncated latents (as gan sample --truncation); reported with the scores.",
        ),
    ] = None,
    class_name: Annotated[
        str | None,
        typer.Option(
            "--class",
            metavar="NAME|INDEX",
            help="A conditional run: score its images of this class against the reference's images of it (--ref: the class folders). Without it, its classes follow the reference's mix when --ref has labels.",
        ),
    ] = None,
    best: Annotated[
        bool,
        typer.Option("--best", help="Score the run's best.pt (lowest FID; runs trained with --score-every)."),
    ] = False,
    resolution: Annotated[
        int | None,
        typer.Option(
            "--resolution",
            help="Image size for a folder target (default: its first image's height; a generator uses its own).",
        ),
    ] = None,
    root: Annotated[
        Path | None, typer.Option("--root", help="Data root. Default: $GAN_HOME, else ~/.cache/gancli.")
    ] = None,
    export_ref: Annotated[
        Path | None,
        typer.Option(
            "--export-ref", help="Also write the reference mu/sigma to this .npz in pytorch-fid's layout."
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print the results as JSON on stdout (progress and warnings go to stderr)."
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the --export-ref file if it exists.")
    ] = False,
) -> None:
    """Score generated images against a reference with the standard FID Inception network.

    Examples:

      gan download inception

      gan score runs/quick-20261127-101500 --ref shapes -n 2000 --kid-subset-size 500

      gan score samples/ --ref cifar10 --metrics fid,is --resize pytorch-fid --json

      gan score runs/mine --ref stats/cifar10-train.npz --metrics fid

      gan score runs/mine --ref shapes -n 2000 --truncation 0.7
    """
    from gancli.metrics.weights import find_weights

    find_weights(weights, root)  # before torch and the generator load: a missing file is said at once
    from gancli.metrics.scoring import ScoreRequest, score

    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    request = ScoreRequest(
        target=target, ref=ref, metrics=metrics, n=n, ref_n=ref_n, batch_size=batch_size, device=device,
        resize=resize, weights=weights,
        seed=seed, resolution=resolution, root=root, export_ref=export_ref, best=best, force=force,
        truncation=truncation, class_name=class_name,
    )  # fmt: skip
    if kid_subset_size is not None:
        request.kid_subset_size = kid_subset_size
    if kid_subsets is not None:
        request.kid_subsets = kid_subsets
    show = not as_json or err.is_terminal
    report = score(
        request,
        warn=lambda text: err.print(escape(text)),
        progress=lambda label: counting(err, label, show),
    )
    if as_json:
        # print() rather than rich: scripts parse this, so no wrapping or markup.
        print(json.dumps(report, indent=2))
        return
    out.print(_table(report))


# How a conditional generator's classes were drawn, as the table's caption says it.
_MIXES = {"reference": "reference's mix", "equal": "equal shares (the reference has no usable labels)"}


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
        fmt = f"{{:.{decimals(name)}f}}"
        shown = fmt.format(value) if math.isfinite(value) else str(value)
        if float(shown) == 0:
            shown = fmt.format(0.0)  # rounding noise of an exact 0 would print as "-0.0000"
        table.add_row(
            labels().get(name, name),
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
    psi = report.get("truncation")
    table.caption = (
        (f"class {report['class']}, " if report.get("class") is not None else "")
        + (f"classes in the {_MIXES[report['class_mix']]}, " if report.get("class_mix") in _MIXES else "")
        + (f"truncation {psi:g}, " if psi is not None else "")
        + f"resize {report['resize']}, {report['resolution']}px {report['channels']}ch, "
        f"weights {report['weights_sha256_prefix']}{kid}"
    )
    table.caption_justify = "left"
    return table
