"""`gan train --dry-run`: the run a command line would start, resolved as `gan train` resolves
it, and its time measured on a few steps, with nothing written: no run folder, no lock, no
prepared-data cache (data not prepared yet is stood in for by random images of its shape).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gancli.config import RunConfig, check_dataset_size, check_global_batch, dump_yaml
from gancli.data.source import DataLook, look_at
from gancli.layer_math import LayerRow, discriminator_rows, generator_rows
from gancli.training.session import TrainRequest, plan

WARMUP_STEPS = 1  # allocation, cuDNN autotuning and torch.compile land here, not in the timing


@dataclass
class DryRunReport:
    """What a run would be and how long its training steps would take."""

    yaml: str  # the effective config, as the run folder's config.yaml would hold it
    generator: list[LayerRow]
    discriminator: list[LayerRow]
    run_dir: Path  # the folder the run would write (not created, unless a run resumed in place)
    in_place: bool  # a resumed run, continuing its own folder
    data: DataLook
    device: str
    batch_size: int
    iterations: int | None  # the run's total; None: epochs of a dataset of unknown size
    done: int  # iterations already done by the run resumed
    step_s: float  # median time of one training step
    steps_timed: int
    time_budget: float = 0.0  # train.time: seconds of training in all (0: none)
    elapsed_s: float = 0.0  # seconds the run resumed has trained already

    @property
    def steps_in_budget(self) -> int | None:
        """How many more steps fit in what is left of the time budget (None: no budget)."""
        if not self.time_budget:
            return None
        return int(max(self.time_budget - self.elapsed_s, 0.0) // self.step_s)

    @property
    def random_images(self) -> bool:
        """The steps were timed on random images (the data is not there, or not prepared yet)."""
        return not self.data.ready

    @property
    def projected_s(self) -> float | None:
        """Time of the iterations left, at the measured step time (training steps only), at
        most what is left of the time budget."""
        left = None if not self.iterations else max(self.iterations - self.done, 0) * self.step_s
        if self.time_budget:
            budget_left = max(self.time_budget - self.elapsed_s, 0.0)
            return budget_left if left is None else min(left, budget_left)
        return left


def dry_run(request: TrainRequest, *, world: int = 1, timed_steps: int = 3) -> DryRunReport:
    """Resolve `request` as `train` would and time `timed_steps` steps; a UserError for bad input."""
    from gancli.devices import resolve_device
    from gancli.training.trainer import total_iterations

    the_plan = plan(request)
    cfg = the_plan.cfg
    check_global_batch(cfg, world)
    dev = resolve_device(cfg.train.device)
    data, images = _data(cfg)  # a conditional run's classes, when the data is prepared
    g_rows, d_rows = generator_rows(cfg.model), discriminator_rows(cfg.model)
    if data.images is not None:
        check_dataset_size(cfg, data.images)
    if cfg.log.tensorboard:
        from gancli.reporting.tensorboard import require_tensorboard

        require_tensorboard()
    if data.images is not None:
        iterations: int | None = total_iterations(cfg, data.images // cfg.train.batch_size)
    else:
        iterations = cfg.train.iters or None
    payload = the_plan.resume_payload
    return DryRunReport(
        yaml=dump_yaml(cfg),
        generator=g_rows,
        discriminator=d_rows,
        run_dir=the_plan.run_dir,
        in_place=the_plan.in_place,
        data=data,
        device=str(dev),
        batch_size=cfg.train.batch_size,
        iterations=iterations,
        done=int(payload["iteration"]) if payload is not None else 0,
        step_s=_time_steps(cfg, images, dev, timed_steps),
        steps_timed=timed_steps,
        time_budget=cfg.train.time,
        elapsed_s=float(payload.get("elapsed_s", 0.0)) if payload is not None else 0.0,
    )


def _data(cfg: RunConfig) -> tuple[DataLook, Any]:
    """The data found, and a slice of it to time on (random images when it would need decoding)."""
    import torch

    from gancli.data.source import load_images

    m, batch = cfg.model, cfg.train.batch_size
    root = cfg.data.root or None
    look = look_at(cfg.data.name, m.resolution, m.channels, cfg.data.resize, root=root)
    if look.ready:  # built in, or prepared already: loading it reads the cache and writes nothing
        prepared = load_images(
            cfg.data.name, m.resolution, m.channels, cfg.data.resize, root=root, size=cfg.data.size,
            write_cache=False,
        )  # fmt: skip
        count = prepared.images.shape[0]
        if cfg.model.conditional:  # refused as the run would refuse it; the tables count the classes
            from gancli.data.labels import run_classes

            cfg.model.classes = run_classes(
                cfg.model.classes, prepared.labels, prepared.classes, cfg.data.name
            )
        return DataLook(prepared.source, count, True), prepared.images[: 2 * batch]
    noise = torch.Generator().manual_seed(cfg.train.seed)
    shape = (batch, m.channels, m.resolution, m.resolution)
    return look, torch.randint(0, 256, shape, dtype=torch.uint8, generator=noise)


def _time_steps(cfg: RunConfig, images: Any, dev: Any, n: int) -> float:
    """Median seconds of `n` training steps of a fresh Trainer, after a warm-up."""
    from gancli.training.trainer import Trainer

    labels = None
    if cfg.model.conditional:  # the data's classes are not read for timing: two stand in
        import dataclasses

        import torch

        classes = cfg.model.classes or ["class 0", "class 1"]
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, classes=classes))
        labels = torch.arange(images.shape[0]) % len(classes)
    trainer = Trainer(cfg, images, dev, None, labels=labels)  # no run folder: it never checkpoints
    try:
        trainer.train_steps(WARMUP_STEPS)
        _sync(dev)
        times = []
        for _ in range(n):
            start = time.perf_counter()
            trainer.train_steps(1)
            _sync(dev)  # the device's queue drained, so the time is the step's, not its launch's
            times.append(time.perf_counter() - start)
    finally:
        trainer.writer.close()
    return statistics.median(times)


def _sync(dev: Any) -> None:
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    elif dev.type == "mps":
        torch.mps.synchronize()
