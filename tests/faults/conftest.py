"""Fixtures of the fault-injection tests; the helpers are in faultkit.py.

Subprocesses run with one torch thread (OMP_NUM_THREADS=1): on a shared 2-core machine two
threads per process make the tiny steps tens of times slower. In-process training in these
tests is pinned to one thread for the same reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from conftest import run_cli, tiny_config_dict


@pytest.fixture(autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def write_config(tmp_path):
    """write_config(**train) -> path of a tiny YAML config (16x16 shapes, batch 8, CPU)."""

    def write(name: str = "tiny.yaml", **train) -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(tiny_config_dict(**train)))
        return path

    return write


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def zygote(tmp_path_factory):
    """One interpreter with gancli imported, forking a real process per `gan` command."""
    from faults.faultkit import Zygote

    z = Zygote(tmp_path_factory.mktemp("zygote"))
    yield z
    z.close()
