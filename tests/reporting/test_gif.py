"""progress.gif: frames in order, thinned evenly, and a damaged picture left out with a warning."""

from __future__ import annotations

import os

import pytest
from PIL import Image

from gancli.reporting.gif import PictureSkipped, write_progress_gif


def _grid(path, value: int) -> None:
    Image.new("RGB", (12, 12), (value, 255 - value, 0)).save(path)


def _frames(gif) -> list[tuple[int, int, int]]:
    """The top-left pixel of every frame, as RGB."""
    out = []
    with Image.open(gif) as img:
        for i in range(img.n_frames):
            img.seek(i)
            out.append(img.convert("RGB").getpixel((0, 0)))
    return out


def test_frames_follow_the_grids_and_the_last_is_held(tmp_path):
    paths = []
    for i, value in enumerate((0, 100, 200)):
        paths.append(tmp_path / f"iter_{i:07d}.png")
        _grid(paths[-1], value)
    out = write_progress_gif(paths, tmp_path / "progress.gif", frame_ms=100)
    assert out == tmp_path / "progress.gif"
    assert [px[0] for px in _frames(out)] == [0, 100, 200]
    with Image.open(out) as img:
        img.seek(2)
        assert img.info["duration"] == 800  # the last frame 8x longer


def test_many_grids_are_thinned_evenly_keeping_the_last(tmp_path):
    paths = []
    for i in range(10):
        paths.append(tmp_path / f"iter_{i:07d}.png")
        _grid(paths[-1], i * 20)
    out = write_progress_gif(paths, tmp_path / "progress.gif", max_frames=4)
    assert [px[0] for px in _frames(out)] == [0, 40, 100, 180]  # picks 0, 2.5->2, 5, then the last


def test_unreadable_pictures_are_skipped_with_one_warning_each(tmp_path):
    good = [tmp_path / "iter_0000003.png", tmp_path / "iter_0000006.png"]
    _grid(good[0], 60)
    _grid(good[1], 120)
    empty = tmp_path / "iter_0000001.png"
    empty.write_bytes(b"")  # a full disk's leftover
    garbage = tmp_path / "iter_0000002.png"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(64))
    folder = tmp_path / "iter_0000004.png"
    folder.mkdir()
    fifo = tmp_path / "iter_0000005.png"
    os.mkfifo(fifo)  # opening it would block forever
    paths = [empty, garbage, good[0], folder, fifo, good[1]]
    with pytest.warns(PictureSkipped) as caught:
        out = write_progress_gif(paths, tmp_path / "progress.gif")
    assert sorted(str(w.message).split(" cannot be read")[0] for w in caught) == sorted(
        str(p) for p in (empty, garbage, folder, fifo)
    )
    assert [px[0] for px in _frames(out)] == [60, 120]


def test_no_readable_picture_writes_nothing(tmp_path):
    empty = tmp_path / "iter_0000001.png"
    empty.write_bytes(b"")
    with pytest.warns(PictureSkipped):
        assert write_progress_gif([empty], tmp_path / "progress.gif") is None
    assert write_progress_gif([], tmp_path / "progress.gif") is None
    assert not (tmp_path / "progress.gif").exists()
