"""Leak check: does a long `gan train` of a tiny model keep its resident memory flat?

Runs the real training loop (Trainer.fit) with the observers `gan train` attaches to write a
run folder (metrics.jsonl, sample grids, progress.gif, curves.png, checkpoints), reads the
process's resident set size from /proc/self/statm at every metrics line, and prints RSS
against iteration as a figure. After a warm-up (allocator pools, the first grids and
checkpoints, lazily imported code) the memory should stay flat: a leak shows as a steady
slope. The metrics log keeps one small dict per logged iteration in memory by design (for
curves.png); at --log-every 10 that is about 40 kB per 1,000 iterations.

    python benchmarks/leak_check.py                         # 3,000 iterations, ~1-2 min on 2 cores
    python benchmarks/leak_check.py --steps 300 --json      # what tests/faults/test_leak.py runs

Linux only (/proc). Exit code 1 when the growth after warm-up exceeds --max-growth-mb.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

_SRC = Path(__file__).resolve().parent.parent / "src"
try:
    import gancli  # noqa: F401
except ImportError:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(_SRC))

import torch  # noqa: E402

from gancli import config  # noqa: E402
from gancli.data.builtin import shapes  # noqa: E402
from gancli.reporting.artifacts import ArtifactWriter  # noqa: E402
from gancli.reporting.jsonl import MetricsLog  # noqa: E402
from gancli.training.trainer import Trainer  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """Resident set size of this process (second field of /proc/self/statm, in pages)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE


def tiny_config(steps: int, log_every: int, sample_every: int, checkpoint_every: int) -> config.RunConfig:
    """A 16x16 G/D pair (the tests' tiny model) on the built-in shapes, batch 8."""
    model = {
        "resolution": 16,
        "channels": 3,
        "latent_dim": 8,
        "init": "glorot",
        "generator": [
            {"op": "project", "out": 16, "size": 4},
            {"op": "convT", "out": 8, "kernel": 5, "stride": 2, "padding": "same"},
            {"op": "batchnorm"},
            {"op": "relu"},
            {"op": "convT", "out": 3, "kernel": 5, "stride": 2, "padding": "same"},
            {"op": "tanh"},
        ],
        "discriminator": [
            {"op": "dropout", "p": 0.5},
            {"op": "conv", "out": 8, "kernel": 5, "stride": 2, "padding": "same"},
            {"op": "leaky_relu", "slope": 0.2},
            {"op": "conv", "out": 16, "kernel": 5, "stride": 2, "padding": "same"},
            {"op": "batchnorm"},
            {"op": "leaky_relu", "slope": 0.2},
            {"op": "conv", "out": 1, "kernel": 4, "stride": 1, "padding": "valid"},
        ],
    }
    return config.from_dict(
        {
            "preset": "quick",
            "model": model,
            "data": {"name": "shapes", "size": 64},
            "train": {
                "step": "simultaneous",
                "iters": steps,
                "epochs": 0,
                "batch_size": 8,
                "label_flip_prob": 0.35,
                "log_every": log_every,
                "sample_every": sample_every,
                "checkpoint_every": checkpoint_every,
                "device": "cpu",
            },
        }
    )


class RssProbe:
    """Observer: RSS at every metrics line (the Trainer's only host syncs)."""

    def __init__(self) -> None:
        self.samples: list[tuple[int, int]] = []

    def on_metrics(self, record: dict) -> None:
        self.samples.append((record["iteration"], rss_bytes()))


def analyse(samples: list[tuple[int, int]], warmup: int) -> dict:
    """Growth after warm-up: median RSS of the last quarter minus that of the first quarter
    after warm-up (robust to allocator noise), and the least-squares slope per 1,000 steps."""
    after = [(i, r) for i, r in samples if i > warmup]
    if len(after) < 4:
        raise SystemExit(f"too few samples after the warm-up of {warmup} steps: run more --steps")
    q = max(1, len(after) // 4)
    first = statistics.median(r for _, r in after[:q])
    last = statistics.median(r for _, r in after[-q:])
    xs = [i for i, _ in after]
    ys = [r for _, r in after]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs) or 1.0
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    mib = 1 << 20
    return {
        "warmup_steps": warmup,
        "rss_start_mb": samples[0][1] / mib,
        "rss_after_warmup_mb": first / mib,
        "rss_end_mb": last / mib,
        "rss_max_mb": max(r for _, r in samples) / mib,
        "growth_after_warmup_mb": (last - first) / mib,
        "slope_mb_per_1000_steps": slope * 1000 / mib,
    }


