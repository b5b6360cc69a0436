"""Checking a loaded checkpoint before anything uses it: structure, types, shapes and sizes.

Weights-only loading stops code from running, but what it loads is still untrusted: a wrong
shape reaches fused Adam kernels (a segfault), a tensor where a number belongs reaches int(),
and a small file can describe a huge expanded tensor. `validate_checkpoint` checks every part
that gancli reads against the checkpoint's own config and the networks that config builds, so
`gan sample`, `gan score`, `gan train --resume` (and anything else that goes through
`load_checkpoint`) either get a whole checkpoint or one message naming the damaged key.

Unknown top-level keys are accepted and ignored: a newer gancli of the same format version may
add optional entries (as `generator_ema` and `best_fid` were added), and nothing here ever reads
them, so they cannot do harm; a change that older readers must not ignore bumps VERSION instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from shlex import quote
from typing import Any

import torch
from torch import nn

from gancli.config import RunConfig, from_dict
from gancli.errors import UserError
from gancli.models.build import build_discriminator, build_generator, trainable
from gancli.runs import LAST, PREVIOUS

FORMAT = "gancli-checkpoint"
VERSION = 1
REQUIRED = ("config", "iteration", "generator", "discriminator", "opt_g", "opt_d", "rng")
MAX_ITERATION = 1 << 53  # counters beyond what a float64 (metrics, elapsed time) holds exactly
MAX_WORLD = 1 << 16
CPU_RNG_BYTES = torch.Generator().get_state().numel()  # 5,056 today
MAX_RNG_BYTES = 1 << 16  # a device generator's state is a few bytes (CUDA: 16)


class Damage(Exception):
    """A part of a checkpoint that is not what gancli wrote (turned into a UserError with the path)."""


def fallback_hint(path: Path) -> str:
    """' Use previous.pt instead ...' when `path` is a run's last.pt and previous.pt exists."""
    previous = path.parent / PREVIOUS
    if path.name == LAST and previous.is_file():
        return (
            f" The previous checkpoint {previous} may still be good: pass it instead "
            f"(`gan train --resume {quote(str(previous))}`, `gan sample {quote(str(previous))}`)."
        )
    return ""


