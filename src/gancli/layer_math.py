"""Output shapes and parameter counts of a config's layer lists, by arithmetic alone.

`gan presets` and `gan train --dry-run` show layer tables; building the nets for that would
import torch (over a second before the first line of output). These formulas follow the
modules of gancli.models exactly, and tests/models/test_layer_math.py checks them against the
built nets of every preset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gancli.archs import FAST_ARCHS, Block, discriminator_plan, generator_blocks
from gancli.config import LayerSpec, ModelConfig
from gancli.errors import UserError

# ops whose output is their input's shape, with no parameters (any input: flat or an image)
SHAPE_KEEPING = {"relu", "leaky_relu", "tanh", "dropout", "dropout2d"}


@dataclass
class LayerRow:
    """One row of a layer table: the op, its output shape (C, H, W) or (F,), its parameters."""

    index: int
    op: str
    output_shape: tuple[int, ...]
    params: int


def _conv_side(size: int, spec: LayerSpec) -> int:
    if spec.padding == "same":
        return -(-size // spec.stride)
    pad = 0 if spec.padding == "valid" else int(spec.padding)
    return (size + 2 * pad - spec.kernel) // spec.stride + 1


def _convT_side(size: int, spec: LayerSpec) -> int:
    if spec.padding == "same":  # SameConvTranspose2d: the op crops kernel - stride in all
        return (size - 1) * spec.stride + spec.kernel - max(spec.kernel - spec.stride, 0)
    pad = 0 if spec.padding == "valid" else int(spec.padding)
    return (size - 1) * spec.stride - 2 * pad + spec.kernel + spec.output_padding


def _layer(spec: LayerSpec, shape: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    """(output shape, parameters) of one layer given its input shape."""
    bias = spec.out if spec.bias else 0
    if spec.op == "project":
        features = spec.out * spec.size * spec.size
        return (spec.out, spec.size, spec.size), math.prod(shape) * features + (features if spec.bias else 0)
    if spec.op == "linear":
        return (spec.out,), math.prod(shape) * spec.out + bias
    if spec.op in SHAPE_KEEPING:
        return shape, 0
    if len(shape) != 3:
        raise ValueError(f"a '{spec.op}' layer needs an image-shaped input (C, H, W)")
    channels, height, width = shape
    if spec.op == "batchnorm":
        return shape, 2 * channels
    if spec.op == "upsample":
        return (channels, height * spec.scale, width * spec.scale), 0
    weights = channels * spec.out * spec.kernel * spec.kernel + bias
    side = _conv_side if spec.op == "conv" else _convT_side
    return (spec.out, side(height, spec), side(width, spec)), weights


def layer_rows(specs: list[LayerSpec], in_shape: tuple[int, ...], where: str) -> list[LayerRow]:
    """The layer table of a layer list fed `in_shape`; a shape that cannot work is a UserError."""
    rows, shape = [], in_shape
    for i, spec in enumerate(specs):
        try:
            out, params = _layer(spec, shape)
        except ValueError as exc:
            raise UserError(
                f"{where}[{i}] ({spec.op}) cannot take an input of shape {shape}: {exc}."
            ) from exc
        if min(out) <= 0:
            raise UserError(
                f"{where}[{i}] ({spec.op}) would make an empty output {out} from an input of shape {shape}."
            )
        rows.append(LayerRow(i, spec.op, out, params))
        shape = out
    return rows


def _arch_rows(blocks: list[Block]) -> list[LayerRow]:
    return [LayerRow(i, b.name, b.shape, b.params) for i, b in enumerate(blocks)]


def generator_rows(model: ModelConfig) -> list[LayerRow]:
    """The generator's layer table (its input: a flat latent, or a 1x1 map for a conv first
    layer); for the fastgan/projected archs, one row per block of their plan."""
    if model.arch in FAST_ARCHS:
        return _arch_rows(generator_blocks(model))
    flat = model.generator[0].op in ("project", "linear")
    latent = (model.latent_dim,) if flat else (model.latent_dim, 1, 1)
    return layer_rows(model.generator, latent, "model.generator")


def discriminator_rows(model: ModelConfig) -> list[LayerRow]:
    """The discriminator's layer table (dcgan with spectral norm: its batch norms are identities,
    no parameters); for the fastgan/projected archs, one row per block of their plan."""
    if model.arch in FAST_ARCHS:
        return _arch_rows(discriminator_plan(model))
    rows = layer_rows(
        model.discriminator, (model.channels, model.resolution, model.resolution), "model.discriminator"
    )
    if model.spectral_norm:
        for row in rows:
            if row.op == "batchnorm":
                row.params = 0
    return rows


def param_count(rows: list[LayerRow]) -> int:
    """Learnable parameters of a layer table (batch-norm running statistics not counted)."""
    return sum(r.params for r in rows)