def figure(samples: list[tuple[int, int]], warmup: int, rows: int = 24, width: int = 50) -> str:
    """RSS against iteration as text: one bar per row, evenly thinned."""
    picked = (
        samples
        if len(samples) <= rows
        else [samples[round(k * (len(samples) - 1) / (rows - 1))] for k in range(rows)]
    )
    lo = min(r for _, r in samples)
    hi = max(r for _, r in samples)
    span = max(hi - lo, 1)
    lines = [f"{'iteration':>9}  {'RSS MiB':>8}  (bar: {lo / 2**20:.1f} .. {hi / 2**20:.1f} MiB)"]
    for it, r in picked:
        bar = "#" * (1 + round((r - lo) / span * (width - 1)))
        mark = " <- end of warm-up" if it <= warmup < next((i for i, _ in picked if i > it), it + 1) else ""
        lines.append(f"{it:>9}  {r / 2**20:>8.1f}  {bar}{mark}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3000, help="training iterations (default 3000)")
    parser.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="steps ignored at the start (default: a fifth of --steps, at least 50)",
    )
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--sample-every", type=int, default=100)
    parser.add_argument("--checkpoint-every", type=int, default=250)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: steady timing on a shared machine)",
    )
    parser.add_argument(
        "--max-growth-mb", type=float, default=20.0, help="exit 1 when RSS grows more than this after warm-up"
    )
    parser.add_argument("--json", action="store_true", help="print the samples and the summary as JSON")
    args = parser.parse_args(argv)
    warmup = args.warmup if args.warmup is not None else max(50, args.steps // 5)

    torch.set_num_threads(args.threads)
    cfg = tiny_config(args.steps, args.log_every, args.sample_every, args.checkpoint_every)
    probe = RssProbe()
    with tempfile.TemporaryDirectory(prefix="gan-leak-") as tmp:
        run_dir = Path(tmp) / "run"
        run_dir.mkdir()
        metrics = MetricsLog(run_dir / "metrics.jsonl")
        trainer = Trainer(
            cfg,
            shapes(64, 16),
            torch.device("cpu"),
            run_dir,
            [probe, metrics, ArtifactWriter(run_dir, metrics)],
        )
        start = time.perf_counter()
        outcome = trainer.fit()
        seconds = time.perf_counter() - start
    if outcome.status != "finished":
        raise SystemExit(f"training did not finish: {outcome.message}")
    summary = {
        "steps": args.steps,
        "seconds": seconds,
        "threads": args.threads,
        "torch": torch.__version__,
        **analyse(probe.samples, warmup),
    }
    if args.json:
        print(json.dumps({"summary": summary, "samples": probe.samples}))
    else:
        print(
            f"Leak check: {args.steps} iterations of a 16x16 DCGAN (batch 8, {args.threads} thread(s)) in {seconds:.1f} s, "
            f"metrics every {args.log_every}, grids every {args.sample_every}, checkpoints every {args.checkpoint_every}\n"
        )
        print(figure(probe.samples, warmup))
        print(
            f"\nRSS after warm-up ({warmup} steps): {summary['rss_after_warmup_mb']:.1f} MiB; at the end: {summary['rss_end_mb']:.1f} MiB; "
            f"growth {summary['growth_after_warmup_mb']:+.2f} MiB; slope {summary['slope_mb_per_1000_steps']:+.3f} MiB per 1,000 steps "
            f"(max {summary['rss_max_mb']:.1f} MiB)"
        )
    return 1 if summary["growth_after_warmup_mb"] > args.max_growth_mb else 0


if __name__ == "__main__":
    sys.exit(main())
