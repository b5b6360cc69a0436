"""Output shapes and parameter counts of a config's layer lists, by arithmetic alone.

`gan presets` and `gan train --dry-run` show layer tables; building the nets for that would
import torch (over a second before the first line of output). These formulas follow the
modules of gancli.models exactly, and tests/models/test_layer_math.py checks them against the
built nets of every preset.
"""

from __future__ import annotations

from dataclasses import dataclass

from gancli.archs import (
    FAST_ARCHS,
    Block,
    discriminator_plan,
    generator_blocks,
    generator_bn_channels,
    projection_channels,
)
from gancli.config import LayerSpec, ModelConfig
from gancli.errors import UserError
from gancli.layer_ops import layer_output

# ops whose output is their input's shape, with no parameters (any input: flat or an image)


@dataclass
class LayerRow:
    """One row of a layer table: the op, its output shape (C, H, W) or (F,), its parameters."""

    index: int
    op: str
    output_shape: tuple[int, ...]
    params: int


def layer_rows(specs: list[LayerSpec], in_shape: tuple[int, ...], where: str) -> list[LayerRow]:
    """The layer table of a layer list fed `in_shape`; a shape that cannot work is a UserError."""
    rows, shape = [], in_shape
    for i, spec in enumerate(specs):
        try:
            out, params = layer_output(spec, shape)
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
        rows = _arch_rows(generator_blocks(model))
        bn = generator_bn_channels(model)
    else:
        flat = model.generator[0].op in ("project", "linear")
        latent = (model.latent_dim,) if flat else (model.latent_dim, 1, 1)
        rows = layer_rows(model.generator, latent, "model.generator")
        bn = sum(r.output_shape[0] for r in rows if r.op == "batchnorm")
    if model.conditional:  # models/conditional.py: a gain and a bias per class and BN channel
        rows.append(
            LayerRow(len(rows), "class BN gains, biases", rows[-1].output_shape, 2 * bn * len(model.classes))
        )
    return rows


def _projection_row(model: ModelConfig, rows: list[LayerRow]) -> LayerRow:
    """The projection discriminator's class embedding: one vector per class, as long as phi."""
    if model.arch in FAST_ARCHS:
        features = projection_channels(model)
    else:
        features = rows[-2].output_shape[0] if len(rows) > 1 else model.channels
    return LayerRow(len(rows), "class projection", rows[-1].output_shape, features * len(model.classes))


def discriminator_rows(model: ModelConfig) -> list[LayerRow]:
    """The discriminator's layer table (dcgan with spectral norm: its batch norms are identities,
    no parameters); for the fastgan/projected archs, one row per block of their plan."""
    if model.arch in FAST_ARCHS:
        rows = _arch_rows(discriminator_plan(model))
    else:
        rows = layer_rows(
            model.discriminator, (model.channels, model.resolution, model.resolution), "model.discriminator"
        )
    if model.spectral_norm and model.arch not in FAST_ARCHS:
        for row in rows:
            if row.op == "batchnorm":
                row.params = 0
    return [*rows, _projection_row(model, rows)] if model.conditional else rows


def param_count(rows: list[LayerRow]) -> int:
    """Learnable parameters of a layer table (batch-norm running statistics not counted)."""
    return sum(r.params for r in rows)
