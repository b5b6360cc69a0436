"""Fixtures for distributed tests: N gloo ranks on 127.0.0.1, started as torchrun starts them.

Each rank is a separate `python -m gancli ...` (or a fault-injecting wrapper script) with the
environment torchrun gives its workers (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT), so
every rank's own exit code and output can be checked, and a hang fails the test instead of
blocking it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import tiny_config_dict, tiny_model

WORKER = Path(__file__).with_name("rank_worker.py")


@dataclass
class RankResult:
    rank: int
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def launch_ranks(tmp_path):
    """launch_ranks(*gan_args, world=2, fault=None, timeout=90, script=None) -> [RankResult per rank]
    (`script`: a Python file that runs `gan` in place of `python -m gancli`)."""
    logs = tmp_path / "rank-logs"
    logs.mkdir()
    counter = iter(range(1000))

    def launch(
        *args,
        world: int = 2,
        fault: str | None = None,
        timeout: float = 90,
        cwd: Path | None = None,
        script: Path | None = None,
    ) -> list[RankResult]:
        port, run = free_port(), next(counter)
        script = WORKER if fault else script
        cmd = [sys.executable, str(script)] if script else [sys.executable, "-m", "gancli"]
        procs, files = [], []
        for rank in range(world):
            env = {
                **os.environ,
                "RANK": str(rank),
                "WORLD_SIZE": str(world),
                "LOCAL_RANK": str(rank),
                "LOCAL_WORLD_SIZE": str(world),
                "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": str(port),
                "OMP_NUM_THREADS": "1",
            }
            if fault:
                env["GAN_TEST_FAULT"] = fault
            out, err = open(logs / f"{run}-{rank}.out", "w+"), open(logs / f"{run}-{rank}.err", "w+")
            files.append((out, err))
            procs.append(
                subprocess.Popen(
                    cmd + [str(a) for a in args], env=env, stdout=out, stderr=err, cwd=cwd or tmp_path
                )
            )
        deadline = time.monotonic() + timeout
        try:
            for p in procs:
                p.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            pytest.fail(f"the ranks did not finish within {timeout} s (a hang): {' '.join(map(str, args))}")
        results = []
        for rank, (p, (out, err)) in enumerate(zip(procs, files)):
            out.seek(0), err.seek(0)
            results.append(RankResult(rank, p.returncode, out.read(), err.read()))
            out.close(), err.close()
        return results

    return launch


def equal_inputs_config(step: str = "simultaneous", **train) -> dict:
    """A tiny config with no dropout and no image or label flips: a rank's inputs are then its
    shard of the global batch and its latents, nothing else random.

    The layers feeding a batch norm get no bias (as in DCGAN): in training mode such a bias
    cancels out of the output, its true gradient is exactly 0, and Adam would turn the float
    rounding left in that gradient into steps of +-lr of random sign, which no two ways of
    summing the same gradient can be expected to agree on."""
    cfg = tiny_config_dict(step, **train)
    cfg["model"] = tiny_model(step, dropout=False)
    for net in ("generator", "discriminator"):
        layers = cfg["model"][net]
        for layer, following in zip(layers, layers[1:]):
            if following["op"] == "batchnorm":
                layer["bias"] = False
    cfg["data"]["flip"] = False
    cfg["train"]["label_flip_prob"] = 0.0
    return cfg


@pytest.fixture
def config_file(tmp_path):
    """config_file(cfg_dict, name) -> path of the YAML file written in tmp_path."""

    def write(cfg: dict, name: str = "tiny.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(cfg))
        return path

    return write


@pytest.fixture
def equal_inputs():
    return equal_inputs_config


def assert_ranks_ok(results: list[RankResult]) -> None:
    for r in results:
        assert r.code == 0, f"rank {r.rank} exited {r.code}:\n{r.text}"


@pytest.fixture
def ranks_ok():
    return assert_ranks_ok
