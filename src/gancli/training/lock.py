"""One `gan train` per run folder: an advisory lock that the kernel drops when its owner dies."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from gancli.errors import UserError
from gancli.fsutil import write_error


class RunLock:
    """An exclusive flock on RUN_DIR/.lock, holding the owner's pid for the message."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / ".lock"
        self.handle = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a+")  # noqa: SIM115 - held open while the lock is held
        except OSError as exc:
            raise (write_error(self.path.parent, exc) or exc) from exc
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            raise UserError(
                f"Another `gan train` (pid {owner}) is using the run folder {self.path.parent}. Wait for it to finish or stop it, or choose another folder with --out."
            ) from exc
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self.handle = handle

    def release(self) -> None:
        if self.handle is not None:
            fcntl.flock(self.handle.fileno(), fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
