"""A run's progress and length: its counters, how a session ended, what the loop gathers
between two metrics lines, and when the run is done (its iterations or its time budget)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from gancli.config import RunConfig


@dataclass
class Outcome:
    """How training ended: 'finished', 'stopped' (a signal) or 'diverged' (NaN/inf)."""

    status: str
    iteration: int
    message: str = ""
    checkpoint: Path | None = None


@dataclass
class Counters:
    """Progress of the run: completed iterations, and time spent over all its sessions."""

    iteration: int = 0
    elapsed_s: float = 0.0
    best_fid: float | None = None  # the lowest FID measured by --score-every, and where
    best_iteration: int | None = None


@dataclass
class Window:
    """What the loop gathers between two metrics lines: loss sums (on the device until read),
    steps, images and their start time, and scores to add to the next line."""

    acc: torch.Tensor
    steps: int = 0
    start: float = field(default_factory=time.perf_counter)
    images: int = 0
    extra: dict = field(default_factory=dict)

    def restart(self, now: float) -> None:
        self.acc.zero_()
        self.steps, self.start, self.images, self.extra = 0, now, 0, {}


def total_iterations(cfg: RunConfig, steps_per_epoch: int) -> int:
    """The run's total: train.iters when set, else epochs x steps per epoch (0: none, the run
    is as long as its time budget, train.time)."""
    return cfg.train.iters if cfg.train.iters > 0 else cfg.train.epochs * steps_per_epoch


def length_reached(cfg: RunConfig, total: int, iteration: int, elapsed_s: float) -> bool:
    """Whether a run at `iteration` after `elapsed_s` seconds of training is done: its total
    iterations reached, or its time budget spent (whichever comes first)."""
    if total and iteration >= total:
        return True
    return cfg.train.time > 0 and elapsed_s >= cfg.train.time
