"""`gan train --score-every N` logs FID and IS into metrics.jsonl from the cached reference."""

from __future__ import annotations

import json

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
