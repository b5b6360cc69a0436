"""`gan export`: a trained generator as an ONNX, .pt2 or TorchScript file, checked against PyTorch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from gancli.cli.fmt import escape, human_size

console = Console()


def export_command(
    run: Annotated[Path, typer.Argument(metavar="RUN|CKPT", help="Run folder or checkpoint file.")],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="onnx, pt2 (torch.export.save) or torchscript (deprecated in torch 2.14; pt2 replaces it).",
        ),
    ] = "onnx",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="File to write. Default: RUN/export/generator.onnx (.pt2, .torchscript.pt)."
        ),
    ] = None,
    uint8: Annotated[
        bool,
        typer.Option(
            "--uint8", help="Output uint8 images in [0, 255] (as `gan sample` saves them) instead of [-1, 1]."
        ),
    ] = False,
    best: Annotated[
        bool,
        typer.Option(
            "--best", help="Export the run's best.pt (lowest FID; runs trained with --score-every)."
        ),
    ] = False,
    truncation: Annotated[
        float | None,
        typer.Option(
            "--truncation",
            metavar="PSI",
            help="Truncate the latents to [-PSI, PSI] inside the model (inverse CDF; the distribution of gan sample --truncation).",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was written as JSON.")] = False,
) -> None:
    """Export the generator (EMA weights when the run has them) for use outside gancli.

    The file takes latents (N, latent_dim), any N (a conditional run's also each image's class index, int64 (N,)), and returns images (N, C, H, W); its metadata records the latent size, resolution, channels, preset and gancli version. It is checked against PyTorch on fixed latents (with onnxruntime for ONNX, torch.export.load for .pt2) before it is written. ONNX needs the optional packages: pip install -e ".\\[export]" in your gancli clone.

    Examples:

      gan export runs/quick-20261127-101500

      gan export runs/mine --format pt2 --truncation 0.7

      gan export runs/mine --format torchscript --out generator.pt

      gan export runs/mine/checkpoints/last.pt --uint8 --out app/generator.onnx
    """
    from gancli.export import export_generator  # torch loads here, not at `gan --help`

    result = export_generator(
        run, fmt.lower(), out, uint8=uint8, overwrite=force, best=best, truncation=truncation
    )
    if as_json:
        print(json.dumps({**vars(result), "path": str(result.path)}, indent=2))
        return
    meta = result.metadata
    console.print(
        f"Wrote {escape(result.path)} ({result.format}, {human_size(result.size_bytes)}): "
        f"latent {meta['latent_dim']}"
        + (f" + class ({escape(', '.join(json.loads(meta['classes'])))})" if "classes" in meta else "")
        + f" -> {meta['output']}"
        + (f"; latents truncated to ±{meta['truncation']} inside" if "truncation" in meta else "")
        + ".\n"
        f"Checked against PyTorch on fixed latents: largest difference {result.max_diff:.3g}.",
        highlight=False,
    )
    if result.format == "torchscript":
        console.print(
            "note: TorchScript is deprecated since torch 2.14 (torch.jit.load warns); --format pt2 "
            "(torch.export) is the format that replaces it.",
            highlight=False,
        )
