"""Images/s of our training step per preset against a plain reference step (issue 5, #1).

The reference is written the way pytorch/examples dcgan/main.py writes its loop: nn.Sequential
networks of built-in layers ending in a Sigmoid, BCELoss, Adam with default flags, .item()
reads every step, and the preset's update kind (d_then_g as main.py; g_then_d as PyTorch-GAN;
flowers64's simultaneous update written plainly with torch.autograd.grad). Same layers,
widths, initialisation, batch and Adam settings as the preset. Where a preset uses 'same'
padding (flowers64, faces256) the reference uses PyTorch's usual symmetric padding, which a
plain script would write: the same shapes and FLOPs, a grid one pixel off MATLAB's.

Ours is the Trainer's own step (benchlib.OurStep): batches from a prepared uint8 tensor with
flips, the preset's step function, the on-device metric accumulation. The reference gets a
ready float batch (its DataLoader is timed in epoch.py and data_pipeline.py).

Both are timed interleaved in one process (ours, reference, reference, ours, ...), and the
ratio is the median over rounds of (reference time / our time) in the same round: > 1 means
ours is faster. Then the cost of the live display and logging: Trainer.fit with and without
the observers `gan train` attaches, same config, interleaved.

    python benchmarks/train_step.py                          # batch 32, ~2-3 min
    python benchmarks/train_step.py --batch-size 128         # the presets' batch (slow: ~10 min)
    python benchmarks/train_step.py --presets flowers64 --steps 3 --rounds 5
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import benchlib as bl
import torch

PRESETS = ("flowers64", "dcgan64", "mnist32", "quick", "faces256")
SMALL_BATCH = {"faces256": 4}  # 256 px: a few images per step keep the default run short


def compare_preset(name: str, batch: int, steps: int, rounds: int) -> list[str]:
    """One table row: our and the reference's images/s, their ratio, FLOPs per image."""
    cpu = torch.device("cpu")
    cfg = bl.preset_config(name, batch)
    ours = bl.OurStep(cfg, bl.synthetic_images(cfg, batch * 4), cpu)
    ref = bl.RefStep(cfg, cpu, batch)
    flops_ours = bl.count_flops(ours) / batch  # also the warm-up step of each
    flops_ref = bl.count_flops(ref) / batch
    print(f"  {name} (batch {batch}, {cfg.train.step}):", flush=True)

    def run_ours() -> None:
        for _ in range(steps):
            ours()
        ours.sync()

    def run_ref() -> None:
        for _ in range(steps):
            ref()

    t = bl.interleave_timed({"ours": run_ours, "reference": run_ref}, rounds, cpu)
    ours_ips = batch * steps / statistics.median(t.wall["ours"])
    ref_ips = batch * steps / statistics.median(t.wall["reference"])
    gflops = flops_ours * ours_ips / 1e9
    same = "yes" if abs(flops_ours - flops_ref) <= 1e-3 * flops_ref else f"no ({flops_ref / 1e9:.3f})"
    return [
        name,
        str(batch),
        cfg.train.step,
        f"{ours_ips:.1f}",
        f"{ref_ips:.1f}",
        f"{t.ratio('reference', 'ours'):.3f}x",
        f"{t.ratio('reference', 'ours', cpu=True):.3f}x",
        f"{flops_ours / 1e9:.3f}",
        same,
        f"{gflops:.1f}",
    ]


