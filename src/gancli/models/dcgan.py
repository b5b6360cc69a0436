"""Configurable DCGAN-class generator and discriminator covering every preset."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from gancli.config import LayerSpec, ModelConfig
from gancli.errors import UserError
from gancli.layer_math import LayerRow  # the row type of layer tables, built or computed
from gancli.models.frame import plan_turned_frame, run_turned
from gancli.models.init import initialise
from gancli.models.layers import FlattenLinear, Project, SameConv2d, SameConvTranspose2d

# Layers whose backward does not need their own output, so an activation after them may
# overwrite it. Not tanh/activations (their backward reads their output) nor a net's input (G's
# images enter D, and the real batch must stay as it was).
_KEEP_INPUTS_ONLY = {"project", "linear", "conv", "convT", "batchnorm", "dropout", "dropout2d", "upsample"}


def _padding(spec: LayerSpec) -> int:
    return 0 if spec.padding == "valid" else int(spec.padding)


def _conv(spec: LayerSpec, channels: int) -> nn.Module:
    if spec.padding == "same":
        return SameConv2d(channels, spec.out, spec.kernel, spec.stride, bias=spec.bias)
    return nn.Conv2d(channels, spec.out, spec.kernel, spec.stride, _padding(spec), bias=spec.bias)


def _conv_transpose(spec: LayerSpec, channels: int) -> nn.Module:
    if spec.padding == "same":
        return SameConvTranspose2d(channels, spec.out, spec.kernel, spec.stride, bias=spec.bias)
    return nn.ConvTranspose2d(
        channels, spec.out, spec.kernel, spec.stride, _padding(spec), spec.output_padding, bias=spec.bias
    )


LayerBuilder = Callable[[LayerSpec, tuple[int, ...], bool], nn.Module]

# op -> (its spec, the input shape (C, H, W) or (F,), whether it may work in place) -> module.
# One module per op of gancli/layer_ops.py (its keys and shapes); a new op is an entry in both
# (the "how to add a layer op" of docs/architecture.md; a test holds the two tables equal).
LAYERS: dict[str, LayerBuilder] = {
    "project": lambda spec, shape, inplace: Project(
        shape[0] if len(shape) == 1 else math.prod(shape), spec.out, spec.size, spec.bias
    ),
    "linear": lambda spec, shape, inplace: FlattenLinear(math.prod(shape), spec.out, bias=spec.bias),
    "conv": lambda spec, shape, inplace: _conv(spec, shape[0]),
    "convT": lambda spec, shape, inplace: _conv_transpose(spec, shape[0]),
    "upsample": lambda spec, shape, inplace: nn.Upsample(scale_factor=spec.scale, mode="nearest"),
    "batchnorm": lambda spec, shape, inplace: nn.BatchNorm2d(shape[0], eps=spec.eps, momentum=spec.momentum),
    # in place where safe, as pytorch/examples has them: each saves a batch-sized buffer,
    # 40% fewer page faults per step at batch 128 (measured, benchmarks/README.md)
    "relu": lambda spec, shape, inplace: nn.ReLU(inplace=inplace),
    "leaky_relu": lambda spec, shape, inplace: nn.LeakyReLU(spec.slope, inplace=inplace),
    "tanh": lambda spec, shape, inplace: nn.Tanh(),
    "dropout": lambda spec, shape, inplace: nn.Dropout(spec.p),
    "dropout2d": lambda spec, shape, inplace: nn.Dropout2d(spec.p),
}


def _layer(spec: LayerSpec, shape: tuple[int, ...], after: str | None = None) -> nn.Module:
    """One module for `spec`, given the input shape (C, H, W) or (F,) and the op before it."""
    if spec.op not in LAYERS:
        raise UserError(f"Unknown layer op '{spec.op}'.")
    return LAYERS[spec.op](spec, shape, after in _KEEP_INPUTS_ONLY)


def _stack(
    specs: list[LayerSpec], in_shape: tuple[int, ...], where: str
) -> tuple[nn.Sequential, list[tuple[str, tuple[int, ...]]]]:
    """Build the layers in order, tracking shapes with a dry run so each layer knows its input."""
    layers = nn.Sequential()
    shapes = []
    x = torch.zeros(2, *in_shape)
    for i, spec in enumerate(specs):
        module = _layer(spec, tuple(x.shape[1:]), specs[i - 1].op if i else None)
        layers.add_module(str(i), module)
        module.eval()
        try:
            with torch.no_grad():
                x = module(x)
        except RuntimeError as exc:
            raise UserError(
                f"{where}[{i}] ({spec.op}) cannot take an input of shape {tuple(x.shape[1:])}: {exc}"
            ) from exc
        shapes.append((spec.op, tuple(x.shape[1:])))
    return layers, shapes


class Generator(nn.Module):
    """Latent vectors (N, latent_dim) -> images (N, C, H, W) in [-1, 1]."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.latent_dim = cfg.latent_dim
        first = cfg.generator[0].op
        # a 'project'/'linear' first layer takes a flat vector; a transposed conv takes it as 1x1
        self.latent_shape = (cfg.latent_dim,) if first in ("project", "linear") else (cfg.latent_dim, 1, 1)
        self.layers, self.shapes = _stack(cfg.generator, self.latent_shape, "model.generator")
        out = self.shapes[-1][1]
        want = (cfg.channels, cfg.resolution, cfg.resolution)
        if out != want:
            raise UserError(
                f"The generator's layers make images of shape {out}, but the model is {want} (model.channels, model.resolution). Fix the layer list or the resolution."
            )
        self.frame = plan_turned_frame(self.layers, _input_shapes(self.latent_shape, self.shapes))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z.view(z.shape[0], *self.latent_shape)
        return self.layers(z) if self.frame is None else run_turned(self.layers, self.frame, z)


