"""Observer writing the run folder's pictures: sample grids, the progress animation, the curves.

PNG encoding runs on one background thread so the training loop only pays for moving the
grid to the host; the GIF and curves are redrawn at checkpoints and at the end.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

import torch

from gancli.reporting.curves import write_curves
from gancli.reporting.gif import write_progress_gif
from gancli.reporting.grids import make_grid, save_png
from gancli.runs import RunFolder


class ArtifactWriter:
    """Writes a run folder's sample grids, progress animation and curves (paths: RunFolder)."""

    def __init__(self, run_dir: Path, metrics_log) -> None:
        self.run = RunFolder(run_dir)
        self.run_dir = self.run.path
        self.samples_dir = self.run.samples
        self.samples_dir.mkdir(parents=True, exist_ok=True)
        self.metrics_log = metrics_log
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gan-artifacts")
        self.pending: list[Future] = []
        self.last_sample: Path | None = None

    def _submit(self, fn, *args) -> None:
        for future in [f for f in self.pending if f.done()]:
            future.result()  # surface a failed write (a full disk, say) at the next event
        self.pending = [f for f in self.pending if not f.done()]
        self.pending.append(self.pool.submit(fn, *args))

    def on_samples(self, iteration: int, images: torch.Tensor) -> None:
        path = self.run.sample(iteration)
        self.last_sample = path
        self._submit(lambda: save_png(make_grid(images, cols=5 if images.shape[0] == 25 else None), path))

    def _redraw(self) -> None:
        write_progress_gif(self.run.sample_paths(), self.run.progress_gif)
        write_curves(list(self.metrics_log.records), self.run.curves)

    def on_checkpoint(self, iteration: int, path: Path) -> None:
        self._submit(self._redraw)

    def on_end(self, outcome) -> None:
        self._submit(self._redraw)
        self.flush()

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
