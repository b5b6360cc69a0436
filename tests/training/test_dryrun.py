"""`gan train --dry-run`: the resolved run and its measured step time, with nothing written."""

import re
from pathlib import Path

import pytest
import yaml
from conftest import tiny_config_dict
from PIL import Image

from gancli import config
from gancli.cli.fmt import human_duration
from gancli.data.source import load_images
from gancli.errors import UserError
from gancli.layer_math import discriminator_rows, generator_rows, param_count
from gancli.training.dryrun import dry_run
from gancli.training.session import TrainRequest


def write_config(folder: Path, **train) -> Path:
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config_dict(**train)))
    return path


def flat(text: str) -> str:
    """The output with the terminal's line wrapping undone."""
    return " ".join(text.split())


def tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_dry_run_prints_config_tables_and_timing_and_writes_nothing(
    tmp_path, cli, isolated_home, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    cfg_file = write_config(tmp_path)
    before = tree(tmp_path)
    res = cli("train", "--config", cfg_file, "--dry-run", "--out", tmp_path / "X")
    assert res.code == 0, res.text
    cfg = config.resolve(None, cfg_file, config.Overrides())
    shown = yaml.safe_load(res.out.split("Generator:")[0])  # the YAML comes first, unwrapped
    assert shown == yaml.safe_load(config.dump_yaml(cfg))
    assert f"Generator: {param_count(generator_rows(cfg.model)):,} parameters" in res.out
    assert f"Discriminator: {param_count(discriminator_rows(cfg.model)):,} parameters" in res.out
    out = flat(res.out)
    assert "data: 64 images of shapes" in out and "device: cpu" in out
    assert re.search(r"step time: [\d.]+ m?s \(median of 3 steps", out), out
    assert re.search(r"projected: 6 x [\d.]+ m?s = [\d.]+ m?s", out), out
    assert tree(tmp_path) == before  # no X, no runs/
    assert tree(isolated_home) == set()  # no data cache either


def test_a_dataset_not_downloaded_gets_the_download_command_and_random_images(tmp_path, cli, isolated_home):
    res = cli(
        "train", "--config", write_config(tmp_path), "--data", "flowers", "--dry-run", "--out", tmp_path / "X"
    )
    assert res.code == 0, res.text
    assert "`gan download flowers` fetches it" in flat(res.out)
    assert "on random images of the data's shape" in flat(res.out)
    assert not (tmp_path / "X").exists() and tree(isolated_home) == set()


def test_a_bad_config_key_exits_2_with_the_usual_message(tmp_path, cli):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**tiny_config_dict(), "train": {"itres": 3}}))
    res = cli("train", "--config", bad, "--dry-run", "--out", tmp_path / "X")
    assert res.code == 2 and "Unknown config key 'train.itres'" in res.text
    assert not (tmp_path / "X").exists()


def test_a_folder_is_timed_on_random_images_until_prepared_then_on_its_own(tmp_path, isolated_home):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(10):
        Image.new("RGB", (20, 12), (20 * i, 90, 200)).save(photos / f"{i}.png")
    overrides = config.Overrides(data=str(photos))
    request = TrainRequest(
        config=write_config(tmp_path, iters=0, epochs=3), overrides=overrides, out=str(tmp_path / "X")
    )
    report = dry_run(request, timed_steps=1)
    assert not report.data.ready and report.random_images and report.data.images == 10
    assert report.iterations == 3 * (10 // 8)  # epochs x full batches of the folder's 10 images
    assert tree(isolated_home) == set()  # nothing decoded or cached
    load_images(str(photos), 16, 3)  # what a real run's first start does
    report = dry_run(request, timed_steps=1)
    assert report.data.ready and not report.random_images and report.data.images == 10
    assert report.step_s > 0 and report.projected_s == pytest.approx(3 * report.step_s)
    assert not (tmp_path / "X").exists()


def test_a_folder_too_small_for_a_batch_is_refused_as_a_run_would(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (8, 8)).save(photos / "one.png")
    overrides = config.Overrides(data=str(photos))
    request = TrainRequest(config=write_config(tmp_path), overrides=overrides, out=str(tmp_path / "X"))
    with pytest.raises(UserError, match="fewer than one batch of 8"):
        dry_run(request, timed_steps=1)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0123, "12.3 ms"),
        (4.25, "4.25 s"),
        (725, "12 min 5 s"),
        (12_000, "3 h 20 min"),
        (190_000, "2 d 4 h"),
    ],
)
def test_human_duration(seconds, text):
    assert human_duration(seconds) == text


def test_a_conditional_dry_run_counts_the_data_s_classes_or_refuses_as_a_run_would(tmp_path, isolated_home):
    photos = tmp_path / "photos"
    for name in ("a", "b"):
        (photos / name).mkdir(parents=True)
        for i in range(8):
            Image.new("RGB", (12, 12), (20 * i, 90, 200)).save(photos / name / f"{i}.png")
    overrides = config.Overrides(data=str(photos), conditional=True)
    request = TrainRequest(config=write_config(tmp_path), overrides=overrides, out=str(tmp_path / "X"))
    load_images(str(photos), 16, 3)  # prepared: the dry run reads its classes
    report = dry_run(request, timed_steps=1)
    assert report.discriminator[-1].op == "class projection" and report.discriminator[-1].params == 2 * 16
    assert "classes: [a, b]" in report.yaml
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(8):
        Image.new("RGB", (12, 12)).save(flat / f"{i}.png")
    load_images(str(flat), 16, 3)
    flat_request = TrainRequest(
        config=write_config(tmp_path), overrides=config.Overrides(data=str(flat), conditional=True)
    )
    with pytest.raises(UserError, match="one subfolder per class"):
        dry_run(flat_request, timed_steps=1)
