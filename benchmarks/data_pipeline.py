"""Images/s of the data path: a typical DCGAN DataLoader against our prepared dataset (issue 3).

Builds a temporary folder of flower-sized textured JPEGs (320x240 to 500x375, five class
folders) and measures, interleaved round by round:

  (a) torchvision ImageFolder + transforms (Resize((64, 64)), RandomHorizontalFlip, ToTensor,
      Normalize) + DataLoader(batch 128, shuffle), with 0 and with 2 workers: one full pass,
      worker start-up included (a typical script starts its workers every epoch);
  (b) our first preparation, gancli.data.prepared.prepare_folder into an empty cache folder,
      with 1 and with 2 decoding processes (the cache file write included);
  (c) our batches from the prepared tensor, gancli.data.batches.BatchSource(...).batch(i)
      (index, scale to [-1, 1], random flips), batch 128.

Printed: images/s of each (median over rounds), (c)/(a) (goal >= 50x), and (b)/(a) at the same
number of processes: (b, 1 process) against (a, 0 workers), (b, 2) against (a, 2 workers).

    python benchmarks/data_pipeline.py                    # 300 JPEGs, 3 rounds, ~1 min
    python benchmarks/data_pipeline.py --images 600 --rounds 5
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import benchlib as bl
import torch

RESOLUTION = 64


def time_loader_pass(folder: Path, workers: int, batch: int) -> Callable[[], float]:
    """Seconds per image of one full pass, creating the loader (and so its workers) inside."""

    def run() -> float:
        start = time.perf_counter()
        seen = 0
        for images, _ in bl.typical_loader(folder, workers, batch, RESOLUTION):
            seen += images.shape[0]
        return (time.perf_counter() - start) / seen

    return run


def time_preparation(folder: Path, workers: int) -> Callable[[], float]:
    """Seconds per image of a cold prepare_folder (a fresh, empty cache folder each time)."""
    from gancli.data.prepared import prepare_folder

    def run() -> float:
        cache = Path(tempfile.mkdtemp(prefix="gan-bench-cache-"))
        try:
            start = time.perf_counter()
            prepared = prepare_folder(folder, RESOLUTION, 3, "resize", cache, workers=workers)
            elapsed = time.perf_counter() - start
        finally:
            shutil.rmtree(cache)
        if prepared.from_cache:
            raise RuntimeError("the preparation came from a cache: the benchmark must start cold")
        return elapsed / prepared.images.shape[0]

    return run


def time_batches(images: torch.Tensor, batch: int, batches: int) -> Callable[[], float]:
    """Seconds per image of BatchSource.batch over `batches` consecutive iterations."""
    from gancli.data.batches import BatchSource

    source = BatchSource(images, batch, torch.device("cpu"), seed=0, flip=True)

    def run() -> float:
        start = time.perf_counter()
        for i in range(batches):
            source.batch(i)
        return (time.perf_counter() - start) / (batches * batch)

    return run


def one_thread(run: Callable[[], float]) -> Callable[[], float]:
    """`run` with torch.set_num_threads(1), the setting restored afterwards."""

    def wrapped() -> float:
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return run()
        finally:
            torch.set_num_threads(before)

    return wrapped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=300, help="synthetic JPEGs in the folder")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="write the JPEGs here and keep them (default: a temporary folder)",
    )
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    print(f"machine: {bl.machine_line()}")
    import torchvision.datasets  # import once here, not inside the first timed pass
    import torchvision.transforms  # noqa: F401

    root = args.keep or Path(tempfile.mkdtemp(prefix="gan-bench-jpegs-"))
    try:
        start = time.perf_counter()
        count, kb = bl.make_jpeg_folder(root, args.images, workers=2)
        print(
            f"{count} synthetic JPEGs, {kb:.0f} KB on average (real flower photos: about 60 KB), written in {time.perf_counter() - start:.1f} s\n"
        )
        from gancli.data.prepared import prepare_folder

        cache = Path(tempfile.mkdtemp(prefix="gan-bench-cache-"))
        prepared = prepare_folder(root, RESOLUTION, 3, "resize", cache, workers=1).images
        shutil.rmtree(cache)
        variants = {
            "(a) DataLoader, 0 workers": time_loader_pass(root, 0, args.batch_size),
            "(a) DataLoader, 2 workers": time_loader_pass(root, 2, args.batch_size),
            "(b) first preparation, 1 process": time_preparation(root, 1),
            "(b) first preparation, 2 processes": time_preparation(root, 2),
            "(c) prepared batches": time_batches(
                prepared, args.batch_size, batches=max(1, 4096 // args.batch_size)
            ),
        }
        if torch.get_num_threads() > 1:
            # small tensor ops barely gain from 2 OpenMP threads and lose a lot when a
            # neighbour's process preempts one of them: show the 1-thread figure too
            variants["(c) prepared batches, 1 thread"] = one_thread(variants["(c) prepared batches"])
        per_image = bl.interleave(variants, args.rounds, fmt=lambda v: f"{1 / v:,.0f}/s")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)

    rate = {name: 1 / statistics.median(v) for name, v in per_image.items()}
    print()
    print(bl.table([[name, f"{r:,.0f}"] for name, r in rate.items()], ["path", "images/s"]))
    a0, a2, b1, b2, c = list(per_image)[:5]
    speed = lambda fast, slow: bl.median_ratio(per_image[slow], per_image[fast])
    print()
    print(
        f"(c)/(a, 0 workers): {speed(c, a0):,.0f}x   (c)/(a, 2 workers): {speed(c, a2):,.0f}x   (goal: >= 50x)"
    )
    if "(c) prepared batches, 1 thread" in per_image:
        c1 = "(c) prepared batches, 1 thread"
        print(
            f"  (c) with 1 thread: {speed(c1, a0):,.0f}x and {speed(c1, a2):,.0f}x; 1 thread / {torch.get_num_threads()} threads: {speed(c1, c):.2f}x"
        )
    print(f"(b)/(a) with 1 process each (b, 1 process vs a, 0 workers): {speed(b1, a0):.2f}x")
    print(
        f"(b)/(a) with 2 processes each (b, 2 processes vs a, 2 workers): {speed(b2, a2):.2f}x   (goal: >= 1.0x)"
    )
    print(
        "ratios: medians of per-round ratios of interleaved runs (the cores are shared; single figures are noisy)"
    )


if __name__ == "__main__":
    main()
