"""One flowers64 epoch end to end: a typical PyTorch DCGAN script against `gan train` (issue 5, #2).

On a temporary folder of flower-sized synthetic JPEGs, alternately (ours first):

  reference  pytorch/examples dcgan/main.py's loop: ImageFolder + transforms + DataLoader
             (2 workers, started for the epoch), the plain reference step (benchlib), at
             iteration 0 the real batch and netG(fixed_noise) saved as PNGs, and netG/netD
             state dicts saved at the end of the epoch. Networks built inside the timing.
  ours       what `gan train --preset flowers64 --data FOLDER --epochs 1` does after its
             first run: load the prepared cache (warm), build the Trainer, fit one epoch with
             the live display, metrics.jsonl, sample grids and the final checkpoint.

Partial batches are dropped on both sides (our default; the reference gets drop_last=True),
so both train on the same number of images. Printed: both epoch times, the ratio (median of
per-round ratios), our time split into steps and the end-of-epoch writes, the achieved
GFLOP/s of our step against the CPU's peak, and the peak RSS (issue 5, #4).

    python benchmarks/epoch.py                       # 384 JPEGs, batch 128: 3 steps per epoch, ~2-3 min
    python benchmarks/epoch.py --batch-size 32       # quicker
    python benchmarks/epoch.py --images 768 --rounds 3
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import benchlib as bl
import torch

PRESET = "flowers64"


def reference_epoch(folder: Path, cfg, workers: int, out: Path) -> float:
    """Seconds of one epoch of pytorch/examples dcgan/main.py's loop (print left out)."""
    import torchvision.utils as vutils

    cpu = torch.device("cpu")
    start = time.perf_counter()
    ref = bl.build_reference(cfg, cpu)
    fixed_noise = torch.randn(cfg.train.batch_size, *ref.latent_shape, device=cpu)
    dataloader = bl.typical_loader(
        folder, workers, cfg.train.batch_size, cfg.model.resolution, drop_last=True
    )
    epoch = 0
    for i, (data, _) in enumerate(dataloader):
        real_cpu = data.to(cpu)
        ref.step(ref, real_cpu)
        if i % 100 == 0:
            vutils.save_image(real_cpu, out / "real_samples.png", normalize=True)
            fake = ref.netG(fixed_noise)  # main.py: in training mode, without no_grad
            vutils.save_image(fake.detach(), out / f"fake_samples_epoch_{epoch:03d}.png", normalize=True)
    torch.save(ref.netG.state_dict(), out / f"netG_epoch_{epoch}.pth")
    torch.save(ref.netD.state_dict(), out / f"netD_epoch_{epoch}.pth")
    return time.perf_counter() - start


class Stopwatch:
    """First observer: when the loop starts, its last metrics line, its checkpoint, its end."""

    def __init__(self) -> None:
        self.start = self.last_metrics = self.checkpointed = self.end = 0.0

    def on_start(self, trainer) -> None:
        self.start = time.perf_counter()

    def on_metrics(self, record) -> None:
        self.last_metrics = time.perf_counter()

    def on_checkpoint(self, iteration, path) -> None:
        self.checkpointed = time.perf_counter()

    def on_end(self, outcome) -> None:
        self.end = time.perf_counter()


def our_epoch(folder: Path, cfg, data_root: Path, out: Path, splits: dict[str, list[float]]) -> float:
    """Seconds of `gan train`'s work for one epoch with a warm prepared cache; appends the
    split (set-up, steps, samples + checkpoint, end-of-run writes) to `splits`."""
    from rich.console import Console

    from gancli.cli.live import LiveDisplay
    from gancli.data.source import load_images
    from gancli.reporting.artifacts import ArtifactWriter
    from gancli.reporting.jsonl import MetricsLog
    from gancli.training.trainer import Trainer

    start = time.perf_counter()
    prepared = load_images(
        str(folder), cfg.model.resolution, cfg.model.channels, cfg.data.resize, root=str(data_root)
    )
    if not prepared.from_cache:
        raise RuntimeError("the prepared cache should be warm here")
    metrics = MetricsLog(out / "metrics.jsonl")
    watch = Stopwatch()
    trainer = Trainer(
        cfg, prepared.images, torch.device("cpu"), out, [watch, metrics, ArtifactWriter(out, metrics)]
    )
    console = Console(file=io.StringIO(), force_terminal=True, width=120)  # rich Live, as on a terminal
    trainer.observers.insert(
        1, LiveDisplay(console, trainer.total, trainer.batches.steps_per_epoch, 0, cfg.preset)
    )
    trainer.fit()
    end = time.perf_counter()
    splits["set-up (cache load, nets)"].append(watch.start - start)
    splits["training steps"].append(watch.last_metrics - watch.start)
    splits["last samples + checkpoint"].append(watch.checkpointed - watch.last_metrics)
    splits["progress.gif, curves.png"].append(end - watch.checkpointed)
    return end - start