def thread_cpu_seconds(thread: threading.Thread) -> float:
    """CPU seconds (user + system) a live thread of this process has used (Linux /proc)."""
    fields = Path(f"/proc/self/task/{thread.native_id}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Stopwatch:
    """First observer of a run: notes when the loop starts and ends (before the others' on_end
    work: ArtifactWriter redraws progress.gif and curves.png there, once per run), and how
    much CPU the helper threads (rich's refresh thread, the PNG writer) used meanwhile."""

    def __init__(self) -> None:
        self.start = self.loop_end = self.cpu_start = self.cpu_end = 0.0
        self.writer_cpu = self.other_cpu = 0.0
        self._helpers_before: dict[int, float] = {}

    @staticmethod
    def _helpers() -> dict[int, tuple[str, float]]:
        main = threading.main_thread()
        return {
            t.native_id: (t.name, thread_cpu_seconds(t))
            for t in threading.enumerate()
            if t is not main and t.native_id is not None
        }

    def on_start(self, trainer) -> None:
        # earlier runs' idle writer threads may still exist: count only what they use from now
        self._helpers_before = {tid: cpu for tid, (_, cpu) in self._helpers().items()}
        self.start, self.cpu_start = time.perf_counter(), time.process_time()

    def on_end(self, outcome) -> None:
        self.loop_end, self.cpu_end = time.perf_counter(), time.process_time()
        for tid, (name, cpu) in self._helpers().items():
            used = cpu - self._helpers_before.get(tid, 0.0)
            if name.startswith("gan-artifacts"):  # ArtifactWriter's PNG thread
                self.writer_cpu += used
            else:  # rich's Live refresh thread
                self.other_cpu += used


class Timed:
    """Proxy of an observer adding up the time its callbacks take on the training thread
    (on_end apart: it runs after the loop, a one-off cost measured separately)."""

    def __init__(self, observer: object) -> None:
        self._observer = observer
        self.seconds = 0.0

    def __getattr__(self, name: str):
        method = getattr(self._observer, name)
        if not name.startswith("on_"):
            return method

        def timed(*args):
            start = time.perf_counter()
            try:
                return method(*args)
            finally:
                if name != "on_end":
                    self.seconds += time.perf_counter() - start

        return timed


@dataclass
class Overhead:
    """Display and logging cost of a short Trainer.fit (see observer_overhead)."""

    bare_s_per_it: float
    observed_s_per_it: float
    wall_pct: float  # A/B: fit with observers against fit without, median of rounds
    cpu_pct: float  # the same with this process's CPU time
    callbacks_pct: float  # direct: time inside the observers' callbacks / loop time
    writer_pct: float  # direct: CPU of ArtifactWriter's PNG thread / loop time
    refresh_pct: float  # direct: CPU of the other helper threads (rich's Live refresh) / loop time
    end_s: float  # once per run, after the loop: progress.gif and curves.png


def observer_overhead(name: str, batch: int, iters: int, rounds: int) -> Overhead:
    """Trainer.fit on a short run with and without LiveDisplay (rich Live on a forced
    terminal), MetricsLog and ArtifactWriter, as `gan train` attaches them; interleaved.

    Both runs do the same training (same config and seed); the trainer has no run folder in
    either, so no checkpoint is written: only display and logging differ. The A/B difference
    of two noisy timings cannot resolve a few %, so the cost is also measured directly: the
    time spent inside the observers' callbacks, plus the CPU of the threads they start."""
    from rich.console import Console

    from gancli.cli.live import LiveDisplay
    from gancli.reporting.artifacts import ArtifactWriter
    from gancli.reporting.jsonl import MetricsLog
    from gancli.training.trainer import Trainer

    cfg = bl.preset_config(name, batch, iters=iters)
    images = bl.synthetic_images(cfg, batch * 4)
    cpu = torch.device("cpu")
    end_costs: list[float] = []
    direct: list[tuple[float, float, float]] = []
    cpu_loop: dict[bool, list[float]] = {False: [], True: []}

    def run(with_observers: bool) -> float:
        trainer = Trainer(cfg, images, cpu, run_dir=None)
        watch = Stopwatch()
        with tempfile.TemporaryDirectory(prefix="gan-bench-") as tmp:
            trainer.observers = [watch]
            if with_observers:
                metrics = MetricsLog(Path(tmp) / "metrics.jsonl")
                console = Console(file=io.StringIO(), force_terminal=True, width=120)
                live = LiveDisplay(console, trainer.total, trainer.batches.steps_per_epoch, 0, cfg.preset)
                proxies = [Timed(live), Timed(metrics), Timed(ArtifactWriter(Path(tmp), metrics))]
                trainer.observers += proxies
            trainer.fit()
            loop = watch.loop_end - watch.start
            if with_observers:
                end_costs.append(time.perf_counter() - watch.loop_end)
                in_loop = sum(p.seconds for p in proxies)
                direct.append((in_loop / loop, watch.writer_cpu / loop, watch.other_cpu / loop))
            cpu_loop[with_observers].append(watch.cpu_end - watch.cpu_start)
            return loop

    run(False)  # warm-up (oneDNN primitives, rich and PIL imports)
    run(True)
    print(
        f"  display + logging overhead: {name}, batch {batch}, {iters} iterations per fit (log every {cfg.train.log_every}):",
        flush=True,
    )
    times = bl.interleave({"bare": lambda: run(False), "observers": lambda: run(True)}, rounds)
    return Overhead(
        statistics.median(times["bare"]) / iters,
        statistics.median(times["observers"]) / iters,
        100 * (bl.median_ratio(times["observers"], times["bare"]) - 1),
        100 * (bl.median_ratio(cpu_loop[True][-rounds:], cpu_loop[False][-rounds:]) - 1),
        100 * statistics.median(d[0] for d in direct[-rounds:]),
        100 * statistics.median(d[1] for d in direct[-rounds:]),
        100 * statistics.median(d[2] for d in direct[-rounds:]),
        statistics.median(end_costs),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", default=",".join(PRESETS), help="comma-separated preset names")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=32,
        help="batch of every preset but faces256 (128: the presets' own)",
    )
    parser.add_argument("--faces-batch", type=int, default=4, help="faces256's batch (256 px)")
    parser.add_argument("--steps", type=int, default=2, help="steps per round and side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--overhead-preset",
        default="quick",
        help="preset of the display/logging overhead run (quick: shortest steps, the worst case)",
    )
    parser.add_argument("--overhead-iters", type=int, default=30)
    parser.add_argument("--overhead-rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    print(f"machine: {bl.machine_line()}")
    print(
        f"interleaved: {args.rounds} rounds x {args.steps} steps per side; ratio = median over rounds of reference time / our time (> 1: ours faster)\n"
    )
    rows = []
    for name in [p.strip() for p in args.presets.split(",") if p.strip()]:
        batch = args.faces_batch if name in SMALL_BATCH else args.batch_size
        rows.append(compare_preset(name, batch, args.steps, args.rounds))
    rows_overhead = None
    if args.overhead_iters > 0:
        rows_overhead = observer_overhead(
            args.overhead_preset, args.batch_size, args.overhead_iters, args.overhead_rounds
        )
    print()
    print(
        bl.table(
            rows,
            [
                "preset",
                "batch",
                "step",
                "ours img/s",
                "reference img/s",
                "ours/ref (wall)",
                "(CPU time)",
                "GFLOP/img",
                "same FLOPs",
                "ours GFLOP/s",
            ],
        )
    )
    print(
        "img/s: medians; ours/ref: median over rounds of reference time / our time (> 1: ours faster); CPU time: this"
    )
    print("process's, steadier than wall clock when other processes share the cores")
    if rows_overhead is not None:
        o = rows_overhead
        print(
            f"\ndisplay + logging, {args.overhead_preset} at batch {args.batch_size} (LiveDisplay + MetricsLog + ArtifactWriter):"
        )
        total = o.callbacks_pct + o.writer_pct + o.refresh_pct
        print(
            f"  direct: {o.callbacks_pct:.2f}% of the loop's time inside their callbacks on the training thread, + CPU of their threads: "
            f"PNG writer {o.writer_pct:.2f}%, rich Live refresh {o.refresh_pct:.2f}% = {total:.2f}% (goal < 3%)"
        )
        print(
            f"  A/B: {1000 * o.bare_s_per_it:.1f} ms/iteration bare, {1000 * o.observed_s_per_it:.1f} ms observed: {o.wall_pct:+.1f}% wall, "
            f"{o.cpu_pct:+.1f}% CPU time (medians of interleaved rounds; noise here is several %)"
        )
        print(f"  once per run, after the loop: {1000 * o.end_s:.0f} ms (progress.gif, curves.png)")
    print(f"\npeak RSS of this process: {bl.peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
