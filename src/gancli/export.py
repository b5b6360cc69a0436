"""A trained generator as a standalone file: ONNX (for onnxruntime, browsers, other languages),
torch.export's .pt2 (torch.export.load, AOTInductor) or TorchScript (for C++/LibTorch; deprecated
since torch 2.14 and kept while torch ships it, .pt2 replaces it), checked against PyTorch
before it is written.

The exported model takes a batch of latents (N, latent_dim), N free (and for a class-conditional
run a second input: each image's class index, int64 (N,)), and returns images (N, C, H, W): float32 in [-1, 1], or uint8 in [0, 255] rounded exactly as `gan sample` does.
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
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gancli import __version__
from gancli.config import RunConfig
from gancli.errors import UserError
from gancli.fsutil import atomic_write_bytes, check_no_links_below, check_output_files, user_path
from gancli.runs import CHECKPOINTS, RunFolder, find_checkpoint
from gancli.sampling import best_checkpoint, check_truncation, latents, load_generator

Inputs = tuple[torch.Tensor, ...]  # the latents, and for a conditional G the classes
INPUT_NAMES = ("latent", "class")
FORMATS = {"onnx": ".onnx", "pt2": ".pt2", "torchscript": ".torchscript.pt"}
METADATA_FILE = "gancli.json"  # the TorchScript / .pt2 extra file holding the metadata
CHECK_SEED, CHECK_N = 1234, 5  # fixed latents of the check; 5, not the export example's 2: the batch is free
ERF_LIMIT = 1 - 1e-6  # |erf| kept below 1 (erfinv(1) is infinite): latents stay within +-4.9
TOLERANCE = {"float32": 1e-3, "uint8": 1}  # a rounding step of uint8 may land one level away
_EXTRA_HINT = (
    'Install it with: pip install -e ".[export]" in your gancli clone (or pip install onnx onnxruntime '
    "onnxscript), or use --format pt2 or torchscript, which need no extra package."
)


def erfinv(x: torch.Tensor) -> torch.Tensor:
    """The inverse error function from plain operations (M. Giles' single-precision polynomials,
    2010): ONNX has Erf but no ErfInv, and this exports to every format alike."""
    w = -torch.log((1 - x) * (1 + x))
    central, tail = w - 2.5, torch.sqrt(w) - 3
    p_c = torch.full_like(x, 2.81022636e-08)
    for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
              -0.00417768164, 0.246640727, 1.50140941):  # fmt: skip
        p_c = c + p_c * central
    p_t = torch.full_like(x, -0.000200214257)
    for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
              0.00943887047, 1.00167406, 2.83297682):  # fmt: skip
        p_t = c + p_t * tail
    return torch.where(w < 5, p_c, p_t) * x


def truncate_map(z: torch.Tensor, psi: float) -> torch.Tensor:
    """Standard-normal z -> a standard normal truncated to [-psi, psi], entry by entry, by the
    inverse CDF: sqrt(2) erfinv(erf(psi/sqrt(2)) erf(z/sqrt(2))). The same distribution as
    `gan sample --truncation` (which draws again), not the same draws."""
    scale = math.erf(psi / math.sqrt(2))
    x = (scale * torch.erf(z / math.sqrt(2))).clamp(-ERF_LIMIT, ERF_LIMIT)
    return (math.sqrt(2) * erfinv(x)).clamp(-psi, psi)


class ExportedGenerator(nn.Module):
    """Latents -> images in [-1, 1], or uint8 [0, 255] as `gan sample` rounds them; with
    `truncation`, the latents truncated inside the graph first (truncate_map)."""

    def __init__(self, generator: nn.Module, uint8: bool, truncation: float | None = None) -> None:
        super().__init__()
        self.generator, self.uint8, self.truncation = generator, uint8, truncation

    def forward(self, z: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        if self.truncation is not None:
            z = truncate_map(z, self.truncation)
        # a conditional G's second input: each image's class
        x = self.generator(z) if classes is None else self.generator(z, classes)
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


def _dynamic_batch(inputs: Inputs) -> tuple[dict, ...]:
    """Every input's first dimension: one batch size, free."""
    batch = torch.export.Dim("batch")
    return tuple({0: batch} for _ in inputs)


def _onnx_bytes(model: ExportedGenerator, example: Inputs, metadata: dict[str, str]) -> bytes:
    onnx, _ = _require_onnx()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.export's notes on its own internals, not the user's business
        program = torch.onnx.export(
            model,
            example,
            dynamo=True,
            verbose=False,
            input_names=list(INPUT_NAMES[: len(example)]),
            output_names=["image"],
            dynamic_shapes=_dynamic_batch(example),
        )
    proto = program.model_proto
    onnx.helper.set_model_props(proto, metadata)
    return proto.SerializeToString()


def _run_onnx(data: bytes, inputs: Inputs) -> torch.Tensor:
    _, ort = _require_onnx()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {k: v.numpy() for k, v in zip(INPUT_NAMES, inputs)})[0])


