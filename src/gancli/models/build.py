"""One registry of network builders: `model.arch` -> how its generator and discriminator are
built. `gancli.archs` names the same architectures without torch (a test holds them equal).

Every builder initialises from the global torch RNG (the trainer seeds it first), so the seed
alone fixes the weights, on every rank and for a resumed run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from gancli.archs import channels, mix_channels
from gancli.config import ModelConfig
from gancli.models import dcgan
from gancli.models.conditional import ConditionalDiscriminator, ConditionalGenerator
from gancli.models.fastgan import FastGenerator, SelfSupervisedDiscriminator
from gancli.models.init import initialise
from gancli.models.projected import ProjectedDiscriminator


class Builders(NamedTuple):
    generator: Callable[[ModelConfig], nn.Module]
    discriminator: Callable[[ModelConfig, bool], nn.Module]


def _fast_generator(m: ModelConfig) -> nn.Module:
    net = FastGenerator(m.resolution, m.channels, m.latent_dim, m.width)
    initialise(net, m.init)
    return net


def _selfsup_discriminator(m: ModelConfig, pretrained: bool) -> nn.Module:
    net = SelfSupervisedDiscriminator(m.resolution, m.channels, m.d_width or m.width)
    initialise(net, m.init)
    return _with_sn(net) if m.spectral_norm else net


def _projected_discriminator(m: ModelConfig, pretrained: bool) -> nn.Module:
    return ProjectedDiscriminator(
        m.projected_size or m.resolution, m.d_width or m.width, pretrained=pretrained
    )


def _dcgan_discriminator(m: ModelConfig, pretrained: bool) -> nn.Module:
    return dcgan.build_discriminator(m)


def _with_sn(net: nn.Module) -> nn.Module:
    """Spectral norm on the main path's convolutions (not the decoders'), after initialisation
    set the raw weights, as dcgan's builder does."""
    for name, module in net.named_modules():
        if isinstance(module, nn.Conv2d) and not name.startswith("decode"):
            spectral_norm(module)
    return net


BUILDERS: dict[str, Builders] = {
    "dcgan": Builders(dcgan.build_generator, _dcgan_discriminator),
    "fastgan": Builders(_fast_generator, _selfsup_discriminator),
    "projected": Builders(_fast_generator, _projected_discriminator),
}


def build_generator(m: ModelConfig) -> nn.Module:
    """The generator of `m` (model.arch), initialised from the global torch RNG; with
    model.conditional, its batch norms conditioned on the class (models/conditional.py)."""
    net = BUILDERS[m.arch].generator(m)
    return ConditionalGenerator(net, len(m.classes)) if m.conditional else net


def _logit_layers(m: ModelConfig, net: nn.Module) -> list[tuple[nn.Module, int]]:
    """The layers whose outputs are D's logits, and the channels of their inputs (phi's size)."""
    if m.arch == "projected":
        return [(head[-1], c) for head, c in zip(net.heads, mix_channels(m.d_width or m.width))]
    if m.arch == "fastgan":
        return [(net.logit, channels(4, m.d_width or m.width))]
    net.frame = None  # the turned frame calls the last conv functionally, past the projection's hook
    shape = net.shapes[-2][1] if len(net.shapes) > 1 else (m.channels,)
    return [(net.layers[-1], shape[0])]


def build_discriminator(m: ModelConfig, pretrained: bool | None = None) -> nn.Module:
    """The discriminator of `m`; `pretrained` False skips loading frozen pretrained weights
    (shape checks on the meta device). By default they load unless building on meta."""
    if pretrained is None:
        pretrained = torch.empty(0).device.type != "meta"
    net = BUILDERS[m.arch].discriminator(m, pretrained)
    if not m.conditional:
        return net
    return ConditionalDiscriminator(net, _logit_layers(m, net), len(m.classes))


def trainable(net: nn.Module) -> list[nn.Parameter]:
    """The parameters an optimiser updates."""
    return [p for p in net.parameters() if p.requires_grad]