def validate_checkpoint(payload: Any, path: str | Path) -> RunConfig:
    """The checkpoint's own config, after checking every part of `payload` against it."""
    path = Path(path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UserError(
            f"{path} is not a gan checkpoint (no '{FORMAT}' marker). Give a checkpoint written by "
            "`gan train` (a run folder, or its checkpoints/last.pt)."
        )
    version = payload.get("version", 0)
    if not _is_int(version) or version < 1:
        raise UserError(f"Checkpoint {path} is damaged: version is {_show(version)}.{fallback_hint(path)}")
    if version > VERSION:
        raise UserError(
            f"Checkpoint {path} was written by a newer gancli (format {version}); upgrade gancli to read it."
        )
    missing = [k for k in REQUIRED if k not in payload]
    if missing:
        raise UserError(
            f"Checkpoint {path} lacks {', '.join(missing)}; it is incomplete.{fallback_hint(path)}"
        )
    cfg = _config(payload["config"], path)
    try:
        _check_parts(payload, cfg)
        check_finite(payload)
    except Damage as exc:
        raise UserError(f"Checkpoint {path} is damaged: {exc}.{fallback_hint(path)}") from None
    return cfg


def check_finite(payload: dict) -> None:
    """Refuse NaN or inf in the weights, the optimiser moments or the fixed latents (called once
    their structure is checked): such a net draws black grids, exports as garbage and resumes
    into a loss of NaN, so the key is named here instead."""
    parts = [
        (f"{net}.{name}", tensor)
        for net in ("generator", "generator_ema", "discriminator")
        if net in payload
        for name, tensor in payload[net].items()
    ]
    for opt in ("opt_g", "opt_d"):
        for index, state in payload[opt].get("state", {}).items():
            parts += [(f"{opt}.state.{index}.{name}", value) for name, value in state.items()]
    parts.append(("fixed_latents", payload.get("fixed_latents")))
    for key, tensor in parts:
        if torch.is_tensor(tensor) and tensor.is_floating_point() and not bool(tensor.isfinite().all()):
            raise Damage(f"{key} holds {'NaN' if bool(tensor.isnan().any()) else 'inf'}")


def _config(data: Any, path: Path) -> RunConfig:
    if not isinstance(data, dict):
        raise UserError(
            f"Checkpoint {path} is damaged: config is {_show(data)}, expected a mapping.{fallback_hint(path)}"
        )
    try:
        cfg = from_dict(data)
    except UserError as exc:
        raise UserError(f"Checkpoint {path} carries a config this gancli cannot use: {exc}") from exc
    if cfg.model.conditional and not cfg.model.classes:  # training fills them before any checkpoint
        raise UserError(
            f"Checkpoint {path} is damaged: its config is conditional but names no classes (model.classes).{fallback_hint(path)}"
        )
    return cfg


def expected_nets(cfg: RunConfig) -> tuple[nn.Module, nn.Module]:
    """G and D of `cfg` as training builds them (spectral norm included), on the meta device:
    shapes only, no memory."""
    with torch.device("meta"):
        return build_generator(cfg.model), build_discriminator(cfg.model)


def _check_parts(payload: dict, cfg: RunConfig) -> None:
    _counters(payload)
    generator, discriminator = expected_nets(cfg)
    for key in ("generator", "generator_ema"):
        if key in payload or key == "generator":
            check_state_dict(key, payload[key], generator)
    check_state_dict("discriminator", payload["discriminator"], discriminator)
    check_optimizer("opt_g", payload["opt_g"], generator.parameters())
    check_optimizer("opt_d", payload["opt_d"], trainable(discriminator))
    _rng("rng", payload["rng"])
    by_rank = payload.get("rng_by_rank")
    if by_rank is not None:
        world = payload.get("world_size", 1)
        if not isinstance(by_rank, list) or len(by_rank) != world:
            raise Damage(f"rng_by_rank is {_show(by_rank)}, expected a list of {world} rank states")
        for rank, state in enumerate(by_rank):
            _rng(f"rng_by_rank[{rank}]", state)
    if "fixed_latents" in payload:
        want = (cfg.train.fixed_latents, cfg.model.latent_dim)
        _tensor("fixed_latents", payload["fixed_latents"], want, floating=True)


def _counters(payload: dict) -> None:
    _int("iteration", payload["iteration"], 0, MAX_ITERATION)
    for key, low, high in (("epoch", 0, MAX_ITERATION), ("world_size", 1, MAX_WORLD)):
        if key in payload:
            _int(key, payload[key], low, high)
    if "elapsed_s" in payload:
        _number("elapsed_s", payload["elapsed_s"])
    if "augment_p" in payload:
        _number("augment_p", payload["augment_p"])
        if payload["augment_p"] > 1:
            raise Damage(f"augment_p is {_show(payload['augment_p'])}, expected a probability from 0 to 1")
    if payload.get("best_fid") is not None:
        _number("best_fid", payload["best_fid"])
    if payload.get("best_iteration") is not None:
        _int("best_iteration", payload["best_iteration"], 0, payload["iteration"])


def check_state_dict(key: str, state: Any, net: nn.Module) -> None:
    """`state` has exactly `net`'s entries, each a tensor of the same shape and kind (raises Damage)."""
    if not isinstance(state, dict):
        raise Damage(f"{key} is {_show(state)}, expected a mapping of tensors")
    want = net.state_dict()
    missing = [k for k in want if k not in state]
    extra = [k for k in state if k not in want]
    if missing or extra:
        parts = [f"lacks {_few(missing)}" if missing else "", f"has unknown {_few(extra)}" if extra else ""]
        raise Damage(f"{key} {' and '.join(p for p in parts if p)} (it is not this config's network)")
    for name, expected in want.items():
        _tensor(f"{key}[{name!r}]", state[name], tuple(expected.shape), expected.is_floating_point())


def check_optimizer(key: str, state: Any, params: Iterable[nn.Parameter]) -> None:
    """An Adam state_dict whose groups, moments and settings fit `params` (raises Damage)."""
    shapes = [tuple(p.shape) for p in params]
    if not isinstance(state, dict) or not isinstance(state.get("param_groups"), list):
        raise Damage(f"{key} is {_show(state)}, expected an optimiser state with param_groups")
    groups, moments = state["param_groups"], state.get("state", {})
    if len(groups) != 1 or not isinstance(groups[0], dict):
        raise Damage(f"{key}.param_groups holds {len(groups)} entries, expected one parameter group")
    group = groups[0]
    ids = group.get("params")
    if not isinstance(ids, list) or len(ids) != len(shapes) or not all(_is_int(i) for i in ids):
        raise Damage(f"{key}.param_groups[0].params is {_show(ids)}, expected {len(shapes)} parameter ids")
    if len(set(ids)) != len(ids):
        raise Damage(f"{key}.param_groups[0].params repeats a parameter id")
    _adam_settings(f"{key}.param_groups[0]", group)
    if not isinstance(moments, dict) or any(k not in ids for k in moments):
        raise Damage(f"{key}.state is {_show(moments)}, expected entries for the ids in param_groups")
    for pid, shape in zip(ids, shapes):
        _adam_moments(f"{key}.state[{pid}]", moments.get(pid, {}), shape, bool(group.get("amsgrad")))


def _adam_moments(where: str, entry: Any, shape: tuple[int, ...], amsgrad: bool) -> None:
    """One parameter's Adam state: empty (no step taken yet), or its step and moments of `shape`."""
    if not isinstance(entry, dict):
        raise Damage(f"{where} is {_show(entry)}, expected a mapping")
    needed = ["step", "exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if amsgrad else [])
    if entry and any(n not in entry for n in needed):
        raise Damage(f"{where} lacks {_few([n for n in needed if n not in entry])}")
    for name, value in entry.items():
        if name == "step":
            step = value.item() if isinstance(value, torch.Tensor) and value.numel() == 1 else value
            _number(f"{where}.step", step)
        else:
            _tensor(f"{where}[{name!r}]", value, shape, floating=True)


def _adam_settings(where: str, group: dict) -> None:
    for name in ("lr", "eps", "weight_decay"):
        _number(f"{where}.{name}", group.get(name))
    betas = group.get("betas")
    if not isinstance(betas, (list, tuple)) or len(betas) != 2:
        raise Damage(f"{where}.betas is {_show(betas)}, expected two numbers in [0, 1)")
    for beta in betas:
        _number(f"{where}.betas", beta)
        if beta >= 1:
            raise Damage(f"{where}.betas holds {beta}, expected numbers in [0, 1)")
    for name in ("amsgrad", "maximize", "foreach", "capturable", "differentiable", "fused"):
        if group.get(name) is not None and not isinstance(group[name], bool):
            raise Damage(f"{where}.{name} is {_show(group[name])}, expected true or false")


def _rng(key: str, state: Any) -> None:
    if not isinstance(state, dict) or "torch" not in state:
        raise Damage(f"{key} is {_show(state)}, expected the random generators' states")
    device_type = state.get("device_type", "cpu")
    if device_type not in ("cpu", "cuda", "mps"):
        raise Damage(f"{key}.device_type is {_show(device_type)}, expected cpu, cuda or mps")
    for name, value in state.items():
        if name == "device_type":
            continue
        # the global stream is always a CPU generator; the others live on the saving device
        on_cpu = name == "torch" or (device_type == "cpu" and name != "cuda")
        _tensor(f"{key}[{name!r}]", value, None, floating=False)
        size = value.numel()
        if (
            value.dtype != torch.uint8
            or value.dim() != 1
            or (size != CPU_RNG_BYTES if on_cpu else size > MAX_RNG_BYTES)
        ):
            want = f"{CPU_RNG_BYTES} bytes" if on_cpu else f"at most {MAX_RNG_BYTES} bytes"
            raise Damage(
                f"{key}[{name!r}] is a {value.dtype} tensor of shape {tuple(value.shape)}, expected {want}"
            )


def _tensor(key: str, value: Any, shape: tuple[int, ...] | None, floating: bool) -> None:
    if not isinstance(value, torch.Tensor):
        raise Damage(f"{key} is {_show(value)}, expected a tensor")
    if value.layout is not torch.strided or value.is_quantized or value.is_complex():
        raise Damage(f"{key} is a {value.layout} {value.dtype} tensor, expected a plain one")
    if shape is not None and tuple(value.shape) != shape:
        raise Damage(f"{key} has shape {tuple(value.shape)}, expected {shape}")
    if floating != value.is_floating_point() and shape is not None:
        kind = "floating-point" if floating else "integer"
        raise Damage(f"{key} holds {value.dtype}, expected {kind} values")


def _int(key: str, value: Any, low: int, high: int) -> None:
    if not _is_int(value) or not low <= value <= high:
        raise Damage(f"{key} is {_show(value)}, expected a whole number from {low} to {high}")


def _number(key: str, value: Any) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not 0 <= value <= 1e300 or (isinstance(value, float) and math.isnan(value)):
        raise Damage(f"{key} is {_show(value)}, expected a finite number >= 0")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _show(value: Any) -> str:
    """A short description of a loaded value: never its whole text or a tensor's data."""
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    if isinstance(value, (dict, list, tuple)):
        return f"a {type(value).__name__} of {len(value)} entries"
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _few(names: list) -> str:
    shown = ", ".join(repr(n) for n in names[:4])
    return shown + (f" and {len(names) - 4} more" if len(names) > 4 else "")
