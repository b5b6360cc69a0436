"""The metrics log: one JSON object per logged iteration, appended and flushed as it comes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from gancli.fsutil import atomic_write_text, open_nofollow, write_error
from gancli.reporting.observer import Observer


def _valid_iteration(value: Any) -> bool:
    return type(value) is int and 0 <= value < 1 << 53  # not a bool, not absurd


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The records of a metrics file; a damaged line (a crash mid-write) is skipped."""
    records = []
    if not path.exists():
        return records
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):  # a damaged line: bad JSON, absurd nesting or digits
                continue
            if isinstance(record, dict) and _valid_iteration(record.get("iteration")):
                records.append(record)
    return records


def truncate_after(path: Path, iteration: int) -> None:
    """Drop records after `iteration` (a resumed run re-logs them), atomically."""
    if not path.exists():
        return
    kept = [r for r in read_metrics(path) if r["iteration"] <= iteration]
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in kept))


class MetricsLog(Observer):
    """Observer appending each metrics record to a run's metrics log."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: list[dict[str, Any]] = read_metrics(path)
        self.handle = None

    def on_metrics(self, record: dict[str, Any]) -> None:
        try:
            if self.handle is None:
                # kept open for the run (closed in on_end); never through a link
                self.handle = open_nofollow(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            self.handle.write((json.dumps(record) + "\n").encode("utf-8"))
            self.handle.flush()
        except OSError as exc:
            raise (
                write_error(self.path, exc, "The lines already written and the checkpoints are intact.")
                or exc
            ) from exc
        self.records.append(record)

    def on_checkpoint(self, iteration: int, path: Path) -> None:
        # make the log at least as durable as the checkpoint that resumes from it
        if self.handle is not None:
            try:
                os.fsync(self.handle.fileno())
            except OSError as exc:
                raise (write_error(self.path, exc) or exc) from exc

    def on_end(self, outcome) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None
