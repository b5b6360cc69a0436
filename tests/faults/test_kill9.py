"""kill -9 of `gan train` at random moments, several times over, some of them mid-checkpoint.

Promise: after every kill the run folder holds a loadable checkpoint (last.pt, else
previous.pt; a half-written `.last.*.tmp` is never picked up), a second `gan train` on the
folder is refused while the first lives and takes it over once it is dead (the flock dies
with its owner), and `--resume` continues from the checkpoint and finishes with a metrics log
that has every iteration exactly once.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import time
from pathlib import Path

from faults.faultkit import assert_clean_error, temp_files

from gancli.runs import LAST, PREVIOUS, find_checkpoint
from gancli.training.checkpoint import load_checkpoint

KILLS = ("in-write", "random", "in-write", "random", "random")  # bounded: 5 kills, about a second each
FSYNC_DELAY = 0.05  # a slow disk: most of an iteration is spent writing its checkpoint
WAIT_S = 60  # per wait; a healthy round takes about a second


def _wait_for(predicate, pid: int, log: Path, what: str, timeout: float = WAIT_S, poll: float = 0.005):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        if not Path(f"/proc/{pid}").exists():
            raise AssertionError(f"gan train ended before {what}:\n{log.read_text()}")
        time.sleep(poll)
    raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()}")


def _checkpoint_written_since(ckpts: Path, t0: float):
    last = ckpts / LAST
    try:
        return last.stat().st_mtime > t0
    except FileNotFoundError:
        return False


def _tmp_in(ckpts: Path):
    return [p for p in ckpts.glob(".last.*.tmp")] if ckpts.is_dir() else []


def test_repeated_kill9_never_loses_the_checkpoint_and_resume_finishes(tmp_path, write_config, cli, zygote):
    rng = random.Random(20240607)
    run = tmp_path / "run"
    ckpts = run / "checkpoints"
    cfg = write_config(iters=100_000, checkpoint_every=1, sample_every=5, log_every=1)
    seen_iteration = 0
    hit_writes = 0
    for round_no, mode in enumerate(KILLS):
        args = ("train", "--config", cfg, "--out", run) if round_no == 0 else ("train", "--resume", run)
        t0 = time.time()
        pid, log = zygote.start(*args, fsync_delay=FSYNC_DELAY)
        try:
            # the process is training: it has written a checkpoint of its own
            _wait_for(lambda: _checkpoint_written_since(ckpts, t0), pid, log, "a first checkpoint")
            if round_no == 0:
                # a second `gan train` on the folder is refused while this one lives, naming it
                res = cli("train", "--resume", run, "--iters", "5")
                assert_clean_error(res, "Another `gan train`", f"pid {pid}", str(run))
            if mode == "in-write":
                _wait_for(lambda: _tmp_in(ckpts), pid, log, "a checkpoint being written", poll=0.0005)
            else:
                time.sleep(rng.uniform(0.0, 0.6))
        finally:
            with contextlib.suppress(ProcessLookupError):  # also on a failed wait: never leave it training
                os.kill(pid, signal.SIGKILL)
            status = zygote.wait()
        assert status == -signal.SIGKILL, log.read_text()

        hit_writes += bool(_tmp_in(ckpts))  # a half-written .last.*.tmp proves the kill hit a write
        ckpt = find_checkpoint(run)
        assert ckpt.name in (LAST, PREVIOUS) and ckpt.parent == ckpts  # never a temporary file
        payload = load_checkpoint(ckpt)
        for name in (LAST, PREVIOUS):  # whatever is there under a real name is whole
            if (ckpts / name).is_file():
                load_checkpoint(ckpts / name)
        assert payload["iteration"] >= max(seen_iteration, 1), "a kill lost saved progress"
        seen_iteration = payload["iteration"]

    assert hit_writes >= 1, "no kill landed inside a checkpoint write"
    # the dead process's lock is gone: a new run takes the folder and finishes
    target = seen_iteration + 4
    res = cli("train", "--resume", run, "--iters", str(target))
    assert res.code == 0, res.text
    assert f"from iteration {seen_iteration}" in " ".join(res.out.split())
    assert load_checkpoint(ckpts / LAST)["iteration"] == target
    assert not temp_files(run), temp_files(run)  # the half-written files of the kills are cleaned up
    iterations = [json.loads(line)["iteration"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert iterations == list(range(1, target + 1))  # nothing lost, nothing logged twice
