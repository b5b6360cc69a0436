"""Rank 0's observers of a training session, built in one place from the config.

The order is the order events reach them: the front end's live display first (supplied by it,
so that nothing here knows how it draws), then the metrics log, the pictures (which read the
log's records for the curves), the run state and, when `log.tensorboard` is on, TensorBoard.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack

from gancli.config import RunConfig
from gancli.reporting.observer import Observer
from gancli.runs import RunFolder


def build_observers(
    cfg: RunConfig,
    run: RunFolder,
    *,
    resumed_at: int | None,
    warn: Callable[[str], None],
    cleanup: ExitStack,
    live: Observer | None = None,
) -> list[Observer]:
    """The observers of a session writing to `run` (`resumed_at`: the iteration a run resumed in
    its own folder continues from, else None); `cleanup` gets what must run on the way out."""
    from gancli.reporting.artifacts import ArtifactWriter
    from gancli.reporting.jsonl import MetricsLog
    from gancli.reporting.state import RunState

    metrics = MetricsLog(run.metrics)
    artifacts = ArtifactWriter(run.path, metrics, warn=warn)
    cleanup.push(artifacts.close)  # on an error, let pending grids finish while the lock is held
    observers: list[Observer] = [metrics, artifacts, RunState(run.path)]
    if cfg.log.tensorboard:
        from gancli.reporting.tensorboard import TensorBoardLog

        observers.append(TensorBoardLog(run.tensorboard, resumed_at))
    return ([live] if live is not None else []) + observers
