"""Checkpoints move between world sizes: saved unwrapped (no DDP `module.` prefixes) with every
rank's random streams; a run saved under 2 ranks resumes under 1 and under 2, and the reverse."""

import json

import torch
from conftest import tiny_config_dict

from gancli.training.checkpoint import find_checkpoint, load_checkpoint


def words(text: str) -> str:
    return " ".join(text.split())  # rich wraps long lines at the terminal width


def metrics_iterations(run) -> list[int]:
    return [json.loads(line)["iteration"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def assert_unwrapped(payload: dict) -> None:
    for name in ("generator", "discriminator"):
        assert payload[name] and not any(k.startswith("module.") for k in payload[name]), name


def test_two_ranks_then_one_process(tmp_path, launch_ranks, config_file, ranks_ok, cli):
    run = tmp_path / "run"
    ranks_ok(launch_ranks("train", "--config", config_file(tiny_config_dict(iters=4)), "--out", run))
    payload = load_checkpoint(find_checkpoint(run))
    assert payload["iteration"] == 4 and payload["world_size"] == 2
    assert_unwrapped(payload)
    streams = payload["rng_by_rank"]
    assert len(streams) == 2 and not torch.equal(
        streams[0]["noise"], streams[1]["noise"]
    )  # latents differ per rank

    res = cli("train", "--resume", run, "--iters", "8")
    assert res.code == 0, res.text
    assert "from iteration 4" in words(res.text)
    payload = load_checkpoint(find_checkpoint(run))
    assert payload["iteration"] == 8 and payload["world_size"] == 1 and "rng_by_rank" not in payload
    assert metrics_iterations(run) == [2, 4, 6, 8]


def test_one_process_then_two_ranks(tmp_path, launch_ranks, config_file, ranks_ok, cli):
    run = tmp_path / "run"
    assert cli("train", "--config", config_file(tiny_config_dict(iters=4)), "--out", run).code == 0
    before = load_checkpoint(find_checkpoint(run))
    assert before["world_size"] == 1

    results = launch_ranks("train", "--resume", run, "--iters", "8")
    ranks_ok(results)
    assert "from iteration 4" in words(results[0].out)
    assert results[1].out == ""  # the other ranks print nothing but errors
    payload = load_checkpoint(find_checkpoint(run))
    assert payload["iteration"] == 8 and payload["world_size"] == 2
    assert_unwrapped(payload)
    assert metrics_iterations(run) == [2, 4, 6, 8]


def test_two_ranks_resume_exactly_under_two_ranks(tmp_path, launch_ranks, config_file, ranks_ok):
    """Same world size: every rank gets its own streams back, so N + resume + N == 2N exactly."""
    cfg = config_file(tiny_config_dict(iters=4))
    ranks_ok(launch_ranks("train", "--config", cfg, "--out", tmp_path / "half"))
    ranks_ok(launch_ranks("train", "--resume", tmp_path / "half", "--iters", "8"))
    ranks_ok(launch_ranks("train", "--config", cfg, "--iters", "8", "--out", tmp_path / "full"))
    resumed, full = (
        load_checkpoint(find_checkpoint(tmp_path / "half")),
        load_checkpoint(find_checkpoint(tmp_path / "full")),
    )
    assert resumed["iteration"] == full["iteration"] == 8
    for name in ("generator", "discriminator"):
        for key, value in full[name].items():
            assert torch.equal(resumed[name][key], value), f"{name}.{key}"
