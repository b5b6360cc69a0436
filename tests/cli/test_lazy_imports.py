"""`gan --help` answers at once: the CLI modules import torch, torchvision and numpy only inside commands."""

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("torch", "torchvision", "numpy")


def heavy_imports_of(module: str) -> dict:
    """Import `module` in a fresh interpreter; the heavy packages it pulled in, and which gancli module did."""
    code = f"""
import builtins, json, sys
first = {{}}
real_import = builtins.__import__
def spy(name, globals=None, *args, **kwargs):
    top = name.split('.')[0]
    if top in {HEAVY!r} and top not in sys.modules and top not in first:
        first[top] = (globals or {{}}).get('__name__', '?')
    return real_import(name, globals, *args, **kwargs)
builtins.__import__ = spy
import {module}
print(json.dumps({{m: first.get(m, '?') for m in {HEAVY!r} if m in sys.modules}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "module",
    [
        "gancli.cli.presets",
        "gancli.cli.sample",
        "gancli.cli.export",
        "gancli.cli.runs_cli",
        "gancli.layer_math",
        "gancli.cli.score",
        "gancli.metrics.registry",  # gan score --help lists the registered metrics
    ],
)
def test_these_cli_modules_import_no_heavy_package(module):
    assert heavy_imports_of(module) == {}


def test_importing_the_cli_app_does_not_import_torch():
    # the value names the gancli module whose top-level import pulled each package in
    assert heavy_imports_of("gancli.cli.app") == {}


def test_score_without_inception_weights_says_so_before_importing_torch(tmp_path):
    # torch blocked: the command must stop at the missing weights, not spend the import first
    code = "import sys; sys.modules['torch'] = None; from gancli.cli.app import main; main(sys.argv[1:])"
    env = {k: v for k, v in os.environ.items() if k != "GAN_INCEPTION_WEIGHTS"}
    env["GAN_HOME"] = str(tmp_path)
    args = [sys.executable, "-c", code, "score", str(tmp_path), "--ref", "shapes"]
    out = subprocess.run(args, capture_output=True, text=True, env=env)
    assert out.returncode == 2 and "No Inception weights found" in out.stderr, out.stderr
