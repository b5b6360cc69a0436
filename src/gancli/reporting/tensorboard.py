"""Observer writing a run's curves and sample grids to RUN/tensorboard/ for TensorBoard.

metrics.jsonl stays the source of truth; this mirrors it for the viewer most PyTorch users
already watch (`tensorboard --logdir runs`). A resumed run opens the writer with
purge_step = the resumed iteration + 1, so TensorBoard drops what the interrupted session had
logged past its checkpoint and the curves continue without duplicate steps, as metrics.jsonl
is cut back to the same iteration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from gancli.errors import UserError
from gancli.reporting.observer import Observer

# metrics.jsonl key -> TensorBoard tag; keys not listed (FID, IS, KID...) go under scores/
TAGS = {
    "loss_d": "loss/discriminator",
    "loss_g": "loss/generator",
    "score_d": "score/D(real)",
    "score_g": "score/D(G(z))",
    "images_per_s": "speed/images_per_s",
}
NOT_CURVES = {"iteration", "epoch", "elapsed_s"}


def require_tensorboard() -> None:
    """Raise a UserError saying how to install tensorboard when it is missing."""
    try:
        import tensorboard  # noqa: F401
    except ImportError as exc:
        raise UserError(
            'Logging to TensorBoard (--tensorboard, log.tensorboard) needs the tensorboard package, not installed. Install it with: pip install -e ".[tensorboard]" in your gancli clone (or just pip install tensorboard), or train without --tensorboard.'
        ) from exc


class TensorBoardLog(Observer):
    """Writes losses, D's scores, images/s, learning rates, FID/IS and sample grids."""

    def __init__(self, log_dir: Path, resumed_from: int | None = None) -> None:
        require_tensorboard()
        from torch.utils.tensorboard import SummaryWriter

        purge = None if resumed_from is None else resumed_from + 1
        self.writer = SummaryWriter(log_dir=str(log_dir), purge_step=purge)
        self.optimizers: dict[str, torch.optim.Optimizer] = {}

    def on_start(self, trainer) -> None:
        # constant in every preset, but read from the optimisers so a schedule would show
        self.optimizers = {"generator": trainer.opt_g, "discriminator": trainer.opt_d}

    def on_metrics(self, record: dict[str, Any]) -> None:
        step = int(record["iteration"])
        for key, value in record.items():
            if key in NOT_CURVES or not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            self.writer.add_scalar(TAGS.get(key, f"scores/{key}"), value, step)
        for name, opt in self.optimizers.items():
            self.writer.add_scalar(f"lr/{name}", opt.param_groups[0]["lr"], step)

    def on_samples(self, iteration: int, images: torch.Tensor) -> None:
        from gancli.reporting.grids import make_grid

        cols = 5 if images.shape[0] == 25 else None
        grid = np.asarray(make_grid(images, cols=cols))
        self.writer.add_image(
            "samples", grid if grid.ndim == 3 else grid[..., None], iteration, dataformats="HWC"
        )

    def on_checkpoint(self, iteration: int, path: Path) -> None:
        self.writer.flush()  # what a resume keeps is on disk with the checkpoint

    def on_end(self, outcome) -> None:
        self.writer.close()
