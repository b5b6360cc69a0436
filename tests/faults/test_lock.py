"""Two `gan train` on one run folder: the second is refused with the owner's pid; a lock left by a
dead owner (kill -9, power loss) does not block the folder. The real two-process case, with
kill -9 of the owner, is part of test_kill9.py; here the lock is held or left in place directly."""

from __future__ import annotations

import os

from faults.faultkit import assert_clean_error

from gancli.training.lock import RunLock


def test_a_held_folder_is_refused_for_new_and_resumed_runs(tmp_path, write_config, cli):
    run = tmp_path / "run"
    cfg = write_config(iters=3)
    with RunLock(run):  # a live owner: this process
        res = cli("train", "--config", cfg, "--out", run)
        assert_clean_error(
            res, f"Another `gan train` (pid {os.getpid()}) is using the run folder {run}", "--out", code=2
        )
        assert sorted(p.name for p in run.iterdir()) == [".lock"]  # nothing written under a held lock
    assert cli("train", "--config", cfg, "--out", run).code == 0
    with RunLock(run):
        assert_clean_error(cli("train", "--resume", run, "--iters", "6"), f"pid {os.getpid()}")


def test_a_lock_file_left_by_a_dead_owner_does_not_block(tmp_path, write_config, cli):
    run = tmp_path / "run"
    run.mkdir()
    (run / ".lock").write_text("4194304")  # the pid of a process that no longer runs; no flock on it
    res = cli("train", "--config", write_config(iters=3), "--out", run)
    assert res.code == 0, res.text
    assert (run / ".lock").read_text() != "4194304"  # the new owner wrote its own pid
