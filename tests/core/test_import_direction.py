"""Imports run one way: the readers of a run (`gan sample`, `gan export`, `gan runs`) and the
run folder itself never import `training/`, and the core never imports `cli/` (checked in a
fresh interpreter, so a chain of imports counts as well as a direct one)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _gancli_modules_after_import(module: str) -> list[str]:
    code = f"import json, sys; import {module}; print(json.dumps(sorted(m for m in sys.modules if m.startswith('gancli.'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "module",
    [
        "gancli.sampling",
        "gancli.export",
        "gancli.runlist",
        "gancli.runs",
        "gancli.latent_arithmetic",
        "gancli.checkpoint_read",
    ],
)
def test_readers_of_a_run_do_not_import_training(module):
    loaded = _gancli_modules_after_import(module)
    assert [m for m in loaded if m.startswith("gancli.training")] == []


def test_find_checkpoint_has_one_home():
    from gancli import runs
    from gancli.training import checkpoint

    assert checkpoint.find_checkpoint is runs.find_checkpoint  # re-exported, not a second one
