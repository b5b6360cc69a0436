"""RUN/state.json: 'running' while a session trains, then how it ended (read by `gan runs`)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from gancli.fsutil import atomic_write_text
from gancli.reporting.observer import Observer
from gancli.runs import STATE


class RunState(Observer):
    """Observer writing RUN/state.json: 'running' at the start, then how the session ended."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / STATE

    def _write(self, **state: Any) -> None:
        atomic_write_text(self.path, json.dumps({**state, "time": time.time()}) + "\n")

    def on_start(self, trainer) -> None:
        self._write(state="running", iteration=trainer.counters.iteration, total=trainer.total)

    def on_end(self, outcome) -> None:
        self._write(state=outcome.status, iteration=outcome.iteration, message=outcome.message)