def warm_up(cfg) -> None:
    """One untimed step of each side at the run's batch: the process's first convolutions of
    each shape build oneDNN kernels, and whichever side ran first would pay for both."""
    import torchvision.utils  # noqa: F401  (imported here, not inside the first timed epoch)

    cpu = torch.device("cpu")
    start = time.perf_counter()
    bl.OurStep(cfg, bl.synthetic_images(cfg, cfg.train.batch_size), cpu)()
    bl.RefStep(cfg, cpu, cfg.train.batch_size)()
    print(f"warm-up (one untimed step of each): {time.perf_counter() - start:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--images",
        type=int,
        default=384,
        help="synthetic JPEGs (a multiple of the batch avoids a dropped partial batch)",
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2, help="the reference DataLoader's workers")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    parser.add_argument(
        "--amp",
        action="store_true",
        help="also time ours with --amp (bf16 autocast; changes numerics, so not the default)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    cpu_info = bl.cpu_info()
    cpu_device = torch.device("cpu")
    print(f"machine: {bl.machine_line()}")
    work = Path(tempfile.mkdtemp(prefix="gan-bench-epoch-"))
    try:
        folder, data_root = work / "flowers", work / "gan-home"
        _, kb = bl.make_jpeg_folder(folder, args.images, workers=2)
        cfg = bl.preset_config(PRESET, args.batch_size, epochs=1, iters=0)
        from gancli.data.source import load_images

        start = time.perf_counter()
        cold = load_images(
            str(folder), cfg.model.resolution, cfg.model.channels, cfg.data.resize, root=str(data_root)
        )
        n = cold.images.shape[0]
        print(
            f"{args.images} JPEGs ({kb:.0f} KB average); first preparation (once, not in the epochs): {time.perf_counter() - start:.1f} s"
        )
        print(
            f"{PRESET}, batch {args.batch_size}: {n // args.batch_size} steps per epoch; {args.rounds} rounds, ours and the reference alternating\n"
        )

        warm_up(cfg)
        split_names = (
            "set-up (cache load, nets)",
            "training steps",
            "last samples + checkpoint",
            "progress.gif, curves.png",
        )
        splits: dict[str, list[float]] = {k: [] for k in split_names}
        amp_splits: dict[str, list[float]] = {k: [] for k in split_names}
        cfg_amp = bl.preset_config(PRESET, args.batch_size, epochs=1, iters=0, amp=True)
        if args.amp:
            bl.OurStep(
                cfg_amp, bl.synthetic_images(cfg_amp, cfg_amp.train.batch_size), cpu_device
            )()  # bf16 kernels warm too
        rss_after_ours: list[float] = []

        def ours() -> float:
            out = Path(tempfile.mkdtemp(dir=work))
            seconds = our_epoch(folder, cfg, data_root, out, splits)
            rss_after_ours.append(bl.peak_rss_mib())
            shutil.rmtree(out)
            return seconds

        def reference() -> float:
            out = Path(tempfile.mkdtemp(dir=work))
            seconds = reference_epoch(folder, cfg, args.workers, out)
            shutil.rmtree(out)
            return seconds

        def ours_amp() -> float:
            out = Path(tempfile.mkdtemp(dir=work))
            seconds = our_epoch(folder, cfg_amp, data_root, out, amp_splits)
            shutil.rmtree(out)
            return seconds

        sides = {"ours": ours, "reference": reference, **({"ours --amp": ours_amp} if args.amp else {})}
        times = bl.interleave(sides, args.rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    ratio = bl.median_ratio(times["reference"], times["ours"])
    steps = n // args.batch_size
    print()
    print(
        bl.table(
            [
                [
                    "reference (DataLoader, 2 workers)",
                    f"{statistics.median(times['reference']):.2f}",
                    f"{steps * args.batch_size / statistics.median(times['reference']):.1f}",
                ],
                [
                    "ours (gan train, warm cache)",
                    f"{statistics.median(times['ours']):.2f}",
                    f"{steps * args.batch_size / statistics.median(times['ours']):.1f}",
                ],
            ],
            ["one epoch", "seconds (median)", "images/s"],
        )
    )
    if args.amp:
        amp_s = statistics.median(times["ours --amp"])
        print(
            f"ours --amp (bf16 autocast, changes numerics): {amp_s:.2f} s, {steps * args.batch_size / amp_s:.1f} images/s"
        )
    print(f"\nours / reference speed: {ratio:.3f}x  (median of per-round ratios; goal on CPU >= 1.15x)")
    if args.amp:
        print(
            f"ours --amp / reference speed: {bl.median_ratio(times['reference'], times['ours --amp']):.3f}x"
        )
    print(
        "our epoch split (median s): "
        + ", ".join(f"{k} {statistics.median(v):.2f}" for k, v in splits.items())
    )

    # FLOPs per image of our step, counted on a small batch (conv/matmul FLOPs scale with it)
    small = bl.preset_config(PRESET, 8)
    step = bl.OurStep(small, bl.synthetic_images(small, 16), torch.device("cpu"))
    flops_per_image = bl.count_flops(step) / 8
    step_s = statistics.median(splits["training steps"])
    achieved_steps = flops_per_image * steps * args.batch_size / step_s / 1e9
    achieved_epoch = flops_per_image * steps * args.batch_size / statistics.median(times["ours"]) / 1e9
    print(f"\nFLOPs per training image (FlopCounterMode, one step): {flops_per_image / 1e9:.3f} GFLOP")
    print(
        f"achieved: {achieved_steps:.1f} GFLOP/s over the training steps, {achieved_epoch:.1f} GFLOP/s over the whole epoch"
    )
    print(
        f"CPU peak: {cpu_info.cores} cores x {cpu_info.flops_per_cycle} FLOP/cycle ({cpu_info.isa}) x {cpu_info.mhz / 1000:.2f} GHz = {cpu_info.peak_gflops:.0f} GFLOP/s "
        f"-> {100 * achieved_steps / cpu_info.peak_gflops:.0f}% of peak; with the issue's AVX2 formula (32 FLOP/cycle): {cpu_info.peak_gflops_avx2:.0f} GFLOP/s "
        f"-> {100 * achieved_steps / cpu_info.peak_gflops_avx2:.0f}%"
    )
    print(
        f"\npeak RSS: {rss_after_ours[0]:.0f} MiB after our first epoch (before any reference epoch ran in this process); "
        f"{bl.peak_rss_mib():.0f} MiB for the whole benchmark; largest child process (JPEG writers, decoders, DataLoader workers): {bl.peak_rss_mib(children=True):.0f} MiB"
    )


if __name__ == "__main__":
    main()
