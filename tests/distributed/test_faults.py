"""A NaN on one rank, or a rank that dies, ends every rank with a clear message, never a hang."""

import time

from conftest import tiny_config_dict

from gancli.training.checkpoint import find_checkpoint, load_checkpoint


def words(text: str) -> str:
    return " ".join(text.split())


def test_nan_on_one_rank_stops_every_rank_as_diverged(tmp_path, launch_ranks, config_file):
    run = tmp_path / "run"
    # rank 1's losses are NaN from its 4th step on; its weights (and rank 0's) stay finite, so
    # rank 0 learns of it only through the cross-rank mean of the losses at the log point (4)
    results = launch_ranks(
        "train", "--config", config_file(tiny_config_dict(iters=12)), "--out", run, fault="nan:1:4"
    )
    assert [r.code for r in results] == [3, 3], [r.text for r in results]
    assert "Training diverged at or before iteration 4" in words(results[0].err)
    assert "rank 1: training diverged at or before iteration 4" in words(results[1].err)
    assert results[1].out == ""
    assert load_checkpoint(find_checkpoint(run))["iteration"] == 3  # the last good checkpoint is kept
    assert (run / "metrics.jsonl").read_text().count(
        "\n"
    ) == 1  # iteration 2 only: the NaN line is not logged


def test_a_rank_that_dies_ends_the_others_with_a_message(tmp_path, launch_ranks, config_file):
    start = time.monotonic()
    results = launch_ranks(
        "train",
        "--config",
        config_file(tiny_config_dict(iters=50)),
        "--out",
        tmp_path / "run",
        "--dist-timeout",
        "20",
        fault="die:1:5",
        timeout=60,
    )
    assert results[1].code == 17  # the injected crash
    assert results[0].code == 4, results[0].text
    assert "Lost contact with the other training processes" in words(results[0].err)
    assert time.monotonic() - start < 60
