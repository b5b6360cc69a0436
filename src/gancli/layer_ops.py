"""The layer ops a `dcgan` network's layer list may use: one torch-free definition each.

For every op: the config keys it accepts (besides `op`), and its output shape and parameter
count given its input shape. Config validation (sizes bounded before anything is built),
the layer tables of `gan presets` and `--dry-run`, and the builders in models/dcgan.py (one
module per op, a table keyed by the same names) all read this table; a test holds the
builders to the same ops and to these shapes. A new op is an entry here and one in
`dcgan.LAYERS`.

A spec is anything with the op's keys as attributes (config.LayerSpec), so this module
imports nothing of gancli's and config can import it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

Shape = tuple[int, ...]


def _pad(spec: Any) -> int:
    return 0 if spec.padding in ("valid", "same") else int(spec.padding)


def conv_side(size: int, spec: Any) -> int:
    """Output side of a conv: ceil(size / stride) for 'same' (MATLAB/TensorFlow), else PyTorch's."""
    if spec.padding == "same":
        return -(-size // spec.stride)
    return (size + 2 * _pad(spec) - spec.kernel) // spec.stride + 1


def conv_transpose_side(size: int, spec: Any) -> int:
    """Output side of a transposed conv. 'same' crops kernel - stride in all (SameConvTranspose2d):
    size * stride when kernel >= stride, (size - 1) * stride + kernel when it is smaller."""
    if spec.padding == "same":
        return (size - 1) * spec.stride + spec.kernel - max(spec.kernel - spec.stride, 0)
    return (size - 1) * spec.stride - 2 * _pad(spec) + spec.kernel + spec.output_padding


def _image(shape: Shape, op: str) -> Shape:
    if len(shape) != 3:
        raise ValueError(f"a '{op}' layer needs an image-shaped input (C, H, W)")
    return shape


def _project(spec: Any, shape: Shape) -> tuple[Shape, int]:
    features = spec.out * spec.size * spec.size
    return (spec.out, spec.size, spec.size), math.prod(shape) * features + (features if spec.bias else 0)


def _linear(spec: Any, shape: Shape) -> tuple[Shape, int]:
    return (spec.out,), math.prod(shape) * spec.out + (spec.out if spec.bias else 0)


def _convolution(side: Callable[[int, Any], int]) -> Callable[[Any, Shape], tuple[Shape, int]]:
    def output(spec: Any, shape: Shape) -> tuple[Shape, int]:
        c, h, w = _image(shape, "conv")
        weights = c * spec.out * spec.kernel * spec.kernel + (spec.out if spec.bias else 0)
        return (spec.out, side(h, spec), side(w, spec)), weights

    return output


def _upsample(spec: Any, shape: Shape) -> tuple[Shape, int]:
    c, h, w = _image(shape, "upsample")
    return (c, h * spec.scale, w * spec.scale), 0


def _batchnorm(spec: Any, shape: Shape) -> tuple[Shape, int]:
    return _image(shape, "batchnorm"), 2 * shape[0]


def _same(spec: Any, shape: Shape) -> tuple[Shape, int]:
    return shape, 0


@dataclass(frozen=True)
class Op:
    """One layer op: the keys it accepts, and (spec, input shape) -> (output shape, parameters)."""

    keys: frozenset[str]
    output: Callable[[Any, Shape], tuple[Shape, int]]


OPS: dict[str, Op] = {
    # Linear(latent -> out*size*size), reshaped to out x size x size (MATLAB's projectAndReshape)
    "project": Op(frozenset({"out", "size", "bias"}), _project),
    "linear": Op(frozenset({"out", "bias"}), _linear),  # flattens its input first
    "conv": Op(frozenset({"out", "kernel", "stride", "padding", "bias"}), _convolution(conv_side)),
    "convT": Op(
        frozenset({"out", "kernel", "stride", "padding", "output_padding", "bias"}),
        _convolution(conv_transpose_side),
    ),
    "upsample": Op(frozenset({"scale"}), _upsample),  # nearest-neighbour, as PyTorch-GAN's
    "batchnorm": Op(frozenset({"eps", "momentum"}), _batchnorm),
    "relu": Op(frozenset(), _same),
    "leaky_relu": Op(frozenset({"slope"}), _same),
    "tanh": Op(frozenset(), _same),
    "dropout": Op(frozenset({"p"}), _same),
    "dropout2d": Op(frozenset({"p"}), _same),
}


class _LayerKeys(Mapping[str, set[str]]):
    """op -> the keys it accepts, read from OPS each time (so an op added there is known)."""

    def __getitem__(self, op: str) -> set[str]:
        return set(OPS[op].keys)

    def __iter__(self) -> Iterator[str]:
        return iter(OPS)

    def __len__(self) -> int:
        return len(OPS)


LAYER_KEYS: Mapping[str, set[str]] = _LayerKeys()


def layer_output(spec: Any, shape: Shape) -> tuple[Shape, int]:
    """(output shape, parameters) of one layer given its input shape; ValueError when the op
    cannot take that input (a conv on a flat vector)."""
    return OPS[spec.op].output(spec, shape)
