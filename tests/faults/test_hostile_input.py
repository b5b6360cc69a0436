"""Hostile files through the CLI: pickled code in a checkpoint, YAML that attacks the parser or
lies about types, and image folders full of bombs, fakes and broken files.

Promise: nothing runs, nothing is decoded that should not be, and every refusal is one
paragraph with a non-zero exit and no traceback; bad images are skipped and listed.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zlib

import pytest
import torch
from faults.faultkit import assert_clean_error, png_bytes
from PIL import Image

# ---------------------------------------------------------------- checkpoints


class RunsCode:
    """Unpickling this calls open(marker, "w"): proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def evil_checkpoint(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pt"
    torch.save(
        {
            "format": "gancli-checkpoint",
            "version": 1,
            "config": {},
            "iteration": 1,
            "generator": RunsCode(str(marker)),
            "discriminator": {},
            "opt_g": {},
            "opt_d": {},
            "rng": {},
        },
        path,
    )
    return path, marker


def test_pickle_payload_is_refused_by_sample_and_resume(evil_checkpoint, tmp_path, cli):
    path, marker = evil_checkpoint
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.pt").write_bytes(path.read_bytes())
    for args in (
        ("sample", path, "--out", tmp_path / "g.png"),
        ("sample", run, "--out", tmp_path / "g.png"),
        ("train", "--resume", path, "--iters", "3"),
        ("train", "--resume", run, "--iters", "3"),
    ):
        where = path if path in args else run / "checkpoints" / "last.pt"
        assert_clean_error(cli(*args), f"Checkpoint {where} was refused", "could run code", code=2)
    assert not marker.exists()  # the payload never ran
    assert not (tmp_path / "g.png").exists() and not (run / "config.yaml").exists()


# ---------------------------------------------------------------- YAML configs

YAML_CASES = {
    "python-object-tag": ("train: !!python/object/apply:os.system ['touch {marker}']\n", "not valid YAML"),
    "python-name-tag": ("train: {step: !!python/name:os.system }\n", "not valid YAML"),
    "billion-laughs": (
        "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
        "aliases",
    ),
    "deep-nesting": ("train: " + "[" * 20_000 + "]" * 20_000 + "\n", "nests lists or mappings too deeply"),
    "top-level-list": ("- preset: quick\n", "must hold a mapping"),
    "section-not-mapping": ("train: [1, 2]\n", "'train' must be a mapping"),
    "wrong-scalar-type": ("train: {batch_size: eight}\n", "'train.batch_size' must be int"),
    "layers-not-a-list": ("model: {generator: {op: conv}}\n", "'model.generator' must be a list"),
    "layer-op-not-a-name": ("model: {generator: [{op: [conv]}]}\n", "'model.generator[0].op'"),
    "nan-learning-rate": ("train: {lr_g: .nan}\n", "'train.lr_g' is nan"),
    "infinite-loss-scale": ("train: {d_loss_scale: .inf}\n", "'train.d_loss_scale' is inf"),
    "huge-seed": ("train: {seed: 100000000000000000000000000000}\n", "'train.seed'"),
    "bad-cuda-index": ("train: {device: 'cuda:first'}\n", "'train.device' is 'cuda:first'"),
    "nul-in-dataset-name": ('data: {name: "shapes\\0/../x"}\n', "NUL character"),
    "unknown-key": ("train: {learning_rate: 0.1}\n", "Unknown config key 'train.learning_rate'"),
    "negative-padding": (
        "model: {generator: [{op: conv, out: 3, kernel: 3, padding: -2}]}\n",
        "padding' is -2",
    ),
    "absurd-width": ("model: {latent_dim: 1000000000}\n", "'model.latent_dim' is 1000000000"),
}


@pytest.mark.parametrize("case", sorted(YAML_CASES))
def test_hostile_or_wrong_yaml_is_refused(case, tmp_path, cli):
    text, needle = YAML_CASES[case]
    marker = tmp_path / "code-ran"
    path = tmp_path / f"{case}.yaml"
    path.write_text(
        "preset: quick\n" + text.replace("{marker}", str(marker)) if case != "top-level-list" else text
    )
    assert_clean_error(cli("train", "--config", path, "--out", tmp_path / "run"), needle, code=2)
    assert not marker.exists() and not (tmp_path / "run").exists()


def test_config_that_is_not_a_text_file_is_refused(tmp_path, cli):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00\x01" * 64)
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (1 << 20) + "\n")
    cases = [
        (binary, "cannot be read"),
        (big, "at most 1048576 bytes"),
        (tmp_path, "cannot be read"),
        ("/dev/zero", "holds more than 1048576 bytes"),
    ]  # a device: size 0, endless content
    for path, needle in cases:
        assert_clean_error(
            cli("train", "--config", path, "--out", tmp_path / "run"), str(path), needle, code=2
        )


# ---------------------------------------------------------------- images


def png_with_header(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height (a decompression bomb by its dimensions)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def test_image_folder_bombs_fakes_and_broken_files_are_skipped_and_listed(tmp_path, cli):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        (folder / f"good{i}.png").write_bytes(png_bytes(i))
    jpeg = io.BytesIO()
    Image.new("RGB", (20, 20), (0, 128, 0)).save(jpeg, format="JPEG")
    (folder / "really-a-jpeg.png").write_bytes(jpeg.getvalue())  # a wrong extension: decoded by content
    (folder / "bomb.png").write_bytes(png_with_header(60_000, 60_000))  # 3.6 gigapixels claimed in 100 bytes
    (folder / "truncated.png").write_bytes(png_bytes(9, 64)[:300])
    (folder / "text.jpg").write_text("this is not an image")
    (folder / "empty.webp").write_bytes(b"")
    (folder / "folder.png").mkdir()  # not a file: ignored
    os.symlink(folder / "missing.png", folder / "dangling.png")  # ignored
    os.mkfifo(folder / "pipe.png")  # opening it would block: ignored
    (folder / "notes.txt").write_text("ignored by extension")

    res = cli("data", "info", folder, "--resolution", "16", "--json")
    assert res.code == 0, res.text
    report = json.loads(res.out)
    assert report["images"] == 4
    skipped = {s["file"]: s["reason"] for s in report["skipped"]}
    assert sorted(skipped) == ["bomb.png", "empty.webp", "text.jpg", "truncated.png"]
    assert "DecompressionBomb" in skipped["bomb.png"] and "exceeds limit" in skipped["bomb.png"]
    table = cli(
        "data", "info", folder, "--resolution", "16"
    )  # the table view lists them too (from the cache)
    text = " ".join(table.text.split())
    assert table.code == 0 and "4 files skipped:" in text and "bomb.png (DecompressionBombError" in text
