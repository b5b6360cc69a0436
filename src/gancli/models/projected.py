"""The projected discriminator (Sauer et al. 2021, "Projected GANs Converge Faster").

D sees each image through a frozen, pretrained EfficientNet-Lite0 at four scales. Fixed random
1x1 convolutions mix the channels of each scale (cross-channel mixing, CCM) and then the scales,
top-down (cross-scale mixing, CSM); one small trainable discriminator per scale turns each mixed
map into a map of logits. The feature network is held outside the module's registration: it is
never in `state_dict()` (so never in checkpoints), never in `parameters()` (so never in an
optimiser or under DDP), and stays in eval mode whatever `train()` says. The random mixing
convolutions are buffers: saved, never trained, so a checkpoint reproduces D exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from gancli.archs import FEATURE_CHANNELS, feature_sides, mix_channels
from gancli.models.efficientnet_lite import LiteFeatures, frozen, pretrained_features


class _Held:
    """A module kept out of its owner's registration (see the module docstring)."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module


def _random_1x1(c_in: int, c_out: int) -> torch.Tensor:
    """A fixed random projection, scaled to keep the features' magnitude (Kaiming uniform)."""
    bound = (3.0 / c_in) ** 0.5 * 2**0.5
    return torch.empty(c_out, c_in, 1, 1).uniform_(-bound, bound)


def _scale_head(c: int, side: int) -> nn.Sequential:
    """conv 4x4/2 + BN + LeakyReLU while the map is larger than 4x4, then a conv to logits."""
    layers: list[nn.Module] = []
    while side > 4:
        layers += [spectral_norm(nn.Conv2d(c, c, 4, 2, 1, bias=False)), nn.BatchNorm2d(c), nn.LeakyReLU(0.2)]
        side //= 2
    kernel = 4 if side >= 4 else 1
    layers.append(spectral_norm(nn.Conv2d(c, 1, kernel, 1, 0)))
    return nn.Sequential(*layers)


class ProjectedDiscriminator(nn.Module):
    """Images (N, C, R, R) in [-1, 1] -> (N, K) logits, K over all four scales' maps."""

    def __init__(self, input_size: int, width: int, pretrained: bool = True) -> None:
        super().__init__()
        self.input_size = input_size
        self._features = _Held(pretrained_features() if pretrained else frozen(LiteFeatures()))
        mixed = mix_channels(width)
        for i, (c_in, c_out) in enumerate(zip(FEATURE_CHANNELS, mixed)):
            self.register_buffer(f"ccm{i}", _random_1x1(c_in, c_out))
            if i:
                self.register_buffer(f"csm{i}", _random_1x1(c_out, mixed[i - 1]))
        self.heads = nn.ModuleList(_scale_head(c, side) for c, side in zip(mixed, feature_sides(input_size)))

    @property
    def features(self) -> nn.Module:
        return self._features.module

    def _apply(self, fn, recurse: bool = True):  # .to(device), .to(memory_format=...), .float()
        super()._apply(fn, recurse)
        self._features.module._apply(fn, recurse)
        return self

    def mixed(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The four feature maps after CCM and CSM."""
        if x.shape[-1] != self.input_size:
            x = F.interpolate(x, size=self.input_size, mode="bilinear", align_corners=False)
        maps = [F.conv2d(f, getattr(self, f"ccm{i}")) for i, f in enumerate(self.features(x))]
        for i in range(3, 0, -1):  # top-down: each scale receives the coarser one, projected
            down = F.conv2d(maps[i], getattr(self, f"csm{i}"))
            maps[i - 1] = maps[i - 1] + F.interpolate(
                down, size=maps[i - 1].shape[-2:], mode="bilinear", align_corners=False
            )
        return maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([head(m).flatten(1) for head, m in zip(self.heads, self.mixed(x))], dim=1)
