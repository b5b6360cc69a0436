"""`gan train --conditional` on a folder of class subfolders, end to end, and `gan sample
--class` / `--per-class` on the run it makes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from conftest import run_cli, tiny_config_dict
from PIL import Image

from gancli.errors import UserError
from gancli.sampling import load_generator

COLOURS = {"blue": (20, 40, 220), "green": (30, 200, 40), "red": (220, 30, 30)}


def photos(root, per_class: int = 6, classes=COLOURS):
    for name, rgb in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (20, 20), tuple(min(255, c + 5 * i) for c in rgb)).save(root / name / f"{i}.png")
    return root


def train(folder, data, *extra):
    config = folder / "tiny.yaml"
    cfg = tiny_config_dict(iters=6)
    cfg["data"] = {"name": str(data)}
    config.write_text(yaml.safe_dump(cfg))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GAN_HOME", str(folder / "home"))
        return run_cli("train", "--config", config, "--out", folder / "run", *extra)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cond")
    res = train(folder, photos(folder / "photos"), "--conditional")
    assert res.code == 0, res.text
    return folder / "run"


def test_the_run_keeps_the_folders_classes(run):
    saved = yaml.safe_load((run / "config.yaml").read_text())["model"]
    assert saved["conditional"] is True and saved["classes"] == ["blue", "green", "red"]
    generator, cfg = load_generator(run)  # the checkpoint validates against its config
    assert generator.classes == 3 and cfg.model.classes == saved["classes"]


def test_conditional_needs_class_folders(tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(20):
        Image.new("RGB", (20, 20), (i, i, i)).save(flat / f"{i}.png")
    res = train(tmp_path, flat, "--conditional")
    assert res.code == 2 and "one subfolder per class" in res.err
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_class_with_too_few_images_is_named(tmp_path):
    data = photos(tmp_path / "photos")
    (data / "grey").mkdir()
    Image.new("RGB", (20, 20)).save(data / "grey" / "only.png")
    res = train(tmp_path, data, "--conditional")
    assert res.code == 2 and "grey (1)" in res.err


def pixels(path):
    return np.asarray(Image.open(path))


def test_sample_class_by_name_or_index(run, tmp_path):
    for name, arg in (("a", "green"), ("b", "1"), ("c", "2")):
        res = run_cli("sample", run, "-n", 4, "--class", arg, "--out", tmp_path / f"{name}.png")
        assert res.code == 0, res.text
    assert "of class red" in res.out
    assert np.array_equal(pixels(tmp_path / "a.png"), pixels(tmp_path / "b.png"))
    assert not np.array_equal(pixels(tmp_path / "b.png"), pixels(tmp_path / "c.png"))


def test_sample_errors_name_the_classes(run, tmp_path):
    res = run_cli("sample", run, "--class", "purple", "--out", tmp_path / "x.png")
    assert res.code == 2 and "0 blue, 1 green, 2 red" in res.err
    res = run_cli("sample", run, "--class", "1", "--per-class", "--out", tmp_path / "x.png")
    assert res.code == 2 and "give one of them" in res.err


def test_class_rows_and_walks_within_a_class():
    from gancli.cli.sample import _classes
    from gancli.config import from_dict

    cfg = tiny_config_dict()
    cfg["model"].update(conditional=True, classes=["a", "b", "c"])
    cfg = from_dict(cfg)
    labels, cols = _classes(cfg, None, True, 7, None, False)
    assert cols == 3 and labels.tolist() == [0, 0, 0, 1, 1, 1, 2]
    labels, cols = _classes(cfg, None, False, 6, 3, False)  # two walks of 3: one class each
    assert labels.tolist() == [0, 0, 0, 1, 1, 1]
    labels, cols = _classes(cfg, "c", False, 6, 3, False)  # --class: every walk in it
    assert labels.tolist() == [2] * 6 and cols == 3
    with pytest.raises(UserError, match="--arithmetic on a conditional run needs --class"):
        _classes(cfg, None, False, 6, 6, True)
    plain = from_dict(tiny_config_dict())
    assert _classes(plain, None, False, 6, None, False) == (None, None)
    with pytest.raises(UserError, match="trained without classes"):
        _classes(plain, "1", False, 6, None, False)
    with pytest.raises(UserError, match="trained without classes"):
        _classes(plain, None, True, 6, None, False)


def test_scoring_batches_draw_every_class_as_often(run):
    from gancli.sampling import generated_batches

    generator, _ = load_generator(run)
    seen = []
    real = generator.forward
    generator.forward = lambda z, labels: seen.append(labels) or real(z, labels)
    list(generated_batches(generator, 7, batch_size=4))
    assert torch.cat(seen).tolist() == [0, 1, 2, 0, 1, 2, 0]


@pytest.mark.parametrize("fmt", ["pt2", "torchscript", "onnx"])
def test_export_takes_the_class_as_a_second_input(run, tmp_path, fmt):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnxscript")
    from gancli.export import _BUILDERS

    res = run_cli("export", run, "--format", fmt, "--out", tmp_path / f"g.{fmt}")
    assert res.code == 0, res.text
    assert "+ class (blue, green, red)" in res.out
    generator, _ = load_generator(run)
    z = torch.randn(4, generator.latent_dim, generator=torch.Generator().manual_seed(3))
    classes = torch.tensor([2, 0, 1, 2])
    got = _BUILDERS[fmt][1]((tmp_path / f"g.{fmt}").read_bytes(), (z, classes))
    with torch.no_grad():
        want = generator(z, classes)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(
        got[0], _BUILDERS[fmt][1]((tmp_path / f"g.{fmt}").read_bytes(), (z, classes * 0))[0]
    )


def test_mixed_labels_follow_the_counts_and_every_batch_holds_the_mix():
    from gancli.sampling import mixed_labels

    labels = mixed_labels(100, [60, 30, 10])
    assert torch.bincount(labels).tolist() == [60, 30, 10]
    assert torch.bincount(labels[:10], minlength=3).tolist() == [6, 3, 1]  # not sorted by class
    assert torch.bincount(mixed_labels(7, [1, 1, 1])).tolist() == [3, 2, 2]  # largest remainders
    assert mixed_labels(5, [0, 4, 0]).tolist() == [1] * 5  # a class the reference lacks is never drawn
    with pytest.raises(ValueError):
        mixed_labels(5, [0, 0])
    with pytest.raises(ValueError):
        mixed_labels(5, [3, -1])


def test_scoring_batches_follow_given_class_counts(run):
    from gancli.sampling import generated_batches

    generator, _ = load_generator(run)
    seen = []
    real = generator.forward
    generator.forward = lambda z, labels: seen.append(labels) or real(z, labels)
    list(generated_batches(generator, 8, batch_size=3, class_counts=[1, 0, 3]))
    assert torch.bincount(torch.cat(seen), minlength=3).tolist() == [2, 0, 6]
