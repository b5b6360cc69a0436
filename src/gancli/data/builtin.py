"""`shapes`: the built-in dataset, drawn offline and deterministically, so a first run needs no network.

Each image is one filled disc, square or triangle of a saturated colour on a darker,
softly shaded background. Simple enough for a small GAN to learn in minutes on a CPU,
varied enough (shape, colour, size, position) that mode collapse is visible.
"""

from __future__ import annotations

import math

import torch

SHAPES_NAME = "shapes"
SHAPES_DEFAULT_SIZE = 4096
SHAPES_SEED = 20240


def shapes(
    n: int = SHAPES_DEFAULT_SIZE, resolution: int = 64, channels: int = 3, seed: int = SHAPES_SEED
) -> torch.Tensor:
    """n images as uint8 (n, channels, resolution, resolution); the same arguments give the same pixels."""
    g = torch.Generator().manual_seed(seed)
    r = resolution
    coords = (torch.arange(r, dtype=torch.float32) + 0.5) / r
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")  # (r, r) in (0, 1)
    kind = torch.randint(0, 3, (n,), generator=g)
    radius = 0.14 + 0.16 * torch.rand(n, generator=g)
    cx = radius + (1 - 2 * radius) * torch.rand(n, generator=g)
    cy = radius + (1 - 2 * radius) * torch.rand(n, generator=g)
    dx = xx[None] - cx[:, None, None]
    dy = yy[None] - cy[:, None, None]
    rad = radius[:, None, None]
    disc = dx.square() + dy.square() <= rad.square()
    square = (dx.abs() <= rad * 0.85) & (dy.abs() <= rad * 0.85)
    # upward triangle: below the apex, above the base, inside two slanted edges
    tri = (dy <= rad * 0.8) & (dy >= -rad) & (dx.abs() <= (dy + rad) * math.tan(math.radians(32)))
    mask = torch.where(kind[:, None, None] == 0, disc, torch.where(kind[:, None, None] == 1, square, tri))

    hue = torch.rand(n, generator=g)
    fg = _hsv_to_rgb(hue, 0.75 + 0.25 * torch.rand(n, generator=g), 0.85 + 0.15 * torch.rand(n, generator=g))
    bg_hue = (hue + 0.35 + 0.3 * torch.rand(n, generator=g)) % 1.0
    bg = _hsv_to_rgb(bg_hue, 0.3 + 0.3 * torch.rand(n, generator=g), 0.15 + 0.25 * torch.rand(n, generator=g))
    shade = 0.75 + 0.5 * yy[None]  # a vertical light gradient over the background
    img = torch.where(mask[:, None], fg[:, :, None, None], bg[:, :, None, None] * shade[:, None])
    if channels == 1:
        img = (img * torch.tensor([0.299, 0.587, 0.114])[None, :, None, None]).sum(1, keepdim=True)
    return (img.clamp(0, 1) * 255).round().to(torch.uint8)


def _hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """(n,) HSV in [0,1] -> (n, 3) RGB in [0,1]."""
    k = (torch.tensor([5.0, 3.0, 1.0])[None] + h[:, None] * 6) % 6
    return v[:, None] - v[:, None] * s[:, None] * torch.clamp(torch.minimum(k, 4 - k), 0, 1)
