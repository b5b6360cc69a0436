"""Fitting a preset's layer lists to another image size (`gan train --resolution`).

The DCGAN-class presets grow by blocks, as pytorch/examples does: the generator doubles the
side in each block that starts with a stride-2 transposed conv (or a x2 upsample), the
discriminator halves it in each block that starts with a stride-2 conv. Another resolution,
a power-of-two multiple of the preset's, repeats the last middle block once per doubling, or
drops one per halving; the first and last blocks (from the latent, to the image, from the
image, to the logit) stay. Layer lists written in the user's own --config are never changed.
"""

from __future__ import annotations

import copy
import math

from gancli.errors import UserError
from gancli.limits import MAX_RESOLUTION


def _is_up(layer: dict) -> bool:
    return (layer.get("op") == "convT" and layer.get("stride", 1) == 2) or (
        layer.get("op") == "upsample" and layer.get("scale", 2) == 2
    )


def _is_down(layer: dict) -> bool:
    return layer.get("op") == "conv" and layer.get("stride", 1) == 2


def _middle_blocks(layers: list[dict], starts_block) -> list[tuple[int, int]]:
    """(start, end) of each block followed by another of its kind, in order, less the
    discriminator's first (it takes the image in; a generator's image block is its last, which
    no block follows)."""
    starts = [i for i, layer in enumerate(layers) if starts_block(layer)]
    blocks = list(zip(starts, starts[1:]))
    return blocks if starts_block is _is_up else blocks[1:]


def rescale(layers: list[dict], doublings: int, starts_block, where: str) -> list[dict]:
    """`layers` with the last middle block repeated `doublings` times (or, for a negative
    count, that many middle blocks dropped from the end)."""
    layers = copy.deepcopy(layers)
    for _ in range(abs(doublings)):
        middle = _middle_blocks(layers, starts_block)
        if not middle:
            raise UserError(
                f"The preset's {where} has no middle block to {'repeat' if doublings > 0 else 'drop'} for "
                "another image size. Choose another preset or --resolution, or write the layer lists in a --config file."
            )
        start, end = middle[-1]
        block = layers[start:end]
        layers = (
            layers[:end] + copy.deepcopy(block) + layers[end:]
            if doublings > 0
            else layers[:start] + layers[end:]
        )
    return layers


def fit_to_resolution(data: dict, preset_resolution: int, user_layers: bool) -> dict:
    """The config mapping with its dcgan layer lists fitted to its model.resolution (not changed
    when the resolution is the preset's, the arch builds from model.width, or the lists are the
    user's own)."""
    model = data.get("model", {})
    target = model.get("resolution", preset_resolution)
    if model.get("arch", "dcgan") != "dcgan" or user_layers or target == preset_resolution:
        return data
    if not isinstance(target, int) or not 0 < target <= MAX_RESOLUTION:
        return data  # validation names the value and its bounds
    ratio = target / preset_resolution if isinstance(target, int) and target > 0 else 0
    doublings = round(math.log2(ratio)) if ratio > 0 else None
    if doublings is None or 2.0**doublings != ratio:
        raise UserError(
            f"--resolution {target}: the preset's networks are built for {preset_resolution}x{preset_resolution} "
            f"and grow or shrink by doubling, so give {preset_resolution} times a power of two "
            f"(e.g. {preset_resolution // 2}, {preset_resolution * 2}, {preset_resolution * 4})."
        )
    data = copy.deepcopy(data)
    data["model"]["generator"] = rescale(model["generator"], doublings, _is_up, "generator")
    data["model"]["discriminator"] = rescale(model["discriminator"], doublings, _is_down, "discriminator")
    return data
