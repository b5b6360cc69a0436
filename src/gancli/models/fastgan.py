"""FastGAN-class networks (Liu et al. 2021, "Towards Faster and Stabilized GAN Training for
High-fidelity Few-shot Image Synthesis"), written from the paper's description.

The blocks and their channels come from `gancli.archs` (torch-free plans that the layer
tables read too). Past the first 4x4 map the generator only upsamples by nearest neighbour
and convolves 3x3, so it cannot paint the checkerboard of strided transposed convolutions
(Odena et al. 2016). The discriminator is FastGAN's self-supervised one, with the
reconstruction measured as mean absolute error: FastGAN's LPIPS needs VGG weights downloaded
at run time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gancli.archs import (
    _sides,
    channels,
    decoder_size,
    decoder_width,
    sle_pairs,
)


class UpBlock(nn.Module):
    """x2 nearest-neighbour upsampling, 3x3 conv to twice the channels, batch norm, GLU."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, 2 * c_out, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(2 * c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.glu(self.bn(self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))), dim=1)


class SkipExcitation(nn.Module):
    """Skip-layer excitation: a low-resolution map, pooled to 4x4 and convolved to one value per
    channel, gates a high-resolution map channel-wise (sigmoid)."""

    def __init__(self, c_low: int, c_high: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_low, c_high, 4, 1, 0, bias=False)
        self.mix = nn.Conv2d(c_high, c_high, 1, 1, 0, bias=False)

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        gate = self.mix(F.silu(self.conv(F.adaptive_avg_pool2d(low, 4))))
        return high * torch.sigmoid(gate)


class FastGenerator(nn.Module):
    """Latents (N, latent_dim) -> images (N, C, R, R) in [-1, 1]."""

    def __init__(self, resolution: int, image_channels: int, latent_dim: int, width: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        c4 = channels(4, width)
        self.init = nn.ConvTranspose2d(latent_dim, 2 * c4, 4, 1, 0, bias=False)
        self.init_bn = nn.BatchNorm2d(2 * c4)
        self.ups = nn.ModuleDict(
            {str(s): UpBlock(channels(s // 2, width), channels(s, width)) for s in _sides(8, resolution)}
        )
        self.sle = nn.ModuleDict(
            {
                str(high): SkipExcitation(channels(low, width), channels(high, width))
                for low, high in sle_pairs(resolution)
            }
        )
        self.sources = {high: low for low, high in sle_pairs(resolution)}
        self.to_image = nn.Conv2d(channels(resolution, width), image_channels, 3, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = F.glu(self.init_bn(self.init(z.view(z.shape[0], -1, 1, 1))), dim=1)
        maps = {4: x}
        for side, block in self.ups.items():
            x = block(x)
            s = int(side)
            if s in self.sources:
                x = self.sle[side](maps[self.sources[s]], x)
            maps[s] = x
        return torch.tanh(self.to_image(x))


def _down(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2)
    )


class Decoder(nn.Module):
    """FastGAN's simple decoder: up blocks from an 8x8 map to the reconstruction size, then a
    3x3 conv to an image in [-1, 1]."""

    def __init__(self, c_in: int, image_channels: int, resolution: int, width: int) -> None:
        super().__init__()
        c = decoder_width(width)
        sides = _sides(16, decoder_size(resolution))
        self.ups = nn.Sequential(*(UpBlock(c_in if i == 0 else c, c) for i in range(len(sides))))
        self.to_image = nn.Conv2d(c, image_channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.to_image(self.ups(x)))


def quarters(x: torch.Tensor, which: torch.Tensor) -> torch.Tensor:
    """Quarter `which[i]` (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right) of map i."""
    n, c, h, w = x.shape
    parts = x.reshape(n, c, 2, h // 2, 2, w // 2).permute(0, 2, 4, 1, 3, 5).reshape(n, 4, c, h // 2, w // 2)
    return parts[torch.arange(n, device=x.device), which.to(x.device)]


class SelfSupervisedDiscriminator(nn.Module):
    """Images -> one logit each (spectral norm, when asked, is added by models.build); with `parts` (a quarter index per image, for real images) also
    the reconstruction loss of its decoders: the whole image from the 8x8 features, and quarter
    `parts[i]` from the matching quarter of the 16x16 features."""

    reconstructs = True

    def __init__(self, resolution: int, image_channels: int, width: int) -> None:
        super().__init__()
        half = resolution // 2
        conv = nn.Conv2d(image_channels, channels(half, width), 4, 2, 1, bias=False)
        self.from_image = nn.Sequential(conv, nn.LeakyReLU(0.2))
        self.downs = nn.ModuleList(
            [_down(channels(s * 2, width), channels(s, width)) for s in reversed(_sides(4, half // 2))]
        )
        self.logit = nn.Conv2d(channels(4, width), 1, 4, 1, 0, bias=False)
        self.decode_whole = Decoder(channels(8, width), image_channels, resolution, width)
        self.decode_part = Decoder(channels(16, width), image_channels, resolution, width)
        self.size = decoder_size(resolution)

    def forward(self, x: torch.Tensor, parts: torch.Tensor | None = None):
        maps = {x.shape[-1] // 2: self.from_image(x)}
        y = maps[x.shape[-1] // 2]
        for block in self.downs:
            y = block(y)
            maps[y.shape[-1]] = y
        logits = self.logit(y).reshape(-1)
        if parts is None:
            return logits
        whole = F.interpolate(x, size=self.size, mode="area")
        part = F.interpolate(quarters(x, parts), size=self.size, mode="area")
        rebuilt_whole = self.decode_whole(maps[8])
        rebuilt_part = self.decode_part(quarters(maps[16], parts))
        loss = (rebuilt_whole - whole).abs().mean() + (rebuilt_part - part).abs().mean()
        return logits, loss
