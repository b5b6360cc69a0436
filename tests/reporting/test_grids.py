"""Sample grids: near-square layout, each image at its place, the [-1, 1] -> uint8 mapping."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from gancli.reporting.grids import grid_shape, make_grid, save_png, to_uint8


@pytest.mark.parametrize(
    ("n", "shape"), [(1, (1, 1)), (10, (3, 4)), (16, (4, 4)), (25, (5, 5)), (26, (5, 6))]
)
def test_grid_shape_is_near_square_and_holds_every_image(n, shape):
    rows, cols = grid_shape(n)
    assert (rows, cols) == shape and rows * cols >= n and (rows - 1) * cols < n


def test_each_image_lands_in_its_cell_with_padding():
    images = torch.arange(6, dtype=torch.uint8).mul(40).view(6, 1, 1, 1).expand(6, 3, 4, 4).contiguous()
    grid = np.asarray(make_grid(images, cols=3, padding=2, pad_value=7))
    assert grid.shape == (2 * 6 + 2, 3 * 6 + 2, 3)
    for i in range(6):
        r, c = divmod(i, 3)
        y, x = 2 + r * 6, 2 + c * 6
        assert (grid[y : y + 4, x : x + 4] == i * 40).all()
    assert (grid[0] == 7).all() and (grid[:, 0] == 7).all()


def test_grayscale_grids_are_one_channel():
    grid = make_grid(torch.full((4, 1, 3, 3), 200, dtype=torch.uint8))
    assert grid.mode == "L" and grid.size == (2 * 5 + 2, 2 * 5 + 2)


def test_to_uint8_maps_the_generator_range_and_clamps():
    out = to_uint8(torch.tensor([-2.0, -1.0, 0.0, 1.0, 3.0]))
    assert out.dtype == torch.uint8 and out.tolist() == [0, 0, 128, 255, 255]


def test_save_png_round_trips(tmp_path):
    images = torch.randint(0, 256, (4, 3, 5, 5), dtype=torch.uint8)
    save_png(make_grid(images), tmp_path / "g.png")
    with Image.open(tmp_path / "g.png") as img:
        assert np.array_equal(np.asarray(img), np.asarray(make_grid(images)))
    assert [p.name for p in tmp_path.iterdir()] == ["g.png"]  # no temp file left