class Discriminator(nn.Module):
    """Images (N, C, H, W) -> one logit per image; sigmoid(logit) is the reference's probability."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.layers, self.shapes = _stack(
            cfg.discriminator, (cfg.channels, cfg.resolution, cfg.resolution), "model.discriminator"
        )
        if cfg.spectral_norm:  # SNGAN's D: spectral norm bounds D, batch norm goes (same shapes)
            for i, module in enumerate(self.layers):
                if isinstance(module, nn.BatchNorm2d):
                    self.layers[i] = nn.Identity()
        if math.prod(self.shapes[-1][1]) != 1:
            raise UserError(
                f"The discriminator must end in one output per image; its last layer gives {self.shapes[-1][1]}."
            )
        self.frame = plan_turned_frame(
            self.layers, _input_shapes((cfg.channels, cfg.resolution, cfg.resolution), self.shapes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.layers(x) if self.frame is None else run_turned(self.layers, self.frame, x)).reshape(-1)


def _input_shapes(first: tuple[int, ...], shapes: list[tuple[str, tuple[int, ...]]]) -> list[tuple[int, ...]]:
    """Each layer's input shape, from the net's input and the layers' output shapes."""
    return [first, *(shape for _, shape in shapes[:-1])]


def build_generator(cfg: ModelConfig) -> Generator:
    """The generator of `cfg`, initialised by its scheme (uses the global torch RNG)."""
    net = Generator(cfg)
    initialise(net, cfg.init)
    return net


def build_discriminator(cfg: ModelConfig) -> Discriminator:
    """The discriminator of `cfg`, initialised by its scheme (uses the global torch RNG)."""
    net = Discriminator(cfg)
    initialise(net, cfg.init)
    if cfg.spectral_norm:
        # after initialisation, which must set the raw weights; SN's power-iteration vectors
        # are drawn from the global RNG too, so the seed fixes them
        for module in net.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                spectral_norm(module)
    return net


def layer_table(net: Generator | Discriminator) -> list[LayerRow]:
    """Each layer's op, output shape (C, H, W) and parameter count."""
    rows = []
    for i, ((op, shape), module) in enumerate(zip(net.shapes, net.layers)):
        rows.append(LayerRow(i, op, shape, sum(p.numel() for p in module.parameters())))
    return rows


def count_params(net: nn.Module) -> int:
    """Learnable parameters (batch-norm running statistics are not counted, as in MATLAB)."""
    return sum(p.numel() for p in net.parameters())
