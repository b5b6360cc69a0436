"""A prototype: MATLAB's asymmetric 'same' padding at the speed of symmetric padding.

MATLAB puts the odd extra pixel of 'same' padding (and cropping) at the bottom/right.
Rotate every feature map by 180 degrees and that extra pixel moves to the top/left, where
a stride-2 window with symmetric padding never reads the unused bottom/right pad row: a
conv with rotated kernels and PyTorch's symmetric padding computes exactly MATLAB's conv,
rotated. The same holds for the transposed convolutions. So a network whose inner layers
run in the rotated frame needs no F.pad copies and no output slicing, and only turns the
frame at its ends (a 4x4 map after `project`, the 3-channel images) - cheap copies.

Exact math: in float64 the rotated networks agree with ours to 1e-14 (see `check`); in
float32 they differ only by summation order, as channels-last does.

Used by step_options.py as the 'rotated_frame' variant; if adopted, the frame turn belongs
in models/dcgan.py (Generator/Discriminator.forward) with parameters kept in MATLAB's frame
(the kernels rotated on the fly, as here, so checkpoints and layer tables do not change).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Rotate180(nn.Module):
    """Turn feature maps by 180 degrees (reverse rows and columns)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flip(-2, -1)


class RotatedConv(nn.Module):
    """`conv` (a Conv2d/ConvTranspose2d, 'same' or symmetric) computed in the rotated frame.

    It shares `conv`'s Parameters, so optimisers and checkpoints see the original ones."""

    def __init__(self, conv: nn.Module) -> None:
        super().__init__()
        from gancli.models.layers import SameConv2d, SameConvTranspose2d

        self.conv = conv
        k, s = conv.kernel_size[0], conv.stride[0]
        self.transposed = isinstance(conv, nn.ConvTranspose2d)
        if isinstance(conv, SameConvTranspose2d):
            crop = max(k - s, 0)
            self.padding, self.output_padding = -(-crop // 2), 2 * -(-crop // 2) - crop
        elif isinstance(conv, SameConv2d):
            if k % 2 == 0:
                raise ValueError("an even 'same' kernel has no symmetric equivalent in the rotated frame")
            self.padding, self.output_padding = k // 2, 0
        else:
            self.padding, self.output_padding = conv.padding[0], getattr(conv, "output_padding", (0,))[0]

        self.same = isinstance(conv, (SameConv2d, SameConvTranspose2d))
        if self.transposed and not self.same and self.output_padding:
            raise ValueError("output_padding adds pixels at the bottom/right only: not rotation-equivariant")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.same and not self.transposed:
            # a strided window that leaves the last pad row unread is asymmetric (mnist32's 3x3/2 on 32 px)
            for size, k, s in zip(x.shape[-2:], self.conv.kernel_size, self.conv.stride):
                if (size + 2 * self.padding - k) % s:
                    raise ValueError(f"a {k}x{k}/{s} conv with padding {self.padding} on {size} px is not rotation-equivariant")
        w = self.conv.weight.flip(-2, -1)  # rotated on the fly: cheap next to the convolution
        if self.transposed:
            return F.conv_transpose2d(x, w, self.conv.bias, self.conv.stride, self.padding, self.output_padding)
        return F.conv2d(x, w, self.conv.bias, self.conv.stride, self.padding)


def rotated_layers(layers: nn.Sequential, generator: bool) -> nn.Sequential:
    """The same layers (same Parameters) computing in the rotated frame, turned at the ends.

    The discriminator turns after its leading dropout so that the same RNG draws drop the
    same pixels; the generator turns right after `project` and back at its output.
    """
    from gancli.models.layers import FlattenLinear, Project

    out: list[nn.Module] = []
    items = list(layers)
    if not generator:
        while items and isinstance(items[0], (nn.Dropout, nn.Dropout2d)):
            out.append(items.pop(0))
        out.append(Rotate180())
    elif not isinstance(items[0], Project):
        out.append(Rotate180())  # a 1x1 latent map: turning it is free
    for module in items:
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            out.append(RotatedConv(module))
        elif isinstance(module, Project):
            out += [module, Rotate180()]
        elif isinstance(module, FlattenLinear):
            out += [Rotate180(), module]  # flattening depends on the pixel order: turn back first
        else:
            out.append(module)  # batch norm, activations, dropout: pointwise or per channel
    if generator:
        out.append(Rotate180())
    return nn.Sequential(*out)


def rotate_nets(generator: nn.Module, discriminator: nn.Module) -> None:
    """Switch our Generator/Discriminator (in place) to the rotated frame."""
    generator.layers = rotated_layers(generator.layers, generator=True)
    discriminator.layers = rotated_layers(discriminator.layers, generator=False)


def check(preset: str = "flowers64", batch: int = 4) -> float:
    """Largest relative difference, in float64, between our nets and their rotated-frame
    version: outputs and every weight gradient of D(G(z)) in training mode."""
    import copy

    from gancli import config
    from gancli.models.dcgan import build_discriminator, build_generator

    cfg = config.load_preset(preset)
    torch.manual_seed(0)
    g, d = build_generator(cfg.model).double(), build_discriminator(cfg.model).double()
    g_rot, d_rot = copy.deepcopy(g), copy.deepcopy(d)
    rotate_nets(g_rot, d_rot)
    z = torch.randn(batch, cfg.model.latent_dim, dtype=torch.float64)
    for net in (g, d, g_rot, d_rot):
        net.train()
    torch.manual_seed(1)
    out = d(g(z))
    grads = torch.autograd.grad(out.sum(), [*g.parameters(), *d.parameters()])
    torch.manual_seed(1)
    out_rot = d_rot(g_rot(z))
    grads_rot = torch.autograd.grad(out_rot.sum(), [*g_rot.parameters(), *d_rot.parameters()])
    worst = ((out - out_rot).abs().max() / out.abs().max()).item()
    for a, b in zip(grads, grads_rot):
        scale = a.abs().max().item()
        if scale > 1e-9:  # a conv bias before batch norm has an exactly-zero gradient: skip its noise
            worst = max(worst, ((a - b).abs().max() / scale).item())
    return worst
