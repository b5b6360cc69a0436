"""--tensorboard / log.tensorboard: event files read back with TensorBoard's own reader."""

import json
import sys

import pytest
import torch
import yaml
from conftest import tiny_config_dict

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from gancli.reporting.tensorboard import TensorBoardLog


def read_events(folder):
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def steps(acc, tag):
    return [e.step for e in acc.Scalars(tag)]


def test_a_run_and_its_resume_log_every_metrics_line_once(tmp_path, cli):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**tiny_config_dict(iters=6), "log": {"tensorboard": True}}))
    run = tmp_path / "run"
    assert cli("train", "--config", config, "--out", run).code == 0
    res = cli("train", "--resume", run, "--iters", "10")  # log.tensorboard comes from the saved config
    assert res.code == 0, res.text
    acc = read_events(run / "tensorboard")
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps(acc, "loss/discriminator") == [r["iteration"] for r in records] == [2, 4, 6, 8, 10]
    assert [e.value for e in acc.Scalars("loss/generator")] == pytest.approx([r["loss_g"] for r in records])
    tags = set(acc.Tags()["scalars"])
    assert {
        "score/D(real)",
        "score/D(G(z))",
        "speed/images_per_s",
        "lr/generator",
        "lr/discriminator",
    } <= tags
    # the quick preset's learning rates, as the optimisers hold them
    assert acc.Scalars("lr/generator")[0].value == pytest.approx(5e-4, rel=1e-6)
    assert acc.Scalars("lr/discriminator")[0].value == pytest.approx(2e-4, rel=1e-6)
    assert [e.step for e in acc.Images("samples")] == [1, 3, 6, 9, 10]


def test_a_resume_drops_what_was_logged_after_its_checkpoint(tmp_path):
    # a session killed at 10 with its last checkpoint at 6: the resumed session logs 7.. again
    log = TensorBoardLog(tmp_path)
    for it in range(1, 11):
        log.on_metrics({"iteration": it, "loss_d": 1.0, "fid": 50.0 - it})
    log.writer.flush()
    log = TensorBoardLog(tmp_path, resumed_from=6)
    for it in range(7, 13):
        log.on_metrics({"iteration": it, "loss_d": 2.0, "fid": 40.0})
    log.on_samples(12, torch.zeros(4, 3, 8, 8, dtype=torch.uint8))
    log.on_end(None)
    acc = read_events(tmp_path)
    assert steps(acc, "loss/discriminator") == list(range(1, 13))
    assert [e.value for e in acc.Scalars("loss/discriminator")] == [1.0] * 6 + [2.0] * 6
    assert steps(acc, "scores/fid") == list(range(1, 13))  # FID/IS when present
    assert acc.Images("samples")[0].width == 2 * 10 + 2


def test_without_the_package_the_flag_says_how_to_install_it(tmp_path, cli, monkeypatch, tiny_config_file):
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    res = cli("train", "--config", tiny_config_file, "--out", tmp_path / "run", "--tensorboard")
    assert res.code == 2 and 'pip install -e ".[tensorboard]"' in res.err
    assert not (tmp_path / "run" / "tensorboard").exists()
