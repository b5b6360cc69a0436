"""Weight initialisation schemes of the reference systems."""

from __future__ import annotations

from torch import nn

_CONVS = (nn.Conv2d, nn.ConvTranspose2d)


def initialise(net: nn.Module, scheme: str) -> None:
    """Initialise `net` in place: 'dcgan', 'normal' or 'glorot' (see ModelConfig.init)."""
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            if scheme == "dcgan":
                nn.init.normal_(module.weight, 1.0, 0.02)
            else:
                nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, (*_CONVS, nn.Linear)):
            if scheme == "glorot":
                nn.init.xavier_uniform_(module.weight)
            elif scheme == "normal" or isinstance(module, _CONVS):
                nn.init.normal_(module.weight, 0.0, 0.02)
            else:
                continue  # 'dcgan' leaves Linear layers at PyTorch's default, as PyTorch-GAN does
            if module.bias is not None:
                nn.init.zeros_(module.bias)
