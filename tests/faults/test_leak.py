"""Resident memory of a long training run stays flat after warm-up (no leak).

Runs benchmarks/leak_check.py (the printed figure over thousands of steps is the benchmark's
job) for a few hundred steps in a fresh process, with the observers `gan train` attaches
(metrics log, sample grids, progress.gif, curves.png, checkpoints), reading /proc/self/statm.
A leak of one batch's activations per step would add about 10 MiB over the measured steps;
the bound is generous because allocator pools move by a few MiB."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

LEAK_CHECK = Path(__file__).resolve().parents[2] / "benchmarks" / "leak_check.py"
MAX_GROWTH_MB = 8.0


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads /proc (Linux)")
def test_rss_does_not_grow_after_warm_up(zygote):
    args = (
        "--steps",
        "300",
        "--warmup",
        "100",
        "--log-every",
        "5",
        "--sample-every",
        "25",
        "--checkpoint-every",
        "50",
        "--max-growth-mb",
        str(MAX_GROWTH_MB),
        "--json",
    )
    res = zygote.run(*args, script=str(LEAK_CHECK))
    report = json.loads(res.text.strip().splitlines()[-1])
    summary = report["summary"]
    print(
        f"RSS after warm-up {summary['rss_after_warmup_mb']:.1f} MiB, growth over the next 200 steps "
        f"{summary['growth_after_warmup_mb']:+.2f} MiB",
        file=sys.stderr,
    )
    assert len(report["samples"]) == 60
    assert summary["growth_after_warmup_mb"] < MAX_GROWTH_MB, summary
    assert res.code == 0, res.text
