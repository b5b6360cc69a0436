"""Shared fixtures: tiny configs, a CLI runner, and an isolated data root for every test."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
import yaml


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets its own data root and working folder, so nothing leaks between tests."""
    home = tmp_path_factory.mktemp("gan_home")
    monkeypatch.setenv("GAN_HOME", str(home))
    monkeypatch.delenv("GAN_INCEPTION_WEIGHTS", raising=False)
    return home


def tiny_model(
    step: str = "simultaneous", resolution: int = 16, channels: int = 3, dropout: bool = True
) -> dict:
    """A four-layer G/D pair at 16x16 that exercises 'same' padding, projection and batch norm."""
    disc = [{"op": "dropout", "p": 0.5}] if dropout else []
    disc += [
        {"op": "conv", "out": 8, "kernel": 5, "stride": 2, "padding": "same"},
        {"op": "leaky_relu", "slope": 0.2},
        {"op": "conv", "out": 16, "kernel": 5, "stride": 2, "padding": "same"},
        {"op": "batchnorm"},
        {"op": "leaky_relu", "slope": 0.2},
        {"op": "conv", "out": 1, "kernel": 4, "stride": 1, "padding": "valid"},
    ]
    return {
        "resolution": resolution,
        "channels": channels,
        "latent_dim": 8,
        "init": "glorot",
        "generator": [
            {"op": "project", "out": 16, "size": 4},
            {"op": "convT", "out": 8, "kernel": 5, "stride": 2, "padding": "same"},
            {"op": "batchnorm"},
            {"op": "relu"},
            {"op": "convT", "out": channels, "kernel": 5, "stride": 2, "padding": "same"},
            {"op": "tanh"},
        ],
        "discriminator": disc,
    }


def tiny_config_dict(step: str = "simultaneous", iters: int = 6, **train) -> dict:
    """A complete config for a seconds-long CPU run on the built-in shapes."""
    return {
        "preset": "quick",
        "recipe": "faithful",  # quick itself defaults to the improved recipe
        "model": tiny_model(step),
        "data": {"name": "shapes", "size": 64},
        "train": {
            "step": step,
            "iters": iters,
            "epochs": 0,
            "batch_size": 8,
            "label_flip_prob": 0.35 if step == "simultaneous" else 0.0,
            "log_every": 2,
            "sample_every": 3,
            "checkpoint_every": 3,
            "device": "cpu",
            **train,
        },
    }


def tiny_fast_config_dict(arch: str = "fastgan", step: str = "d_then_g", iters: int = 6, **train) -> dict:
    """A seconds-long run of a FastGAN-class arch (fastgan or projected) at 32x32, width 2."""
    cfg = tiny_config_dict(step, iters=iters, **train)
    cfg["model"] = {
        "arch": arch,
        "resolution": 32,
        "channels": 3,
        "latent_dim": 8,
        "width": 2,
        "spectral_norm": arch == "fastgan",
    }
    cfg["train"].setdefault("loss", "hinge")
    cfg["train"]["label_flip_prob"] = train.get("label_flip_prob", 0.0)
    return cfg


def trained_run(tmp_path_factory, name: str, iters: int) -> Path:
    """A tiny run trained through the CLI in its own folder and data root (seconds), for a
    module-scoped fixture shared by a test module."""
    folder = tmp_path_factory.mktemp(name)
    config = folder / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config_dict(iters=iters)))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GAN_HOME", str(folder / "home"))
        res = run_cli("train", "--config", config, "--out", folder / "run")
    assert res.code == 0, res.text
    return folder / "run"


@pytest.fixture
def tiny_config_file(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config_dict()))
    return path


class CliResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    @property
    def text(self) -> str:
        return self.out + self.err


def run_cli(*args: str) -> CliResult:
    """Run `gan ARGS` in-process as the console script does (UserError -> message + exit code)."""
    from gancli.cli.app import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli():
    return run_cli
