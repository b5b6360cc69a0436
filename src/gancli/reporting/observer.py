"""The events a training run reports, declared once: what an observer of training receives.

The trainer calls `notify(observers, event, *payload)` for each event below, in this order
over a session: `on_start` once, then `on_metrics` (every `train.log_every` iterations: the
only host syncs), `on_samples` (every `train.sample_every`), `on_checkpoint` (once the file is
on disk), and `on_end` once, however the session ends. An observer subclasses `Observer` and
overrides the events it needs; the others are the base's no-ops (an object that is not a
subclass is accepted too, its missing events treated the same way).

Adding a logger (W&B, MLflow, CSV): a module in `reporting/` with an `Observer` subclass, and
one line in `reporting/observers.py:build_observers` (behind a config key, off by default).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from gancli.training.trainer import Outcome, Trainer

EVENTS = ("on_start", "on_metrics", "on_samples", "on_checkpoint", "on_end")


class Observer:
    """One reaction to training events; every event is a no-op until overridden."""

    def on_start(self, trainer: Trainer) -> None:
        """The loop starts (counters, total, optimisers and config readable on `trainer`)."""

    def on_metrics(self, record: dict[str, Any]) -> None:
        """A metrics line: iteration, epoch, losses, scores, speed (metrics.jsonl's record)."""

    def on_samples(self, iteration: int, images: torch.Tensor) -> None:
        """The fixed latents' images at `iteration`, uint8 [N, C, H, W] on the CPU."""

    def on_checkpoint(self, iteration: int, path: Path) -> None:
        """A checkpoint of `iteration` is now whole on disk at `path`."""

    def on_end(self, outcome: Outcome) -> None:
        """The session ended: outcome.status is finished, stopped or diverged."""


def notify(observers: list, event: str, *payload: Any) -> None:
    """Send `event` with its payload to each observer, in order (an event name outside EVENTS is
    a programming error, refused rather than silently unheard)."""
    if event not in EVENTS:
        raise ValueError(f"{event!r} is not a training event; the events are {', '.join(EVENTS)}")
    for observer in observers:
        handler = getattr(observer, event, None)  # None: an observer not derived from Observer
        if handler is not None:
            handler(*payload)
