"""flowers64 at batch 128 on one GPU: the reference against ours fp32, --amp, --amp --compile (issue 5, #3).

Run by benchmarks/gpu.sh on a lent GPU machine (torch 2.11, gancli not installed: the
script puts src/ on sys.path). Prints one line per measurement as soon as it has it, so a
run cut short still leaves its figures, then a table:

  reference          a typical script: ImageFolder + transforms + DataLoader (8 workers,
                     started each epoch) decoding the JPEGs every epoch, and the plain
                     reference step (benchlib) on the GPU; measured on its second epoch.
  reference step     the same step on one ready batch on the GPU: what it could do if the
                     JPEG decoding kept up.
  ours fp32/amp/...  Trainer.fit as `gan train` runs it (prepared dataset on the GPU,
                     metrics.jsonl, sample grids every 100 iterations, checkpoints every 500
                     and at the end of the window): --steps iterations after --warmup ones.
  fp32_plain         ours fp32 with the nets off the turned frame (models/frame.py): near the
                     end, so the budget cuts it first; it says whether the turn pays on a GPU.
  host_data          ours fp32 with the dataset forced to stay pinned on the host (the path
                     of datasets too big for the GPU): checks its batches equal the on-device
                     ones, then times it.
"fp32" on the GPU means PyTorch's defaults: TF32 convolutions on Ampere and later.

and for each the projected time of 500 epochs of 3,670 images (500 x 28 steps of 128,
partial batches dropped), and the peak GPU memory.

    python benchmarks/gpu_bench.py                                   # cuda, as gpu.sh runs it
    python benchmarks/gpu_bench.py --device cpu --steps 2 --warmup 1 --images 256 --batch-size 32 --workers 2 --configs ref,ref_step,fp32,amp
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchlib, when run from elsewhere
import benchlib as bl

PRESET = "flowers64"
EPOCHS, FLOWERS = 500, 3670
CONFIGS = ("ref", "ref_step", "fp32", "amp", "amp_compile", "fp32_plain", "host_data")


@dataclass
class Result:
    name: str
    images_per_s: float
    note: str = ""
    peak_mem_gib: float = 0.0

    def projected_min(self, batch: int) -> float:
        return EPOCHS * (FLOWERS // batch) * batch / self.images_per_s / 60


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0


def reference_epochs(folder: Path, cfg, device: torch.device, workers: int, epochs: int = 2) -> Result:
    """The typical script's loop over the JPEG folder; images/s of its last epoch."""
    ref = bl.build_reference(cfg, device)
    loader = bl.typical_loader(folder, workers, cfg.train.batch_size, cfg.model.resolution, drop_last=True)
    reset_peak(device)
    rate = 0.0
    for epoch in range(epochs):
        sync(device)
        start, seen = time.perf_counter(), 0
        for data, _ in loader:  # a new iterator each epoch starts the workers again, as in main.py
            real = data.to(device)
            ref.step(ref, real)  # its .item() calls synchronise every step, as main.py's
            seen += real.shape[0]
        sync(device)
        rate = seen / (time.perf_counter() - start)
        print(f"  reference epoch {epoch + 1}: {rate:.0f} images/s", flush=True)
    return Result(
        "reference (DataLoader, JPEG decoding)", rate, f"{workers} workers, epoch {epochs}", peak_gib(device)
    )


def reference_step_only(cfg, device: torch.device, steps: int, warmup: int) -> Result:
    step = bl.RefStep(cfg, device, cfg.train.batch_size)
    for _ in range(warmup):
        step()
    reset_peak(device)
    seconds = bl.time_steps(step, steps, device)
    return Result(
        "reference step, ready batch",
        steps * cfg.train.batch_size / seconds,
        "no data loading",
        peak_gib(device),
    )


