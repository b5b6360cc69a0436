"""An advisory lock beside a file or folder being written, so that two `gan download`s never
append to one .part or install one dataset at once."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from gancli.errors import UserError


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


def _lock_handle(lock_path: Path, target: Path) -> BinaryIO:
    """The lock file, open and exclusively locked. A holder removes the file when it leaves
    nothing behind, so a lock taken on a file that is no longer at lock_path is taken again."""
    import fcntl

    for _ in range(5):
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock_path, "a+b")  # noqa: SIM115 - closed by exclusive
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            break
        if os.fstat(handle.fileno()).st_ino == _inode(lock_path):
            return handle
        handle.close()  # removed by the holder that just left: take the lock again on a new file
    raise UserError(
        f"Another `gan download` is already working on {target}. Wait for it to finish, "
        f"or stop it and run the command again."
    )


@contextlib.contextmanager
def exclusive(target: Path, made_folder: bool = False) -> Iterator[None]:
    """Hold an advisory lock beside ``target`` so two processes never append to one .part. When
    nothing is left beside it (a failed first download), the lock file goes, and the folder too
    when this download made it: a failure leaves no empty downloads/NAME/ behind."""
    try:
        import fcntl
    except ImportError:  # not POSIX: run without the lock
        yield
        return
    lock_path = target.with_name(f".{target.name}.lock")
    handle = _lock_handle(lock_path, target)
    try:
        yield
    finally:
        if [p.name for p in lock_path.parent.iterdir()] == [lock_path.name]:
            lock_path.unlink(missing_ok=True)  # while still holding it: see _lock_handle
            if made_folder:  # only a folder this download made, never one that was there
                with contextlib.suppress(OSError):  # a file appeared meanwhile: the folder stays
                    lock_path.parent.rmdir()
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
