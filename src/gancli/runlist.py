"""`gan runs`: what each run folder under runs/ holds, read from its small files only.

No checkpoint is loaded (that would import torch and read hundreds of MiB per run): the
state comes from the lock (a live `gan train` holds it), state.json (how the last session
ended, written by reporting/state.py's RunState), metrics.jsonl and config.yaml.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gancli.config import load_yaml_file
from gancli.errors import UserError
from gancli.reporting.jsonl import read_metrics
from gancli.runs import CHECKPOINTS, CONFIG, LOCK, METRICS, STATE, TENSORBOARD  # noqa: F401 - re-exported


@dataclass
class RunSummary:
    """One row of `gan runs`."""

    name: str
    path: str
    preset: str
    recipe: str
    iteration: int
    total: int | None  # None: an epoch-based run whose epoch length the files do not say
    epoch: int | None
    epochs: int | None
    state: str  # running | finished | stopped | diverged | new
    pid: int | None
    loss_d: float | None
    loss_g: float | None
    best_fid: float | None
    size_bytes: int
    updated: float  # Unix time of the last write


def lock_holder(run_dir: Path) -> int | None:
    """The pid of the `gan train` holding the run's lock, or None when nobody holds it."""
    lock = Path(run_dir) / LOCK
    try:
        text = lock.read_text(encoding="utf-8", errors="replace").strip()
        inode = lock.stat().st_ino
    except OSError:
        return None
    pid = int(text) if text.isdigit() else None
    try:  # Linux lists every flock: a held lock is certain, and probing it ourselves would race a starting run
        with open("/proc/locks", encoding="ascii", errors="replace") as handle:
            held = any(line.split()[5].endswith(f":{inode}") for line in handle if len(line.split()) > 5)
        return pid if held else None
    except OSError:
        pass
    if pid is None:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return pid


def disk_usage(folder: Path) -> int:
    """Bytes the folder takes on disk (allocated blocks; hard links counted once)."""
    seen, total = set(), 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                info = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if (info.st_dev, info.st_ino) in seen:
                continue
            seen.add((info.st_dev, info.st_ino))
            total += getattr(info, "st_blocks", 0) * 512 or info.st_size
    return total


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _config(run_dir: Path) -> dict:
    try:
        return load_yaml_file(run_dir / CONFIG) if (run_dir / CONFIG).is_file() else {}
    except UserError:
        return {}  # a damaged config.yaml still lists the run, with what else is known


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _state(run_dir: Path, iteration: int, total: int | None, pid: int | None) -> str:
    if pid is not None:
        return "running"
    saved = _read_json(run_dir / STATE).get("state")
    if saved in ("finished", "stopped", "diverged") and (
        saved != "finished" or total is None or iteration >= total
    ):
        return saved
    if total is not None and iteration >= total:
        return "finished"
    return "stopped" if iteration else "new"


def summarise(run_dir: Path) -> RunSummary:
    """The summary of one run folder."""
    cfg = _config(run_dir)
    train = cfg.get("train") if isinstance(cfg.get("train"), dict) else {}
    records = read_metrics(run_dir / METRICS)
    last = records[-1] if records else {}
    iteration = int(last.get("iteration", 0))
    iters, epochs = _number(train.get("iters")), _number(train.get("epochs"))
    total = int(iters) if iters else None
    fids = [f for f in (_number(r.get("fid")) for r in records) if f is not None]
    pid = lock_holder(run_dir)
    stamps = [p.stat().st_mtime for p in (run_dir / METRICS, run_dir / STATE, run_dir / CONFIG) if p.exists()]
    return RunSummary(
        name=run_dir.name,
        path=str(run_dir),
        preset=str(cfg.get("preset", "?")),
        recipe=str(cfg.get("recipe", "faithful")),
        iteration=iteration,
        total=total,
        epoch=int(last["epoch"]) if isinstance(last.get("epoch"), int) else None,
        epochs=None if total or not epochs else int(epochs),
        state=_state(run_dir, iteration, total, pid),
        pid=pid,
        loss_d=_number(last.get("loss_d")),
        loss_g=_number(last.get("loss_g")),
        best_fid=min(fids) if fids else None,
        size_bytes=disk_usage(run_dir),
        updated=max(stamps, default=run_dir.stat().st_mtime),
    )


def is_run_folder(path: Path) -> bool:
    """A folder `gan train` wrote: a config.yaml beside a checkpoints/ folder or a metrics log."""
    return (path / CONFIG).is_file() and ((path / CHECKPOINTS).is_dir() or (path / METRICS).is_file())


def list_runs(runs_dir: Path = Path("runs")) -> list[RunSummary]:
    """The runs directly under `runs_dir`, most recently updated first."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise UserError(
            f"{runs_dir} is not a folder. Give the folder holding your run folders (default: runs/)."
        )
    runs = [summarise(p) for p in sorted(runs_dir.iterdir()) if p.is_dir() and is_run_folder(p)]
    return sorted(runs, key=lambda r: r.updated, reverse=True)


def as_dicts(runs: list[RunSummary]) -> list[dict[str, Any]]:
    """The summaries as plain JSON-ready dicts."""
    return [asdict(r) for r in runs]