def ours(
    images: torch.Tensor,
    cfg,
    device: torch.device,
    steps: int,
    warmup: int,
    label: str,
    plain_frame: bool = False,
    host_data: bool = False,
) -> Result:
    """Trainer.fit with MetricsLog + ArtifactWriter in a temporary run folder; the timed window
    is `steps` iterations after `warmup` (the warm-up absorbs torch.compile and cuDNN tuning)."""
    from gancli.reporting.artifacts import ArtifactWriter
    from gancli.reporting.jsonl import MetricsLog
    from gancli.training.trainer import Trainer

    run_dir = Path(tempfile.mkdtemp(prefix="gan-gpu-run-"))
    try:
        metrics = MetricsLog(run_dir / "metrics.jsonl")
        trainer = Trainer(cfg, images, device, run_dir, [metrics, ArtifactWriter(run_dir, metrics)])
        if (
            plain_frame
        ):  # measured on CPU only so far: does the turned frame (models/frame.py) pay on a GPU too?
            trainer.generator.frame = trainer.discriminator.frame = None
        if host_data:  # the path of a dataset too big for the GPU: pinned staging buffers, async copies
            from gancli.data.batches import BatchSource

            if device.type != "cuda":
                raise RuntimeError("not applicable: a dataset stays pinned on the host only for CUDA runs")
            trainer.batches = BatchSource(
                images, cfg.train.batch_size, device, cfg.train.seed, cfg.data.flip, max_device_fraction=0.0
            )
            check = BatchSource(images, cfg.train.batch_size, device, cfg.train.seed, cfg.data.flip)
            if trainer.batches.on_device or not all(
                torch.equal(trainer.batches.batch(i), check.batch(i)) for i in range(4)
            ):
                raise RuntimeError(
                    "host-pinned batches differ from on-device ones (or did not stay on the host)"
                )
            trainer.batches = BatchSource(
                images, cfg.train.batch_size, device, cfg.train.seed, cfg.data.flip, max_device_fraction=0.0
            )
        start = time.perf_counter()
        trainer.total = warmup
        trainer.fit()  # ends with a host read of the metrics: the device is idle after it
        warm_s = time.perf_counter() - start
        reset_peak(device)
        trainer.total = warmup + steps
        start = time.perf_counter()
        outcome = trainer.fit()
        seconds = time.perf_counter() - start
        if outcome.status != "finished":
            raise RuntimeError(f"{label}: training {outcome.status}: {outcome.message}")
        where = "dataset on the device" if trainer.batches.on_device else "dataset pinned on the host"
        return Result(
            label,
            steps * cfg.train.batch_size / seconds,
            f"warm-up {warmup} it {warm_s:.0f} s; {where}",
            peak_gib(device),
        )
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--images", type=int, default=2048, help="synthetic flower-sized JPEGs")
    parser.add_argument("--workers", type=int, default=8, help="the reference DataLoader's workers")
    # 30 + 470 = 500 iterations: the timed window holds 5 sample grids and 1 checkpoint, the
    # cadence of a real flowers64 run (sample_every 100, checkpoint_every 500)
    parser.add_argument("--steps", type=int, default=470, help="timed iterations of ours")
    parser.add_argument(
        "--warmup", type=int, default=30, help="untimed iterations first (torch.compile, cuDNN tuning)"
    )
    parser.add_argument(
        "--configs", default=",".join(CONFIGS), help=f"comma-separated subset of {','.join(CONFIGS)}"
    )
    parser.add_argument(
        "--budget-s", type=float, default=420, help="skip what would start after this many seconds"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    device = torch.device(args.device)
    wanted = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = set(wanted) - set(CONFIGS)
    if unknown:
        parser.error(f"unknown configs {sorted(unknown)}; choose from {', '.join(CONFIGS)}")

    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        print(
            f"device: {props.name}, {props.total_memory / 2**30:.0f} GiB; torch {torch.__version__}; {os.cpu_count()} CPUs",
            flush=True,
        )
    else:
        print(f"device: {bl.machine_line()}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="gan-gpu-bench-"))
    results: list[Result] = []
    try:
        folder = work / "flowers"
        start = time.perf_counter()
        _, kb = bl.make_jpeg_folder(folder, args.images, workers=min(16, os.cpu_count() or 1))
        print(
            f"{args.images} synthetic JPEGs ({kb:.0f} KB average) in {time.perf_counter() - start:.1f} s",
            flush=True,
        )

        from gancli.data.prepared import prepare_folder

        start = time.perf_counter()
        prepared = prepare_folder(folder, 64, 3, "resize", work / "cache", workers=os.cpu_count() or 1)
        prep_s = time.perf_counter() - start
        print(
            f"our first preparation: {prep_s:.1f} s ({args.images / prep_s:.0f} images/s, {os.cpu_count()} processes)",
            flush=True,
        )

        def cfg(**train: object):
            return bl.preset_config(PRESET, args.batch_size, args.device, **train)

        plans = {
            "ref": lambda: reference_epochs(folder, cfg(), device, args.workers),
            "ref_step": lambda: reference_step_only(cfg(), device, max(args.steps // 10, 2), 3),
            "fp32": lambda: ours(prepared.images, cfg(), device, args.steps, args.warmup, "ours fp32"),
            "amp": lambda: ours(
                prepared.images, cfg(amp=True), device, args.steps, args.warmup, "ours --amp (bf16)"
            ),
            "amp_compile": lambda: ours(
                prepared.images,
                cfg(amp=True, compile=True),
                device,
                args.steps,
                args.warmup,
                "ours --amp --compile",
            ),
            "fp32_plain": lambda: ours(
                prepared.images,
                cfg(),
                device,
                args.steps,
                args.warmup,
                "ours fp32, plain frame",
                plain_frame=True,
            ),
            "host_data": lambda: ours(
                prepared.images,
                cfg(),
                device,
                args.steps,
                args.warmup,
                "ours fp32, dataset pinned on the host",
                host_data=True,
            ),
        }
        for name in wanted:
            if time.perf_counter() - started > args.budget_s:
                print(f"{name}: skipped, the {args.budget_s:.0f} s budget is spent", flush=True)
                continue
            try:
                result = plans[name]()
            except Exception as exc:
                print(f"{name}: FAILED: {type(exc).__name__}: {exc}", flush=True)
                continue
            results.append(result)
            memory = f"peak GPU memory {result.peak_mem_gib:.2f} GiB" if device.type == "cuda" else "no GPU"
            print(
                f"{result.name}: {result.images_per_s:.0f} images/s, 500 epochs in {result.projected_min(args.batch_size):.1f} min "
                f"({result.note}; {memory})",
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print()
    print(
        bl.table(
            [
                [
                    r.name,
                    f"{r.images_per_s:.0f}",
                    f"{r.projected_min(args.batch_size):.1f}",
                    f"{r.peak_mem_gib:.2f}" if device.type == "cuda" else "-",
                    r.note,
                ]
                for r in results
            ],
            [
                f"flowers64, batch {args.batch_size}, {device.type}",
                "images/s",
                f"{EPOCHS} epochs x {FLOWERS} images (min)",
                "peak GPU GiB",
                "notes",
            ],
        )
    )
    print(
        f"\nwhole benchmark: {time.perf_counter() - started:.0f} s; host peak RSS {bl.peak_rss_mib():.0f} MiB"
    )


if __name__ == "__main__":
    main()
