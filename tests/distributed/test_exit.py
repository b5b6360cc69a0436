"""How a rank's process ends: after its work, without the interpreter's teardown (where gloo's
threads can abort a finished rank with exit -6), and with everything it printed flushed."""

import os
import subprocess
import sys
from pathlib import Path

EXIT_PROBE = Path(__file__).with_name("exit_probe.py")


def test_a_rank_ends_without_teardown_and_with_its_output_flushed(
    tmp_path, launch_ranks, config_file, equal_inputs, ranks_ok, monkeypatch
):
    marker = tmp_path / "teardown"
    monkeypatch.setenv("GAN_TEST_TEARDOWN", str(marker))
    cfg = config_file(equal_inputs(iters=2, checkpoint_every=2))
    results = launch_ranks("train", "--config", cfg, "--out", tmp_path / "run", script=EXIT_PROBE)
    ranks_ok(results)
    # stdout is a file here, so block-buffered: the last lines arrive only if flushed before exiting
    assert "Finished 2 iterations" in results[0].out
    assert not list(tmp_path.glob("teardown-*")), "a rank ran the interpreter's teardown"


def test_a_single_process_ends_normally(tmp_path, config_file, equal_inputs):
    marker = tmp_path / "teardown"
    cfg = config_file(equal_inputs(iters=2, checkpoint_every=2))
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    done = subprocess.run(
        [sys.executable, str(EXIT_PROBE), "train", "--config", str(cfg), "--out", str(tmp_path / "run")],
        env={**env, "GAN_TEST_TEARDOWN": str(marker), "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "teardown-alone").read_text() == "ran"  # atexit still runs outside a group
