"""The live rich display of `gan train`: progress, speed, losses and the reference's scores.

It redraws only on metrics events (every `log_every` iterations), so it adds no host sync
and no work to the training step. Without a terminal it prints a plain line every few seconds.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from gancli.reporting.observer import Observer
from gancli.units import format_duration


class LiveDisplay(Observer):
    """Observer rendering training progress to a rich console."""

    def __init__(
        self,
        console: Console,
        total: int,
        steps_per_epoch: int,
        start_iteration: int = 0,
        title: str = "training",
        time_budget: float = 0.0,
    ) -> None:
        self.console = console
        self.total, self.steps_per_epoch = total, max(steps_per_epoch, 1)
        self.time_budget = time_budget  # seconds of training in all (0: none)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("it"),
            TextColumn("{task.fields[speed]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        )
        # a run with a time budget only has no total: the bar then counts without an end
        self.task = self.progress.add_task(title, total=total or None, completed=start_iteration, speed="")
        self.record: dict[str, Any] | None = None
        self.fid: float | None = None  # the latest --score-every measurement
        self.samples = ""
        self.live: Live | None = None
        self.last_plain = 0.0

    def _stats(self) -> Table:
        table = Table(box=None, show_header=True, header_style="dim", pad_edge=False)
        names = ("epoch", "loss D", "loss G", "score D", "score G", "FID", "last grid")
        for name in names + (("time left",) if self.time_budget else ()):
            table.add_column(name, justify="right")
        r = self.record or {}

        def fmt(key: str) -> str:
            return f"{r[key]:.4f}" if isinstance(r.get(key), float) else "-"

        epochs = -(-self.total // self.steps_per_epoch) if self.total else "-"
        fid = f"{self.fid:.2f}" if self.fid is not None else "-"
        cells = [
            f"{r.get('epoch', '-')}/{epochs}",
            fmt("loss_d"),
            fmt("loss_g"),
            fmt("score_d"),
            fmt("score_g"),
        ]
        table.add_row(*cells, fid, self.samples, *((self._time_left(),) if self.time_budget else ()))
        return table

    def _time_left(self) -> str:
        """What is left of the run's time budget at the last metrics line."""
        elapsed = (self.record or {}).get("elapsed_s", 0.0)
        return format_duration(max(self.time_budget - elapsed, 0.0))

    def _render(self) -> Group:
        return Group(self.progress, self._stats())

    def on_start(self, trainer) -> None:
        if self.console.is_terminal:
            self.live = Live(self._render(), console=self.console, refresh_per_second=1, transient=False)
            self.live.start()

    def on_metrics(self, record: dict[str, Any]) -> None:
        self.record = record
        if isinstance(record.get("fid"), float):
            self.fid = record["fid"]
        self.progress.update(
            self.task,
            completed=record["iteration"],
            speed=f"{record['images_per_s']:.1f} img/s",
            description=f"epoch {record['epoch']}",
        )
        if self.live is not None:
            self.live.update(self._render())
        elif time.monotonic() - self.last_plain > 5 or record["iteration"] >= self.total > 0:
            self.last_plain = time.monotonic()
            of_total = f"/{self.total}" if self.total else ""
            left = f" time left {self._time_left()}" if self.time_budget else ""
            self.console.print(
                f"iter {record['iteration']}{of_total} epoch {record['epoch']}{left} "
                f"loss_d {record['loss_d']:.4f} loss_g {record['loss_g']:.4f} "
                f"score_d {record['score_d']:.4f} score_g {record['score_g']:.4f} "
                f"{record['images_per_s']:.1f} img/s"
                + (f" FID {record['fid']:.2f}" if "fid" in record else ""),
                highlight=False,
            )

    def on_samples(self, iteration: int, images) -> None:
        self.samples = f"iter {iteration}"

    def on_end(self, outcome) -> None:
        if self.live is not None:
            self.live.update(self._render())
            self.live.stop()
            self.live = None
