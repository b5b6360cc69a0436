"""Hostile files through the CLI: pickled code in a checkpoint, YAML that attacks the parser or
lies about types, and image folders full of bombs, fakes and broken files.

Promise: nothing runs, nothing is decoded that should not be, and every refusal is one
paragraph with a non-zero exit and no traceback; bad images are skipped and listed.
"""

from __future__ import annotations

import io
import json
import os

import pytest
import torch
from faults.faultkit import assert_clean_error, png_bytes, png_with_header
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
        ("/dev/zero", "not a regular file"),
    ]  # a device: size 0, endless content; refused before it is opened
    for path, needle in cases:
        assert_clean_error(
            cli("train", "--config", path, "--out", tmp_path / "run"), str(path), needle, code=2
        )


# ---------------------------------------------------------------- images


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


# ---------------------------------------------------------------- crafted checkpoints


@pytest.fixture(scope="module")
def good_payload(tmp_path_factory):
    """The payload of a real tiny run's checkpoint (iteration 3), to be damaged one part at a time."""
    import yaml
    from conftest import run_cli, tiny_config_dict

    folder = tmp_path_factory.mktemp("good")
    config = folder / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config_dict(iters=3)))
    assert run_cli("train", "--config", config, "--out", folder / "run").code == 0
    return torch.load(folder / "run" / "checkpoints" / "last.pt", weights_only=True)


def _set(path: str, value):
    """A mutation setting payload[k1][k2]... (a missing value deletes the key)."""

    def mutate(payload):
        *parents, last = path.split("/")
        node = payload
        for key in parents:  # digits index lists, and optimiser states keyed by parameter id
            node = node[int(key) if key.isdigit() and (isinstance(node, list) or int(key) in node) else key]
        if value is KeyError:
            del node[last]
        else:
            node[int(last) if last.isdigit() else last] = value(node) if callable(value) else value

    return mutate


def _first_key(mapping):
    return next(iter(mapping))


CRAFTED = {
    # a wrong-shaped Adam moment: fused Adam used to segfault on it (exit 139)
    "exp-avg-shape": (
        _set("opt_g/state/0/exp_avg", torch.zeros(3)),
        "opt_g.state[0]['exp_avg'] has shape (3,)",
    ),
    "generator-shape": (
        _set("generator/layers.0.fc.weight", torch.zeros(2, 2)),
        "generator['layers.0.fc.weight'] has shape (2, 2), expected (256, 8)",
    ),
    "generator-key-missing": (_set("generator/layers.1.bias", KeyError), "generator lacks 'layers.1.bias'"),
    "iteration-text": (_set("iteration", "abc"), "iteration is 'abc'"),
    "iteration-tensor": (_set("iteration", torch.tensor(5)), "iteration is a torch.int64 tensor"),
    "config-string": (_set("config", "quick"), "config is 'quick', expected a mapping"),
    "elapsed-text": (_set("elapsed_s", "long"), "elapsed_s is 'long'"),
    "world-size-float": (_set("world_size", 2.5), "world_size is 2.5"),
    "param-groups-short": (_set("opt_d/param_groups/0/params", [0, 1]), "opt_d.param_groups[0].params"),
    "param-groups-two": (
        _set("opt_d/param_groups", lambda node: node["param_groups"] * 2),
        "opt_d.param_groups holds 2 entries",
    ),
    # 1e9 x 8 floats described by one row of storage: 32 GB if anything touched it
    "fixed-latents-expanded": (
        _set("fixed_latents", torch.zeros(1, 8).expand(10**9, 8)),
        "fixed_latents has shape (1000000000, 8), expected (25, 8)",
    ),
    "rng-wrong-size": (_set("rng/torch", torch.zeros(10, dtype=torch.uint8)), "rng['torch']"),
    "ema-shape": (_set("generator_ema", {"layers.0.fc.weight": torch.zeros(1)}), "generator_ema lacks"),
    "best-fid-text": (_set("best_fid", "low"), "best_fid is 'low'"),
    "version-text": (_set("version", "1"), "version is '1'"),
}


def _write_run(tmp_path, payload):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    torch.save(payload, run / "checkpoints" / "last.pt")
    return run


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_checkpoint_is_refused_naming_the_damaged_key(case, good_payload, tmp_path, cli, zygote):
    import copy

    mutate, needle = CRAFTED[case]
    payload = copy.deepcopy(good_payload)
    mutate(payload)
    run = _write_run(tmp_path, payload)
    last = run / "checkpoints" / "last.pt"
    assert last.stat().st_size < 200_000  # a small file, whatever it claims
    assert_clean_error(cli("sample", last, "--out", tmp_path / "g.png"), f"Checkpoint {last}", needle, code=2)
    # resume in a real process: a crash in a torch kernel must show as an exit code, not kill pytest
    res = zygote.run("train", "--resume", run, "--iters", "6")
    assert res.code == 2 and "Traceback" not in res.text, res.text
    assert needle in " ".join(res.text.split()), res.text
    assert not (tmp_path / "g.png").exists() and not (run / "config.yaml").exists()


def test_optional_and_unknown_checkpoint_keys_are_accepted(good_payload, tmp_path, cli):
    """generator_ema and best_fid/best_iteration (newer runs) are checked and accepted; unknown
    keys from a newer gancli of the same format version are ignored."""
    payload = {
        **good_payload,
        "generator_ema": dict(good_payload["generator"]),
        "best_fid": 12.5,
        "best_iteration": 3,
        "from_the_future": {"anything": torch.zeros(2)},
    }
    run = _write_run(tmp_path, payload)
    res = cli("sample", run, "-n", "4", "--out", tmp_path / "g.png")
    assert res.code == 0, res.text
    assert (tmp_path / "g.png").is_file()


def _other_files(tmp_path):
    import tarfile

    text = tmp_path / "notes.pt"
    text.write_text("hello, this is not a checkpoint\n")
    png = tmp_path / "picture.pt"
    png.write_bytes(png_bytes(1))
    config = tmp_path / "config.pt"
    config.write_text("preset: quick\ntrain: {iters: 3}\n")
    tgz = tmp_path / "archive.pt"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(text, arcname="notes.txt")
    return {text: "a text file", png: "a PNG image", config: "a text file", tgz: "a gzip file"}


def test_files_that_are_not_checkpoints_are_named_as_such(tmp_path, cli):
    for path, kind in _other_files(tmp_path).items():
        res = cli("sample", path, "--out", tmp_path / "g.png")  # `gan score` loads through the same code
        assert_clean_error(res, f"{path} is not a gan checkpoint (it is {kind}", code=2)
