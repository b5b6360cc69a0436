"""`gan train --score-every N` logs FID and IS into metrics.jsonl from the cached reference."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import run_cli, tiny_config_dict


def test_score_every_logs_fid_and_is(tmp_path, weights_file, monkeypatch):
    monkeypatch.setenv("GAN_INCEPTION_WEIGHTS", weights_file)
    cfg = tiny_config_dict(
        iters=4, score_every=2, score_n=10, log_every=2, checkpoint_every=4, sample_every=4
    )
    cfg["data"]["size"] = 16  # the reference: 16 images through Inception, once
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    res = run_cli("train", "--config", path, "--out", tmp_path / "run")
    assert res.code == 0, res.text
    lines = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [l["iteration"] for l in lines] == [2, 4]
    for line in lines:
        assert line["fid"] > 0 and line["is"] >= 1.0 and line["is_std"] >= 0
    assert lines[0]["fid"] != lines[1]["fid"]  # G changed between the two measurements


def test_score_every_without_weights_stops_before_training(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config_dict(iters=4, score_every=2)))
    res = run_cli("train", "--config", path, "--out", tmp_path / "run")
    assert res.code != 0 and "gan download inception" in res.text
    assert not (tmp_path / "run" / "checkpoints").exists()


def _wide_images_folder(folder, n=6):
    """Non-square photos, so center-crop and plain resize give different pixels."""
    import numpy as np
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (12, 30, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


@pytest.mark.parametrize("resize", ["resize", "center-crop"])
@pytest.mark.parametrize("source", ["folder", "shapes"])
def test_training_reference_uses_the_training_images(tmp_path, weights_file, monkeypatch, resize, source):
    """--score-every compares against exactly the images training sees: same resize mode, same
    built-in dataset size, no subset drawn from data.size (the bug: plain resize always, and
    data.size passed where the subset size goes)."""
    import torch

    from gancli import config
    from gancli.data.source import load_images
    from gancli.metrics import reference
    from gancli.metrics.during_training import TrainingScorer

    seen = {}

    def capture(images, *args, **kwargs):
        seen["images"] = images.clone()
        raise RuntimeError("captured")  # the images are all this test needs

    monkeypatch.setattr(reference, "extract_features", capture)
    data = tiny_config_dict(score_every=2, score_n=10)
    data["data"] = {
        "name": str(_wide_images_folder(tmp_path / "photos")) if source == "folder" else "shapes",
        "size": 0 if source == "folder" else 24,
        "resize": resize,
    }
    cfg = config.from_dict(data)
    with pytest.raises(RuntimeError, match="captured"):
        TrainingScorer(cfg, torch.device("cpu"), weights=weights_file)
    training = load_images(
        cfg.data.name, cfg.model.resolution, cfg.model.channels, cfg.data.resize, size=cfg.data.size
    )
    assert torch.equal(seen["images"], training.images)


def test_a_conditional_run_is_scored_in_its_training_sets_class_mix(tmp_path, weights_file, monkeypatch):
    """--score-every on a conditional run asks G for each class as the training set holds it
    (the reference's counts, in the run's class order), not every class equally."""
    import numpy as np
    import torch
    from PIL import Image

    from gancli import config, sampling
    from gancli.metrics.during_training import TrainingScorer

    photos = tmp_path / "photos"
    for name, count in (("b", 6), ("a", 2)):
        (photos / name).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(np.full((12, 12, 3), 20 * i, np.uint8)).save(photos / name / f"{i}.png")
    data = tiny_config_dict(score_every=2, score_n=12)
    data["data"] = {"name": str(photos)}
    data["model"].update(conditional=True, classes=["a", "b"])
    cfg = config.from_dict(data)
    monkeypatch.setenv("GAN_HOME", str(tmp_path / "home"))
    scorer = TrainingScorer(cfg, torch.device("cpu"), weights=weights_file)
    assert scorer.class_counts == [2, 6]
    seen = []
    monkeypatch.setattr(
        sampling,
        "generate_from_latents",
        lambda g, z, d, b, labels: seen.append(labels) or torch.zeros(len(z), 3, 16, 16, dtype=torch.uint8),
    )
    from gancli.models.build import build_generator

    scorer(build_generator(cfg.model), 2)
    assert torch.bincount(torch.cat(seen)).tolist() == [3, 9]