def _torchscript_bytes(model: ExportedGenerator, example: Inputs, metadata: dict[str, str]) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated; the format is still wanted
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(model, example, check_trace=False)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer, _extra_files={METADATA_FILE: json.dumps(metadata)})
    return buffer.getvalue()


def _run_torchscript(data: bytes, inputs: Inputs) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        loaded = torch.jit.load(io.BytesIO(data), map_location="cpu")
    with torch.no_grad():
        return loaded(*inputs)


def _pt2_bytes(model: ExportedGenerator, example: Inputs, metadata: dict[str, str]) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.export's notes on its own internals
        program = torch.export.export(model, example, dynamic_shapes=_dynamic_batch(example))
        buffer = io.BytesIO()
        torch.export.save(program, buffer, extra_files={METADATA_FILE: json.dumps(metadata)})
    return buffer.getvalue()


def _run_pt2(data: bytes, inputs: Inputs) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = torch.export.load(io.BytesIO(data)).module()
    with torch.no_grad():
        return loaded(*inputs)


def read_pt2_metadata(path: Path) -> dict[str, str]:
    """The metadata of a .pt2 file written by `gan export --format pt2`."""
    extra = {METADATA_FILE: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.export.load(str(path), extra_files=extra)
    return json.loads(extra[METADATA_FILE])


def read_torchscript_metadata(path: Path) -> dict[str, str]:
    """The metadata of a TorchScript file written by `gan export`."""
    extra = {METADATA_FILE: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return json.loads(extra[METADATA_FILE])


def _metadata(cfg: RunConfig, uint8: bool, truncation: float | None, checkpoint: Path) -> dict[str, str]:
    m = cfg.model
    dtype = "uint8" if uint8 else "float32"
    latent = f"latent: float32 (batch, {m.latent_dim}), standard normal"
    if truncation is not None:
        latent += f", truncated to [-{truncation:g}, {truncation:g}] inside the model (inverse CDF)"
    metadata = {
        "producer": "gancli",
        "gancli_version": __version__,
        "preset": cfg.preset,
        "latent_dim": str(m.latent_dim),
        "resolution": str(m.resolution),
        "channels": str(m.channels),
        "input": latent,
        "output": f"image: {dtype} (batch, {m.channels}, {m.resolution}, {m.resolution}), "
        + ("0..255" if uint8 else "-1..1"),
        "source_checkpoint": checkpoint.name,
    }
    if truncation is not None:
        metadata["truncation"] = f"{truncation:g}"
    if m.conditional:
        metadata["class_input"] = f"class: int64 (batch,), an index into classes (0 to {len(m.classes) - 1})"
        metadata["classes"] = json.dumps(m.classes)
    return metadata


def _inputs(cfg: RunConfig, seed: int, n: int) -> Inputs:
    """The latents of a seed, and for a conditional G each image's class (cycling over them)."""
    z = latents(n, cfg.model.latent_dim, seed)
    return (z, torch.arange(n) % len(cfg.model.classes)) if cfg.model.conditional else (z,)


_BUILDERS = {
    "onnx": (_onnx_bytes, _run_onnx),
    "pt2": (_pt2_bytes, _run_pt2),
    "torchscript": (_torchscript_bytes, _run_torchscript),
}


def export_generator(
    source: Path,
    fmt: str,
    out: Path | None = None,
    *,
    uint8: bool = False,
    overwrite: bool = False,
    best: bool = False,
    truncation: float | None = None,
) -> ExportResult:
    """Export the generator of a run folder or checkpoint; written only once it matches PyTorch.
    `truncation` psi: the latents are truncated to [-psi, psi] inside the exported model."""
    if fmt not in FORMATS:
        raise UserError(f"--format is '{fmt}'; accepted values: {', '.join(FORMATS)}.")
    check_truncation(truncation)
    if fmt == "onnx":
        _require_onnx()  # before the checkpoint is read: say what is missing at once
    out = user_path(out, "--out") if out is not None else default_out(source, fmt)
    if RunFolder(_run_dir(source)).is_run():  # RUN/export as a link would write outside the run
        check_no_links_below(_run_dir(source), out)
    check_output_files([out], overwrite, "--out")
    generator, cfg = load_generator(source, "cpu", best=best)
    model = ExportedGenerator(generator, uint8, truncation).eval()
    dtype = "uint8" if uint8 else "float32"
    checkpoint = best_checkpoint(source) if best else find_checkpoint(source)
    metadata = _metadata(cfg, uint8, truncation, checkpoint)
    build, run = _BUILDERS[fmt]
    data = build(model, _inputs(cfg, CHECK_SEED + 1, 2), metadata)
    inputs = _inputs(cfg, CHECK_SEED, CHECK_N)
    with torch.no_grad():
        want = model(*inputs)
    got = run(data, inputs)
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
