"""Thread settings of our CPU step: OpenMP's spin-waiting against passive waiting and 1 thread.

PyTorch's CPU build here uses GNU OpenMP, whose idle threads spin before they sleep. When
other processes share the cores, a thread that finishes its half of an operator spins while
its partner waits to be scheduled: the step burns CPU and loses time at every barrier.
OMP_WAIT_POLICY must be set before the OpenMP runtime loads (before `import torch`), so each
setting runs in its own child process; the settings alternate round by round.

    python benchmarks/threads.py                         # flowers64, batch 32, 3 rounds, ~2-3 min
    python benchmarks/threads.py --reference             # the plain reference step instead of ours
    python benchmarks/threads.py --preset quick --batch-size 64 --steps 10
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SETTINGS: dict[str, tuple[dict[str, str], int]] = {
    "2 threads, OpenMP default (spin)": ({}, 2),
    "2 threads, OMP_WAIT_POLICY=PASSIVE": ({"OMP_WAIT_POLICY": "PASSIVE"}, 2),
    "1 thread": ({}, 1),
}


def child(preset: str, batch: int, steps: int, threads: int, reference: bool) -> None:
    """Time `steps` steps after one warm-up step; print wall and CPU seconds as JSON."""
    import torch

    torch.set_num_threads(threads)
    import benchlib as bl

    cpu = torch.device("cpu")
    cfg = bl.preset_config(preset, batch)
    step = (
        bl.RefStep(cfg, cpu, batch)
        if reference
        else bl.OurStep(cfg, bl.synthetic_images(cfg, batch * 2), cpu)
    )
    step()
    wall, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    print(json.dumps({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu_start}))


def run_child(args: argparse.Namespace, env_extra: dict[str, str], threads: int) -> dict[str, float]:
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        "--preset",
        args.preset,
        "--batch-size",
        str(args.batch_size),
        "--steps",
        str(args.steps),
        "--threads",
        str(threads),
    ]
    if args.reference:
        command.append("--reference")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | env_extra
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"child failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="flowers64")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--reference", action="store_true", help="time the plain reference step instead of ours"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.preset, args.batch_size, args.steps, args.threads, args.reference)
        return

    import benchlib as bl

    print(f"machine: {bl.machine_line()}")
    which = "the reference step" if args.reference else "our step"
    print(
        f"{which}, {args.preset}, batch {args.batch_size}, {args.steps} steps per child process, {args.rounds} rounds\n"
    )
    results: dict[str, list[dict[str, float]]] = {name: [] for name in SETTINGS}
    names = list(SETTINGS)
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            env_extra, threads = SETTINGS[name]
            results[name].append(run_child(args, env_extra, threads))
        print(
            f"    round {r + 1}/{args.rounds}: "
            + "  ".join(f"{n}: {results[n][-1]['wall']:.1f}s" for n in names),
            flush=True,
        )
    images = args.batch_size * args.steps
    base = names[0]
    rows = []
    for name in names:
        walls = [x["wall"] for x in results[name]]
        cpus = [x["cpu"] for x in results[name]]
        speed = bl.median_ratio([x["wall"] for x in results[base]], walls)
        rows.append(
            [
                name,
                f"{images / statistics.median(walls):.1f}",
                f"{speed:.2f}x",
                f"{1000 * statistics.median(cpus) / images:.0f}",
            ]
        )
    print()
    print(bl.table(rows, ["setting", "images/s (median)", "speed vs default", "CPU ms per image"]))
    print(
        "\nspeed: median over rounds of (default's time / this setting's time). CPU ms per image: the process's"
    )
    print(
        "CPU time, all threads; what a setting uses beyond the 1-thread figure is spent waiting (spinning), not computing."
    )


if __name__ == "__main__":
    main()
