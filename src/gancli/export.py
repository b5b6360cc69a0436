"""A trained generator as a standalone file: ONNX (for onnxruntime, browsers, other languages) or
TorchScript (for C++/LibTorch), checked against PyTorch before it is written.

The exported model takes a batch of latents (N, latent_dim), N free, and returns images
(N, C, H, W): float32 in [-1, 1], or uint8 in [0, 255] rounded exactly as `gan sample` does.
The generator is the one `gan sample` draws from (its EMA weights when the run keeps them),
in eval mode, so batch norm uses its running statistics and the output of a latent does not
depend on the rest of its batch.

ONNX goes through torch's default exporter since 2.9, the torch.export-based one (it needs
the onnxscript package); the older TorchScript-based exporter is deprecated and due for
removal, so it is not used.
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gancli import __version__
from gancli.errors import UserError
from gancli.fsutil import atomic_write_bytes, check_no_links_below, check_output_files, user_path
from gancli.runs import CHECKPOINTS, RunFolder
from gancli.sampling import best_checkpoint, latents, load_generator
from gancli.training.checkpoint import find_checkpoint

FORMATS = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}
METADATA_FILE = "gancli.json"  # the TorchScript extra file holding the metadata
CHECK_SEED, CHECK_N = 1234, 5  # fixed latents of the check; 5, not the export example's 2: the batch is free
TOLERANCE = {"float32": 1e-3, "uint8": 1}  # a rounding step of uint8 may land one level away
_EXTRA_HINT = 'Install it with: pip install "gancli[export]" (onnx, onnxruntime and onnxscript).'


class ExportedGenerator(nn.Module):
    """Latents -> images in [-1, 1], or uint8 [0, 255] as `gan sample` rounds them."""

    def __init__(self, generator: nn.Module, uint8: bool) -> None:
        super().__init__()
        self.generator, self.uint8 = generator, uint8

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.generator(z)
        if self.uint8:
            x = x.float().add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8)
        return x


@dataclass
class ExportResult:
    """What was written, and how far the exported model is from PyTorch on the check's latents."""

    path: Path
    format: str
    metadata: dict[str, Any]
    max_diff: float
    size_bytes: int


def default_out(source: Path, fmt: str) -> Path:
    """RUN/export/generator.<ext>, beside the run's checkpoints."""
    return _run_dir(source) / "export" / f"generator{FORMATS[fmt]}"


def _run_dir(source: Path) -> Path:
    """The run folder of a run folder or checkpoint (a loose checkpoint's own folder)."""
    ckpt = find_checkpoint(source)
    return ckpt.parent.parent if ckpt.parent.name == CHECKPOINTS else ckpt.parent


def _require_onnx() -> tuple[Any, Any]:
    missing = []
    for name in ("onnx", "onnxruntime", "onnxscript"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise UserError(
            f"ONNX export needs the package(s) {', '.join(missing)}, not installed. {_EXTRA_HINT}"
        )
    import onnx
    import onnxruntime

    return onnx, onnxruntime


def _onnx_bytes(model: ExportedGenerator, example: torch.Tensor, metadata: dict[str, str]) -> bytes:
    onnx, _ = _require_onnx()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.export's notes on its own internals, not the user's business
        program = torch.onnx.export(
            model,
            (example,),
            dynamo=True,
            verbose=False,
            input_names=["latent"],
            output_names=["image"],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
        )
    proto = program.model_proto
    onnx.helper.set_model_props(proto, metadata)
    return proto.SerializeToString()


def _run_onnx(data: bytes, z: torch.Tensor) -> torch.Tensor:
    _, ort = _require_onnx()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {"latent": z.numpy()})[0])


def _torchscript_bytes(model: ExportedGenerator, example: torch.Tensor, metadata: dict[str, str]) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated; the format is still wanted
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(model, example, check_trace=False)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer, _extra_files={METADATA_FILE: json.dumps(metadata)})
    return buffer.getvalue()


def _run_torchscript(data: bytes, z: torch.Tensor) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        loaded = torch.jit.load(io.BytesIO(data), map_location="cpu")
    with torch.no_grad():
        return loaded(z)


def read_torchscript_metadata(path: Path) -> dict[str, str]:
    """The metadata of a TorchScript file written by `gan export`."""
    extra = {METADATA_FILE: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return json.loads(extra[METADATA_FILE])


def export_generator(
    source: Path,
    fmt: str,
    out: Path | None = None,
    *,
    uint8: bool = False,
    overwrite: bool = False,
    best: bool = False,
) -> ExportResult:
    """Export the generator of a run folder or checkpoint; written only once it matches PyTorch."""
    if fmt not in FORMATS:
        raise UserError(f"--format is '{fmt}'; accepted values: {', '.join(FORMATS)}.")
    if fmt == "onnx":
        _require_onnx()  # before the checkpoint is read: say what is missing at once
    out = user_path(out, "--out") if out is not None else default_out(source, fmt)
    if RunFolder(_run_dir(source)).is_run():  # RUN/export as a link would write outside the run
        check_no_links_below(_run_dir(source), out)
    check_output_files([out], overwrite, "--out")
    generator, cfg = load_generator(source, "cpu", best=best)
    model = ExportedGenerator(generator, uint8).eval()
    dtype = "uint8" if uint8 else "float32"
    metadata = {
        "producer": "gancli",
        "gancli_version": __version__,
        "preset": cfg.preset,
        "latent_dim": str(cfg.model.latent_dim),
        "resolution": str(cfg.model.resolution),
        "channels": str(cfg.model.channels),
        "input": f"latent: float32 (batch, {cfg.model.latent_dim}), standard normal",
        "output": f"image: {dtype} (batch, {cfg.model.channels}, {cfg.model.resolution}, {cfg.model.resolution}), "
        + ("0..255" if uint8 else "-1..1"),
        "source_checkpoint": (best_checkpoint(source) if best else find_checkpoint(source)).name,
    }
    example = latents(2, cfg.model.latent_dim, CHECK_SEED + 1)
    build, run = (_onnx_bytes, _run_onnx) if fmt == "onnx" else (_torchscript_bytes, _run_torchscript)
    data = build(model, example, metadata)
    z = latents(CHECK_N, cfg.model.latent_dim, CHECK_SEED)
    with torch.no_grad():
        want = model(z)
    got = run(data, z)
    if got.shape != want.shape:
        raise UserError(
            f"The exported {fmt} model gives shape {tuple(got.shape)}, PyTorch {tuple(want.shape)}."
        )
    diff = (got.double() - want.double()).abs().max().item()
    if not diff <= TOLERANCE[dtype]:
        raise UserError(
            f"The exported {fmt} model differs from PyTorch by {diff:g} (more than {TOLERANCE[dtype]:g}) on the check's latents; {out} was not written. Run with --debug and report it."
        )
    atomic_write_bytes(out, data)
    return ExportResult(out, fmt, metadata, diff, len(data))
