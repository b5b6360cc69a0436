"""One `gan train` per run folder: an advisory lock that the kernel drops when its owner dies."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from gancli.errors import UserError
from gancli.fsutil import open_nofollow, write_error
from gancli.runs import RunFolder


class RunLock:
    """An exclusive flock on the run's lock file, holding the owner's pid for the message.

    The file is opened without following a link (a `.lock` link would have its target
    truncated), and one that holds anything but a pid is somebody else's and left alone."""

    def __init__(self, run_dir: Path) -> None:
        self.path = RunFolder(run_dir).lock
        self.handle = None
        self._stack: contextlib.ExitStack | None = None

    def acquire(self) -> None:
        """Take the lock, or raise a UserError naming the pid that holds it."""
        stack = contextlib.ExitStack()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = stack.enter_context(open_nofollow(self.path, os.O_RDWR | os.O_CREAT))
        except OSError as exc:
            raise (write_error(self.path.parent, exc) or exc) from exc
        with stack:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                owner = handle.read(64).decode("ascii", "replace").strip() or "unknown"
                raise UserError(
                    f"Another `gan train` (pid {owner}) is using the run folder {self.path.parent}. Wait for it to finish or stop it, or choose another folder with --out."
                ) from exc
            held = handle.read(64).strip()
            if held and not held.isdigit():
                raise UserError(
                    f"{self.path} exists and is not a lock file of gan (it holds other data), so gan does not touch it. Choose another run folder with --out."
                )
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()).encode())
            handle.flush()
            self.handle, self._stack = handle, stack.pop_all()

    def release(self) -> None:
        """Drop the lock (the kernel also drops it when the process dies)."""
        if self.handle is not None and self._stack is not None:
            fcntl.flock(self.handle.fileno(), fcntl.LOCK_UN)
            self._stack.close()
            self.handle, self._stack = None, None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
