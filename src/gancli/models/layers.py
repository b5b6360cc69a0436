"""Layers whose padding follows MATLAB/TensorFlow 'same' exactly.

PyTorch pads symmetrically. For an odd total (a 5x5 kernel at stride 2, say) MATLAB puts
the extra pixel at the bottom/right; PyTorch's `padding=2, output_padding=1` would shift the
sampling grid by one pixel. Shapes and parameter counts are the same either way; these
layers reproduce MATLAB's grid.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding so that a conv gives ceil(size / stride) outputs, MATLAB-style."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """Conv2d with MATLAB 'same' padding: extra pixel at the bottom/right when the total is odd."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = same_padding(x.shape[-2], self.kernel_size[0], self.stride[0])
        left, right = same_padding(x.shape[-1], self.kernel_size[1], self.stride[1])
        if bottom != top or right != left:
            # Only the odd extra pixel is padded by hand; the convolution pads the symmetric
            # part itself. Bit-identical to padding all of it with F.pad, and faster: a smaller
            # copy, and oneDNN is quicker with its own padding (benchmarks/step_options.py).
            x = F.pad(x, (0, right - left, 0, bottom - top))
        return F.conv2d(x, self.weight, self.bias, self.stride, (top, left))


class SameConvTranspose2d(nn.ConvTranspose2d):
    """ConvTranspose2d giving input*stride outputs, cropped MATLAB-style (extra crop bottom/right)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, bias: bool) -> None:
        total = max(kernel - stride, 0)
        # symmetric part of the crop done by the op itself; the odd pixel is sliced off after
        super().__init__(in_channels, out_channels, kernel, stride, padding=total // 2, bias=bias)
        self.extra = total - 2 * (total // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        y = super().forward(x)
        if self.extra:
            y = y[..., : y.shape[-2] - self.extra, : y.shape[-1] - self.extra]
        return y


class Project(nn.Module):
    """Fully connected latent -> channels*size*size, reshaped to a feature map (MATLAB's projectAndReshape)."""

    def __init__(self, latent_dim: int, channels: int, size: int, bias: bool) -> None:
        super().__init__()
        self.channels, self.size = channels, size
        self.fc = nn.Linear(latent_dim, channels * size * size, bias=bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.fc(z.flatten(1)).view(-1, self.channels, self.size, self.size)


class FlattenLinear(nn.Linear):
    """Linear layer that flattens its input first (a discriminator's dense head)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x.flatten(1))
