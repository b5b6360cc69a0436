"""Checkpoints: written atomically (reading them, as untrusted files, is `gancli.checkpoint_read`).

A run keeps `checkpoints/last.pt` and the one before it, `checkpoints/previous.pt`, so a
checkpoint damaged on disk always leaves a good one to fall back to.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import torch

from gancli.checkpoint_check import FORMAT, LAST, PREVIOUS, VERSION
from gancli.checkpoint_read import load_checkpoint, sniff_file  # reading lives beside the run folder
from gancli.fsutil import make_temp, temp_name, write_error, zip_damage
from gancli.runs import BEST, RunFolder, find_checkpoint  # the run folder's names and paths

__all__ = [
    "BEST",
    "FORMAT",
    "LAST",
    "PREVIOUS",
    "VERSION",
    "load_checkpoint",
    "save_checkpoint",
    "find_checkpoint",
    "sniff_file",
]


def save_checkpoint(run_dir: Path, payload: dict[str, Any]) -> Path:
    """Write last.pt atomically, keeping the former last.pt as previous.pt when it verifies (a
    damaged last.pt is replaced, never rotated over a good previous.pt)."""
    run = RunFolder(run_dir)
    last = run.last
    kept = f"The last checkpoint {last} is intact." if last.is_file() else "No checkpoint was replaced."

    def rotate() -> None:
        if last.exists() and _verifies(last):
            _keep_as_previous(last, run.previous)

    _write_atomically(last, payload, kept, before_replace=rotate)
    _WRITTEN_HERE[str(last)] = _identity(last)
    return last


def save_best(run_dir: Path, payload: dict[str, Any]) -> Path:
    """Write best.pt atomically (a host copy of `payload`, fsynced, renamed over the former best)."""
    best = RunFolder(run_dir).best
    kept = (
        f"The former best checkpoint {best} is intact." if best.is_file() else "No checkpoint was replaced."
    )
    _write_atomically(best, snapshot(payload), kept)
    return best


def _write_atomically(
    path: Path, payload: dict[str, Any], kept: str, before_replace: Callable[[], None] | None = None
) -> None:
    """torch.save to a temporary name beside `path`, fsync, then rename over it; on any failure
    the temporary file goes and `path` is as it was (`kept` says so in the error)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = make_temp(path)
    except OSError as exc:
        raise (write_error(path, exc, kept) or exc) from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save({"format": FORMAT, "version": VERSION, **payload}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        error = write_error(path, exc, kept) if isinstance(exc, Exception) else None
        if error is not None:
            raise error from exc
        raise


def snapshot(payload: Any) -> Any:
    """A copy of `payload` whose tensors are on the host and no longer shared with the nets and
    optimisers, so that training can go on while it is written."""
    if isinstance(payload, torch.Tensor):
        return payload.detach().to("cpu", copy=True)
    if isinstance(payload, dict):
        return {k: snapshot(v) for k, v in payload.items()}
    if isinstance(payload, (list, tuple)):
        return type(payload)(snapshot(v) for v in payload)
    return payload


class CheckpointWriter:
    """Writes checkpoints on one background thread, one at a time and in order.

    The training thread pays only for the snapshot (a host copy of the state); the
    serialisation, fsync and renames overlap the next steps, which on a GPU would otherwise
    idle the device for the whole write. At most one write is in flight: a new one first waits
    for the previous one, so checkpoints land in order and memory holds one snapshot at most."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pending: tuple[int, Future] | None = None

    def submit(self, run_dir: Path, iteration: int, payload: dict[str, Any]) -> tuple[int, Path] | None:
        """Start writing `payload`; returns the previous write once finished (or raises its error)."""
        done = self.finish()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gan-checkpoint")
        self._pending = (iteration, self._pool.submit(save_checkpoint, run_dir, snapshot(payload)))
        return done

    def poll(self) -> tuple[int, Path] | None:
        """(iteration, path) of a write that has finished since the last call, else None; a
        failed write raises its error here."""
        if self._pending is not None and self._pending[1].done():
            return self.finish()
        return None

    def finish(self) -> tuple[int, Path] | None:
        """Wait for the write in flight; (iteration, path) or None if there was none."""
        if self._pending is None:
            return None
        iteration, future = self._pending
        self._pending = None
        return iteration, future.result()

    def close(self) -> None:
        """Let a write in flight complete without raising its error (for a run already ending on
        another error: a half-done write must not be cut off), then stop the thread."""
        if self._pending is not None:
            wait([self._pending[1]])
            self._pending = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _keep_as_previous(last: Path, previous: Path) -> None:
    """Make previous.pt the current last.pt. A hard link renamed over previous.pt keeps last.pt
    in place all along (a reader never finds neither); without hard links, a rename."""
    link = temp_name(previous, str(os.getpid()))
    try:
        if link.exists():
            link.unlink()
        os.link(last, link)
    except OSError:
        os.replace(last, previous)
        return
    os.replace(link, previous)


# last.pt files this process wrote (path -> inode, mtime): trusted without reading them again
_WRITTEN_HERE: dict[str, tuple[int, int]] = {}


def _identity(path: Path) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_ino, info.st_mtime_ns


def _verifies(path: Path) -> bool:
    """Whether a checkpoint file is whole: written by this process, or a zip whose every member
    passes its CRC-32 (read once per session, e.g. a last.pt damaged since an earlier one)."""
    try:
        if _WRITTEN_HERE.get(str(path)) == _identity(path):
            return True
        return zipfile.is_zipfile(path) and zip_damage(path) is None
    except OSError:
        return False
