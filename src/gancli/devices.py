"""Choosing the training device and what it supports."""

from __future__ import annotations

import torch

from gancli.errors import UserError


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda, else mps, else cpu; an explicit device that is absent is a clear error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(
                f"--device {name} was asked for, but this PyTorch sees no CUDA GPU (torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}). Use --device cpu, or install a CUDA build of PyTorch on a machine with an NVIDIA GPU."
            )
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(
                f"--device {name} does not exist: this machine has {torch.cuda.device_count()} CUDA device(s) (cuda:0 to cuda:{torch.cuda.device_count() - 1})."
            )
        return device
    if name == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise UserError(
                "--device mps was asked for, but Apple's Metal backend is not available here. Use --device cpu (or auto)."
            )
        return torch.device("mps")
    if name == "cpu":
        return torch.device("cpu")
    raise UserError(
        f"--device {name} is not a device gan knows. Accepted values: auto, cpu, cuda, cuda:N, mps."
    )


def use_channels_last(setting: str, device: torch.device) -> bool:
    """Channels-last memory format: 'on', 'off', or 'auto' (on for CUDA, where it was measured to help)."""
    if setting == "auto":
        return device.type == "cuda"
    return setting == "on"


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices in hardware (Intel AMX), where `--amp` pays:
    measured 1.75x per flowers64 epoch on a 2-core Xeon with AMX (benchmarks/README.md). On
    CPUs without it (AVX2 only) bf16 is emulated and not faster. torch < 2.3 cannot tell: False."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    try:
        return bool(probe()) if probe is not None else False
    except RuntimeError:  # a build without the CPU capability probe
        return False
