"""MATLAB's asymmetric 'same' padding computed at the speed of symmetric padding.

MATLAB puts the odd pixel of 'same' padding (and of a transposed conv's cropping) at the
bottom/right, which PyTorch's convolutions cannot express: SameConv2d pads it by hand (a copy
of every input) and SameConvTranspose2d slices it off (a strided view that the next layer
copies). Turn the feature maps by 180 degrees and that pixel moves to the top/left, where it
*is* expressible: with the kernels turned too, a convolution with PyTorch's own symmetric
padding computes exactly MATLAB's convolution, turned (a stride-2 window never reads the
spare bottom/right pad row). So a net can run its inner layers in the turned frame and turn
only at its ends: the small map after `project` and the images, cheap copies.

Same math, different summation order (as channels-last): float64 agrees to ~1e-15, float32
to rounding. Batch norm, activations and nearest upsampling commute with the turn; dropout
draws its mask in whichever frame it runs (same distribution). A layer the turn does not map
exactly (a plain conv whose stride leaves the last pad row unread, an output_padding, an even
'same' kernel at stride 1) leaves the whole net in the plain frame. The parameters are the
net's own, untouched: checkpoints, layer tables and initialisation do not know about this.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from gancli.models.layers import FlattenLinear, Project, SameConv2d, SameConvTranspose2d, same_padding


@dataclass
class TurnedFrame:
    """How to run a net's layers in the turned frame: where to turn, and each conv's padding there."""

    turn_before: set[int] = field(default_factory=set)  # layer indices preceded by a turn
    convs: dict[int, tuple[tuple[int, int], tuple[int, int]]] = field(
        default_factory=dict
    )  # index -> (padding, output_padding)
    turn_at_end: bool = False


def _conv_in_turned_frame(
    module: nn.Module, size: tuple[int, int]
) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """(padding, output_padding) that compute `module` exactly in the turned frame, else None."""
    if module.dilation != (1, 1) or module.padding_mode != "zeros":
        return None
    dims = [_dim_in_turned_frame(module, size[dim], dim) for dim in range(2)]
    if None in dims:
        return None
    (pad_h, out_h), (pad_w, out_w) = dims  # type: ignore[misc]
    return (pad_h, pad_w), (out_h, out_w)


def _dim_in_turned_frame(module: nn.Module, size: int, dim: int) -> tuple[int, int] | None:
    """(padding, output_padding) of one spatial dimension in the turned frame, else None."""
    k, s = module.kernel_size[dim], module.stride[dim]
    if isinstance(module, SameConv2d):
        if (-(-size // s) - 1) * s + k < size:
            return None  # a kernel narrower than its stride leaves bottom rows unread: no pad, no turn
        before, after = same_padding(size, k, s)
        # turned, the larger pad is on top; symmetric padding `after` reads it, and its
        # spare bottom row stays unread while the odd pixel is narrower than the stride
        return None if after - before >= s else (after, 0)
    if isinstance(module, SameConvTranspose2d):
        crop = max(k - s, 0)
        before, after = crop // 2, crop - crop // 2
        # output_padding puts back the smaller bottom crop
        return None if after - before >= s else (after, after - before)
    if isinstance(module, nn.ConvTranspose2d):
        # output_padding adds pixels at the bottom/right only
        return None if module.output_padding[dim] else (module.padding[dim], 0)
    p = module.padding[dim]  # a plain conv: exact when its windows use every pad row
    if isinstance(p, str) or (size + 2 * p - k) % s:
        return None
    return (p, 0)


# ops known to commute with the turn (an upsampling only when nearest by a whole factor)
_COMMUTING = (
    nn.BatchNorm2d,
    nn.SyncBatchNorm,
    nn.ReLU,
    nn.LeakyReLU,
    nn.Tanh,
    nn.Dropout,
    nn.Dropout2d,
    nn.Upsample,
    nn.Identity,
)


def _commutes_with_turn(module: nn.Module) -> bool:
    if isinstance(module, nn.Upsample):
        return (
            module.mode == "nearest"
            and isinstance(module.scale_factor, (int, float))
            and float(module.scale_factor).is_integer()
        )
    return isinstance(module, _COMMUTING)


def _gains(module: nn.Module, shape: tuple[int, ...]) -> bool:
    """Whether the turn saves `module` an asymmetric pad or crop."""
    if isinstance(module, SameConv2d):
        return any(
            before != after
            for before, after in map(same_padding, shape[-2:], module.kernel_size, module.stride)
        )
    return isinstance(module, SameConvTranspose2d) and module.extra > 0


def plan_turned_frame(layers: nn.Sequential, in_shapes: list[tuple[int, ...]]) -> TurnedFrame | None:
    """The turned-frame plan of `layers` (`in_shapes[i]`: layer i's input shape), or None when
    the net has no asymmetric 'same' layer to gain from it or a layer it cannot map exactly."""
    plan, turned, gains = TurnedFrame(), False, False
    for i, (module, shape) in enumerate(zip(layers, in_shapes)):
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            conv = _conv_in_turned_frame(module, shape[-2:])
            if conv is None:
                return None
            gains |= _gains(module, shape)
            plan.convs[i] = conv
            if not turned:
                plan.turn_before.add(i)
                turned = True
        elif isinstance(module, (Project, FlattenLinear, nn.Linear, nn.Flatten)):
            if turned:  # these depend on the pixel order: turn back first
                plan.turn_before.add(i)
                turned = False
        elif not _commutes_with_turn(module):
            return None  # an op not known to commute with the turn
    plan.turn_at_end = turned
    return plan if gains else None


def turn(x: torch.Tensor) -> torch.Tensor:
    """Feature maps turned by 180 degrees (rows and columns reversed); its own inverse."""
    return x.flip(-2, -1)


def run_turned(layers: nn.Sequential, plan: TurnedFrame, x: torch.Tensor) -> torch.Tensor:
    """`layers(x)`, computed in the turned frame by `plan`. The modules are looked up at each call,
    so batch norms swapped for synchronised ones (distributed training) are the ones used."""
    for i, module in enumerate(layers):
        if i in plan.turn_before:
            x = turn(x)
        conv = plan.convs.get(i)
        if conv is None:
            x = module(x)
            continue
        padding, output_padding = conv
        weight = module.weight.flip(-2, -1)  # the kernel turned on the fly: cheap next to the convolution
        if isinstance(module, nn.ConvTranspose2d):
            x = F.conv_transpose2d(
                x, weight, module.bias, module.stride, padding, output_padding, module.groups
            )
        else:
            x = F.conv2d(x, weight, module.bias, module.stride, padding, 1, module.groups)
    return turn(x) if plan.turn_at_end else x
