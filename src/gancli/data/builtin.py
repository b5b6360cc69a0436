"""`shapes`: the built-in dataset, drawn offline and deterministically, so a first run needs no network.

Each image is one filled disc, square or triangle of a saturated colour on a darker,
softly shaded background. Simple enough for a small GAN to learn in minutes on a CPU,
varied enough (shape, colour, size, position) that mode collapse is visible.
"""

from __future__ import annotations

import math

import torch

from gancli.limits import check_memory

SHAPES_NAME = "shapes"
SHAPES_DEFAULT_SIZE = 4096
SHAPES_SEED = 20240
# float32 coordinates, masks and colour planes alive at once while drawing, per pixel of each image
BYTES_PER_PIXEL = 48


def shapes(
    n: int = SHAPES_DEFAULT_SIZE, resolution: int = 64, channels: int = 3, seed: int = SHAPES_SEED
) -> torch.Tensor:
    """n images as uint8 (n, channels, resolution, resolution); the same arguments give the same pixels."""
    check_memory(
        n * resolution**2 * BYTES_PER_PIXEL,
        f"Drawing {n:,} built-in shapes at {resolution}x{resolution}",
        "Choose a smaller --resolution (or data.size).",
    )
    p = shape_parameters(n, seed)
    r = resolution
    coords = (torch.arange(r, dtype=torch.float32) + 0.5) / r
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")  # (r, r) in (0, 1)
    dx = xx[None] - p["cx"][:, None, None]
    dy = yy[None] - p["cy"][:, None, None]
    rad = p["radius"][:, None, None]
    disc = dx.square() + dy.square() <= rad.square()
    square = (dx.abs() <= rad * 0.85) & (dy.abs() <= rad * 0.85)
    # upward triangle: below the apex, above the base, inside two slanted edges
    tri = (dy <= rad * 0.8) & (dy >= -rad) & (dx.abs() <= (dy + rad) * math.tan(math.radians(32)))
    kind = p["kind"][:, None, None]
    mask = torch.where(kind == 0, disc, torch.where(kind == 1, square, tri))
    fg = _hsv_to_rgb(p["hue"], p["saturation"], p["value"])
    bg = _hsv_to_rgb(p["bg_hue"], p["bg_saturation"], p["bg_value"])
    shade = 0.75 + 0.5 * yy[None]  # a vertical light gradient over the background
    img = torch.where(mask[:, None], fg[:, :, None, None], bg[:, :, None, None] * shade[:, None])
    if channels == 1:
        img = (img * torch.tensor([0.299, 0.587, 0.114])[None, :, None, None]).sum(1, keepdim=True)
    return (img.clamp(0, 1) * 255).round().to(torch.uint8)


def shape_parameters(n: int = SHAPES_DEFAULT_SIZE, seed: int = SHAPES_SEED) -> dict[str, torch.Tensor]:
    """What each of the n images of `shapes(n, seed=seed)` shows (at any resolution): kind (0 disc,
    1 square, 2 triangle), radius, centre (cx, cy) and colours, all (n,) tensors. The labels a
    benchmark's classifier learns; the draws are the pictures' own, in their order."""
    g = torch.Generator().manual_seed(seed)
    kind = torch.randint(0, 3, (n,), generator=g)
    radius = 0.14 + 0.16 * torch.rand(n, generator=g)
    cx = radius + (1 - 2 * radius) * torch.rand(n, generator=g)
    cy = radius + (1 - 2 * radius) * torch.rand(n, generator=g)
    hue = torch.rand(n, generator=g)
    saturation = 0.75 + 0.25 * torch.rand(n, generator=g)
    value = 0.85 + 0.15 * torch.rand(n, generator=g)
    bg_hue = (hue + 0.35 + 0.3 * torch.rand(n, generator=g)) % 1.0
    bg_saturation = 0.3 + 0.3 * torch.rand(n, generator=g)
    bg_value = 0.15 + 0.25 * torch.rand(n, generator=g)
    return {
        "kind": kind,
        "radius": radius,
        "cx": cx,
        "cy": cy,
        "hue": hue,
        "saturation": saturation,
        "value": value,
        "bg_hue": bg_hue,
        "bg_saturation": bg_saturation,
        "bg_value": bg_value,
    }


def _hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """(n,) HSV in [0,1] -> (n, 3) RGB in [0,1]."""
    k = (torch.tensor([5.0, 3.0, 1.0])[None] + h[:, None] * 6) % 6
    return v[:, None] - v[:, None] * s[:, None] * torch.clamp(torch.minimum(k, 4 - k), 0, 1)
