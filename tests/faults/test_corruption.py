"""A cache file, a checkpoint or the metrics log truncated or corrupted on disk.

Promise: a damaged prepared cache is rebuilt with a warning; a damaged checkpoint is a clear
error that names it and the previous checkpoint to use instead, through `gan sample` and
`gan train --resume`, and that previous checkpoint then works; damaged metrics lines never
break a resume or curves.png.
"""

from __future__ import annotations

import json
import math

import pytest
from faults.faultkit import assert_clean_error, png_bytes, temp_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from gancli.fsutil import zip_damage
from gancli.reporting.curves import render_curves, write_curves
from gancli.reporting.jsonl import read_metrics
from gancli.training.checkpoint import load_checkpoint


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_middle(path):
    """One flipped byte in the middle of a tensor's data: torch.load alone would not notice."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


DAMAGE = {"truncated": truncate, "bit-flip": flip_middle}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_prepared_cache_is_rebuilt_with_a_warning(damage, tmp_path, cli):
    folder, root = tmp_path / "photos", tmp_path / "root"
    folder.mkdir()
    for i in range(12):
        (folder / f"{i:02d}.png").write_bytes(png_bytes(i))
    args = ("data", "info", folder, "--resolution", "16", "--root", root, "--json")
    first = cli(*args)
    assert first.code == 0, first.text
    cache = root / "prepared" / json.loads(first.out)["cache_file"].rsplit("/", 1)[1]
    good = cache.read_bytes()
    DAMAGE[damage](cache)
    res = cli("data", "info", folder, "--resolution", "16", "--root", root)
    assert res.code == 0, res.text
    text = " ".join(res.text.split())
    assert "warning:" in text and "is being rebuilt" in text and cache.name in "".join(res.text.split())
    assert zip_damage(cache) is None and len(cache.read_bytes()) == len(good)  # rebuilt whole
    assert json.loads(cli(*args).out)["from_cache"] is True  # and used again from then on


@pytest.fixture
def run6(tmp_path, write_config, cli):
    """A tiny run: last.pt at iteration 6, previous.pt at 3."""
    run = tmp_path / "run"
    assert cli("train", "--config", write_config(iters=6, checkpoint_every=3), "--out", run).code == 0
    return run


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_last_checkpoint_names_the_previous_one_which_then_works(damage, run6, tmp_path, cli):
    last, previous = run6 / "checkpoints" / "last.pt", run6 / "checkpoints" / "previous.pt"
    DAMAGE[damage](last)
    for args in (
        ("sample", run6, "--out", tmp_path / "g.png"),
        ("sample", last, "--out", tmp_path / "g.png"),
        ("train", "--resume", run6, "--iters", "8"),
    ):
        assert_clean_error(
            cli(*args),
            f"Checkpoint {last}",
            "corrupt",
            f"previous checkpoint {previous}",
            f"gan train --resume {previous}",
        )
    assert not (tmp_path / "g.png").exists()
    assert cli("sample", previous, "--out", tmp_path / "g.png").code == 0
    res = cli("train", "--resume", previous, "--iters", "8")
    assert res.code == 0, res.text
    assert "from iteration 3" in " ".join(res.out.split())
    assert (
        load_checkpoint(last)["iteration"] == 8 and load_checkpoint(previous)["iteration"] == 6
    )  # the damaged file is gone
    lines = [json.loads(line)["iteration"] for line in (run6 / "metrics.jsonl").read_text().splitlines()]
    assert lines == [2, 4, 6, 8]
    assert not temp_files(run6)


DAMAGED_LINES = [
    b"\x00\xff\xfe garbage \x80",
    b'{"iteration": 7, "loss_d": 0.5',  # half a line: a crash mid-write
    b"[1, 2, 3]",
    b"[" * 100_000,  # nesting deep enough to exhaust the JSON parser's recursion
    b'{"iteration": 1' + b"0" * 5000 + b"}",  # more digits than Python parses
    b'{"iteration": 100000000000000000000000000000}',
    b'{"iteration": true, "loss_d": 1}',
    b'{"iteration": "3"}',
    b'{"iteration": 5, "loss_d": 1e308, "loss_g": -1e308, "score_d": NaN, "score_g": Infinity}',
]


def test_damaged_metrics_lines_break_neither_resume_nor_curves(run6, cli):
    metrics = run6 / "metrics.jsonl"
    lines = metrics.read_bytes().splitlines()
    metrics.write_bytes(b"\n".join([lines[0], *DAMAGED_LINES, *lines[1:]]) + b"\n" + DAMAGED_LINES[1])
    records = read_metrics(metrics)
    assert [r["iteration"] for r in records] == [2, 5, 4, 6]  # only the well-formed records
    write_curves(records, run6 / "curves-check.png")
    res = cli("train", "--resume", run6, "--iters", "8")
    assert res.code == 0, res.text
    kept = [json.loads(line) for line in metrics.read_text().splitlines()]  # every line parses again
    assert [r["iteration"] for r in kept] == [2, 5, 4, 6, 8]
    with Image.open(run6 / "curves.png") as img:
        img.verify()


finite_or_not = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**30), 10**30),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.fixed_dictionaries(
            {"iteration": st.integers(0, 2**53 - 1)},
            optional={k: finite_or_not for k in ("loss_d", "loss_g", "score_d", "score_g")},
        ),
        max_size=12,
    )
)
def test_curves_draw_any_records_read_back(records):
    image = render_curves(records, width=320, height=240)
    assert image.size == (320, 240)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=60) | st.sampled_from([l + b"" for l in DAMAGED_LINES[:3]]), max_size=8))
def test_any_bytes_in_the_metrics_log_read_without_error(tmp_path_factory, chunks):
    path = tmp_path_factory.mktemp("m") / "metrics.jsonl"
    path.write_bytes(b"\n".join(chunks))
    for record in read_metrics(path):
        assert type(record["iteration"]) is int and 0 <= record["iteration"] < 2**53
        assert not math.isnan(record["iteration"])


def test_a_damaged_sample_picture_never_stops_training(run6, cli):
    """A 0-byte samples/iter_0000001.png (a full disk's leftover) is left out of progress.gif with
    a warning; the resumed run finishes and redraws the GIF from the readable grids."""
    damaged = run6 / "samples" / "iter_0000001.png"
    damaged.write_bytes(b"")
    res = cli("train", "--resume", run6, "--iters", "8")
    assert res.code == 0, res.text
    # once (the GIF is redrawn twice), as a note, not Python's warning format with a source line
    joined = res.text.replace("\n", "")  # the console folds long paths
    assert joined.count("iter_0000001.png cannot be read") == 1 and "warning: " in res.text
    assert "PictureSkipped" not in res.text and "warnings.warn" not in res.text
    with Image.open(run6 / "progress.gif") as gif:
        assert gif.n_frames == len(list((run6 / "samples").glob("iter_*.png"))) - 1
    assert damaged.read_bytes() == b""  # the user's file is left as it was
