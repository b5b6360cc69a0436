"""How the nets run on this device: the Adam kernel, optimiser state matched to the nets'
layout after a resume, and torch.compile with its failures told apart from training's."""

from __future__ import annotations

import torch
from torch import nn

from gancli.errors import UserError


def _match_optimizer_to(opt: torch.optim.Optimizer, net: nn.Module, flags: dict[str, bool]) -> None:
    """After `opt.load_state_dict`: moments in the parameters' memory layout (a checkpoint from
    a channels-last run loaded into a contiguous one, or back, keeps the saved strides, which
    fused Adam rejects on CUDA and misreads on CPU) and this device's Adam kernel (the saved
    param_groups carry the saving device's fused/foreach flags)."""
    by_param = {id(p): p for p in net.parameters()}
    for p_id, state in ((id(p), opt.state[p]) for group in opt.param_groups for p in group["params"]):
        param = by_param.get(p_id)
        for key, value in state.items():
            if (
                param is not None
                and isinstance(value, torch.Tensor)
                and value.shape == param.shape
                and value.stride() != param.stride()
            ):
                state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)
    for group in opt.param_groups:
        group["fused"] = flags.get("fused")
        group["foreach"] = flags.get("foreach")


def adam_flags(device: torch.device) -> dict[str, bool]:
    """The fastest Adam kernel the device has: fused (one kernel for all parameters) on CUDA,
    and on CPU from torch 2.4 (measured on flowers64's 9.5 M parameters: 20 -> 7 ms per
    update on 2 cores); else the multi-tensor foreach loop. Same algorithm either way."""
    major, minor = (int(p) for p in torch.__version__.split(".")[:2])
    if device.type == "cuda" or (device.type == "cpu" and (major, minor) >= (2, 4)):
        return {"fused": True}
    return {"foreach": True}


_COMPILE_HINT = "Train without --compile (eager mode gives the same results), or fix the cause above: torch.compile needs a supported Python version and, on a CPU, a working C++ compiler."


def _compile(g: nn.Module, d: nn.Module, step: str) -> tuple[nn.Module, nn.Module]:
    """torch.compile both nets; the simultaneous step keeps its graph for a second backward.
    What torch.compile refuses at once (an unsupported Python) is a UserError here; what fails
    at the first step (no C++ compiler, an unsupported op) is one in `Trainer.fit`."""
    if step == "simultaneous":
        import torch._functorch.config as functorch_config

        # retain_graph=True conflicts with donated buffers ("compiled with non-empty donated buffers")
        functorch_config.donated_buffer = False
    try:
        return torch.compile(g), torch.compile(d)
    except RuntimeError as exc:
        raise UserError(
            f"--compile is not supported here: {str(exc).splitlines()[0]}. {_COMPILE_HINT}"
        ) from exc


def _compile_failure(exc: BaseException) -> bool:
    """Whether `exc` comes from torch.compile's tracing or code generation (TorchDynamo and the
    backends it wraps), rather than from the training itself."""
    try:
        from torch._dynamo.exc import TorchDynamoException
    except ImportError:  # a torch without dynamo cannot have compiled anything
        return False
    return isinstance(exc, TorchDynamoException)
