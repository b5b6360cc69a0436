"""Image grids: uint8 batches -> one near-square PNG."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from gancli.fsutil import atomic_write_bytes


def grid_shape(n: int) -> tuple[int, int]:
    """(rows, cols) of a near-square grid for n images: 25 -> 5x5, 10 -> 3x4."""
    cols = math.ceil(math.sqrt(n))
    return math.ceil(n / cols), cols


def make_grid(
    images: torch.Tensor, cols: int | None = None, padding: int = 2, pad_value: int = 0
) -> Image.Image:
    """uint8 (N, C, H, W) -> a PIL image tiling them row by row."""
    n, c, h, w = images.shape
    rows, auto_cols = grid_shape(n)
    cols = cols or auto_cols
    rows = math.ceil(n / cols)
    canvas = np.full(
        (rows * (h + padding) + padding, cols * (w + padding) + padding, c), pad_value, dtype=np.uint8
    )
    arr = images.permute(0, 2, 3, 1).numpy()
    for i in range(n):
        r, q = divmod(i, cols)
        y, x = padding + r * (h + padding), padding + q * (w + padding)
        canvas[y : y + h, x : x + w] = arr[i]
    return Image.fromarray(canvas[:, :, 0] if c == 1 else canvas, mode="L" if c == 1 else "RGB")


def label_tiles(
    grid: Image.Image, labels: list[str], tile: tuple[int, int], cols: int, padding: int = 2
) -> Image.Image:
    """Draw labels[i] at the top-left corner of tile i of a make_grid picture (white on a black box,
    Pillow's default font), on a copy."""
    out = grid.convert("RGB")
    draw = ImageDraw.Draw(out)
    font = ImageFont.load_default()
    h, w = tile
    for i, text in enumerate(labels):
        r, q = divmod(i, cols)
        x, y = padding + q * (w + padding), padding + r * (h + padding)
        left, top, right, bottom = draw.textbbox((x + 1, y), text, font=font)
        draw.rectangle((x, y, min(right + 1, x + w - 1), min(bottom + 1, y + h - 1)), fill=(0, 0, 0))
        draw.text((x + 1, y), text, fill=(255, 255, 255), font=font)
    return out


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] -> uint8 on the host (the reference's rescale to [0, 1], then 255)."""
    return images.detach().float().add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8).cpu()


def save_png(image: Image.Image, path: Path) -> None:
    """Write a PNG atomically."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())
