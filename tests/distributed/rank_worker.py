"""`gan ARGS` as one torchrun rank, with a fault injected on one rank (tests/distributed).

GAN_TEST_FAULT=KIND:RANK:STEP, KIND one of
  nan  -- from its STEP-th step on, that rank's step reports NaN losses (its weights stay finite,
          so only the cross-rank mean can tell the other ranks);
  die  -- that rank exits abruptly (no cleanup, like a crash) at the start of its STEP-th step.
"""

from __future__ import annotations

import math
import os
import sys

from gancli.cli.app import main
from gancli.training import step as step_mod
from gancli.training.losses import StepLosses


def faulty(step, kind: str, at: int):
    calls = 0

    def run(nets, batch, scale):
        nonlocal calls
        calls += 1
        if kind == "die" and calls >= at:
            os._exit(17)
        out = step(nets, batch, scale)
        if kind == "nan" and calls >= at:
            return StepLosses(*(v * math.nan for v in out))
        return out

    return run


if __name__ == "__main__":
    kind, rank, at = os.environ["GAN_TEST_FAULT"].split(":")
    if int(os.environ["RANK"]) == int(rank):
        for name, fn in list(step_mod.STEPS.items()):
            step_mod.STEPS[name] = faulty(fn, kind, int(at))
    main(sys.argv[1:])
