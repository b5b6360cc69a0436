"""metrics.jsonl truncation and reading, and the live display's plain (no terminal) output."""

from __future__ import annotations

import io
import json

from rich.console import Console

from gancli.cli.live import LiveDisplay
from gancli.reporting.jsonl import MetricsLog, read_metrics, truncate_after


def _record(i: int) -> dict:
    return {
        "iteration": i,
        "epoch": 0,
        "loss_d": 0.5,
        "loss_g": 1.5,
        "score_d": 0.6,
        "score_g": 0.4,
        "images_per_s": 99.0,
    }


def test_truncate_after_keeps_records_up_to_the_iteration(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(_record(i)) + "\n" for i in (2, 4, 6, 8)) + "garbage\n")
    truncate_after(path, 5)
    assert [r["iteration"] for r in read_metrics(path)] == [2, 4]
    assert path.read_text().count("\n") == 2  # the damaged line is gone too
    truncate_after(tmp_path / "absent.jsonl", 3)  # nothing to cut: no file is made
    assert not (tmp_path / "absent.jsonl").exists()


def test_metrics_log_appends_after_what_it_read(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps(_record(2)) + "\n")
    log = MetricsLog(path)
    log.on_metrics(_record(4))
    log.on_end(None)
    assert [r["iteration"] for r in log.records] == [2, 4]
    assert [r["iteration"] for r in read_metrics(path)] == [2, 4]


def test_live_display_without_a_terminal_prints_plain_lines():
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    display = LiveDisplay(console, total=10, steps_per_epoch=5)
    display.on_start(None)
    display.on_metrics(_record(2))
    display.on_metrics(_record(4))  # within 5 s of the last line: not printed
    display.on_samples(4, None)
    display.on_metrics({**_record(10), "fid": 12.345})  # the last iteration: always printed
    display.on_end(None)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("iter 2/10 epoch 0 loss_d 0.5000 loss_g 1.5000")
    assert lines[1].startswith("iter 10/10") and lines[1].endswith("FID 12.35")
    assert "iter 4" in display.samples and display.fid == 12.345
