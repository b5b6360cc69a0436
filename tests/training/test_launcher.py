"""`gan train --nproc`'s workers get the parent's request: worker_argv spells a TrainRequest as
`gan train` options, and parsing them back through the command line gives the same request."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from gancli.config import Overrides
from gancli.training import launcher, session

REQUESTS = [
    session.TrainRequest(),
    session.TrainRequest(
        preset="quick",
        config=Path("my config.yaml"),
        out="runs/x",
        dist_timeout_s=60.0,
        overrides=Overrides(
            data="-odd name",
            root="/data",
            epochs=3,
            iters=7,
            time="1h30m",
            batch_size=8,
            lr=1e-4,
            device="cpu",
            seed=-3,
            sample_every=5,
            checkpoint_every=6,
            log_every=2,
            amp=False,
            compile=True,
            sync_bn=True,
            score_every=10,
            tensorboard=False,
            recipe="improved",
        ),
    ),  # fmt: skip
    session.TrainRequest(resume="runs/x", adopt=True, overrides=Overrides(iters=20, amp=True)),
]


@pytest.mark.parametrize("request_", REQUESTS, ids=["empty", "every-option", "resume"])
def test_worker_argv_parses_back_to_the_same_request(request_, cli, monkeypatch):
    seen = []

    def fake_train(request, ui):
        seen.append(request)
        return session.SessionResult("finished", Path("."), 0, "")

    monkeypatch.setattr(session, "train", fake_train)
    argv = launcher.worker_argv(request_, debug=True)
    assert argv[:2] == ["--debug", "train"]
    res = cli(*argv)
    assert res.code == 0, res.text
    parsed = seen[0]
    if parsed.config is not None:
        parsed = dataclasses.replace(parsed, config=Path(parsed.config))
    assert parsed == request_


def test_every_override_has_a_worker_option():
    every = Overrides(
        **{f.name: True if f.type in ("bool | None",) else 1 for f in dataclasses.fields(Overrides)}
    )
    argv = launcher.worker_argv(session.TrainRequest(overrides=every))
    assert len(argv) == 1 + len(dataclasses.fields(Overrides))
