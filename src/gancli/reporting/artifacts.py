"""Observer writing the run folder's pictures: sample grids, the progress animation, the curves.

PNG encoding runs on one background thread so the training loop only pays for moving the
grid to the host; the GIF and curves are redrawn at checkpoints and at the end, at most one
redraw waiting at a time (it draws every grid written by the time it runs). A run that ends at
once (a second Ctrl-C) abandons what is queued and stops a redraw between frames.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

import torch

from gancli.reporting.curves import write_curves
from gancli.reporting.gif import warn_skipped, write_progress_gif
from gancli.reporting.grids import make_grid, save_png
from gancli.reporting.observer import Observer
from gancli.runs import RunFolder


class ArtifactWriter(Observer):
    """Writes a run folder's sample grids, progress animation and curves (paths: RunFolder)."""

    def __init__(self, run_dir: Path, metrics_log, warn: Callable[[str], None] | None = None) -> None:
        self.run = RunFolder(run_dir)
        self.run_dir = self.run.path
        self.samples_dir = self.run.samples
        self.samples_dir.mkdir(parents=True, exist_ok=True)
        self.metrics_log = metrics_log
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gan-artifacts")
        self.pending: list[Future] = []
        self.last_sample: Path | None = None
        self.warn = warn  # None: unreadable grids are Python warnings (PictureSkipped)
        self.skipped: set[Path] = set()  # unreadable grids already told about: each told once
        self.stop = threading.Event()
        self.queued_redraw: Future | None = None

    def _submit(self, fn, *args) -> Future:
        for future in [f for f in self.pending if f.done()]:
            future.result()  # surface a failed write (a full disk, say) at the next event
        self.pending = [f for f in self.pending if not f.done()]
        self.pending.append(self.pool.submit(fn, *args))
        return self.pending[-1]

    def on_samples(self, iteration: int, images: torch.Tensor) -> None:
        path = self.run.sample(iteration)
        self.last_sample = path
        self._submit(lambda: save_png(make_grid(images, cols=5 if images.shape[0] == 25 else None), path))

    def _redraw(self) -> None:
        gif = self.run.progress_gif
        write_progress_gif(self.run.sample_paths(), gif, on_skip=self._skip, stop=self.stop)
        if not self.stop.is_set():
            write_curves(list(self.metrics_log.records), self.run.curves)

    def _skip(self, path: Path, message: str) -> None:
        if self.warn is None:
            warn_skipped(path, message)
        elif path not in self.skipped:
            self.skipped.add(path)
            self.warn(message)

    def _queue_redraw(self) -> None:
        queued = self.queued_redraw
        if queued is not None and not queued.running() and not queued.done():
            return  # the redraw waiting to run will draw this checkpoint's grids too
        self.queued_redraw = self._submit(self._redraw)

    def on_checkpoint(self, iteration: int, path: Path) -> None:
        self._queue_redraw()

    def on_end(self, outcome) -> None:
        self._queue_redraw()
        self.flush()

    def abandon(self) -> None:
        """Drop every queued picture and stop a redraw between frames: the run is ending at once."""
        self.stop.set()
        pending, self.pending = self.pending, []
        for future in pending:
            future.cancel()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def close(self, exc_type, exc, tb) -> None:
        """ExitStack exit: abandon the pictures after a second Ctrl-C (the KeyboardInterrupt, or
        the error it became), else let pending writes finish (settle)."""
        if isinstance(exc, KeyboardInterrupt) or isinstance(
            getattr(exc, "__cause__", None), KeyboardInterrupt
        ):
            self.abandon()
        else:
            self.settle()

    def settle(self) -> None:
        """Wait for every pending write without raising its failure: for a run that is ending
        on another error, so that no write is cut off and the run folder is left whole."""
        pending, self.pending = self.pending, []
        wait(pending)

    def flush(self) -> None:
        """Wait for every pending write; re-raise the first failure (a full disk, say)."""
        pending, self.pending = self.pending, []
        for future in pending:
            future.result()
