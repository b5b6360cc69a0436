"""Atomic file writes: a half-written file must never replace a good one.

A write that fails because the disk is full, a file-size limit (``ulimit -f``) is reached or
the place is not writable becomes a UserError naming the file, raised here, where files
are written, rather than in every caller.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from gancli.errors import UserError

# errno values that mean "no room": the disk (ENOSPC), the quota (EDQUOT) or RLIMIT_FSIZE (EFBIG)
DISK_FULL = frozenset({errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)})
# errno values that mean "not allowed or not possible here"
NOT_WRITABLE = frozenset(
    {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.ENOENT, errno.EISDIR, errno.EEXIST}
)
# temporary files of atomic writes are named `.NAME.gantmp-XXXX.tmp`: a pattern no other tool
# uses, so that stale ones can be removed without touching anybody else's `.*.tmp` files
TEMP_TAG = ".gantmp-"
_TEMP_NAME = re.compile(r"\..+\.gantmp-[A-Za-z0-9_]+\.tmp")


def find_os_error(exc: BaseException | None) -> OSError | None:
    """The OSError behind ``exc``: itself, or one in its cause/context chain (torch.save wraps
    a failed write into a RuntimeError whose context is the OSError)."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, OSError):
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def write_error(
    path: str | os.PathLike, exc: BaseException, kept: str = "", place: bool = True
) -> UserError | None:
    """A one-paragraph UserError for a failed write of ``path``, or None when ``exc`` is not an
    I/O failure that the user can fix (it is then re-raised as it is). ``kept`` says what is
    still intact, e.g. "The previous checkpoint is intact.". ``place``: also turn errors of
    the place itself (a missing folder, a file where a folder should be) into a message."""
    os_exc = find_os_error(exc)
    if os_exc is None or os_exc.errno is None:
        return None
    if not place and os_exc.errno in NOT_WRITABLE - {errno.EACCES, errno.EPERM, errno.EROFS}:
        return None
    why = os_exc.strerror or str(os_exc)
    kept = f" {kept.strip()}" if kept.strip() else ""
    if os_exc.errno in DISK_FULL:
        return UserError(
            f"Cannot write {path}: disk full or file-size limit reached ({why}).{kept} Free some space (or raise the limit: `ulimit -f`), or write somewhere else, and run the command again."
        )
    if os_exc.errno in NOT_WRITABLE:
        where = f" ({os_exc.filename})" if os_exc.filename and str(os_exc.filename) != str(path) else ""
        return UserError(
            f"Cannot write {path}: {why}{where}.{kept} Check that the folder exists, is a folder and is writable, or choose another path."
        )
    return None


def _umask_mode() -> int:
    """0o666 less the process umask: what open() would have given a new file (mkstemp gives 0o600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path``.

    On any error the temporary file is removed and ``path`` keeps its old content; a full
    disk or an unwritable place is a UserError naming ``path``.
    """
    path = Path(path)
    kept = f"{path.name} was not changed." if path.exists() else ""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = make_temp(path)
    except OSError as exc:
        raise (write_error(path, exc) or exc) from exc
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fchmod(handle.fileno(), _umask_mode())
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, Exception):
            error = write_error(path, exc, kept, place=False)  # the body may read other files
            if error is not None:
                raise error from exc
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def file_digests(path: str | os.PathLike, algorithms: Sequence[str] = ("sha256",)) -> dict[str, str]:
    """Hex digests of the file at ``path`` for each hashlib algorithm, in one pass over it."""
    hashers = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            for hasher in hashers.values():
                hasher.update(block)
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}


def make_temp(path: str | os.PathLike) -> tuple[int, str]:
    """A new temporary file beside ``path`` (fd, name), named in the pattern only gan makes."""
    path = Path(path)
    return tempfile.mkstemp(prefix=f".{path.name}{TEMP_TAG}", suffix=".tmp", dir=path.parent)


def temp_name(path: str | os.PathLike, unique: str) -> Path:
    """A fixed temporary name beside ``path`` in gan's own pattern (for a link or rename step)."""
    path = Path(path)
    return path.with_name(f".{path.name}{TEMP_TAG}{unique}.tmp")


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files (gan's own name pattern only) that an atomic write killed
    mid-way (kill -9, power loss) left in ``folder``. Only call it on a folder gan owns, while
    holding its lock: a live writer's temporary file looks the same."""
    removed = []
    for tmp in Path(folder).glob(f".*{TEMP_TAG}*.tmp"):
        if _TEMP_NAME.fullmatch(tmp.name) and tmp.is_file() and not tmp.is_symlink():
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed.append(tmp)
    return removed


def open_nofollow(path: str | os.PathLike, flags: int, mode: int = 0o666) -> IO[bytes]:
    """Open ``path`` (binary, unbuffered) without following a symbolic link at its last
    component: a link is a UserError naming it, so nothing is written into a link's target."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP or (exc.errno == errno.EEXIST and os.path.islink(path)):
            raise UserError(
                f"{path} is a symbolic link (to {os.readlink(path)}); gan does not write through links in a run folder. Remove the link, or choose another folder."
            ) from exc
        raise
    return os.fdopen(fd, "r+b" if flags & os.O_RDWR else ("ab" if flags & os.O_APPEND else "wb"), buffering=0)


def zip_damage(path: str | os.PathLike) -> str | None:
    """Why a zip file (torch.save's format) is damaged, or None when every member's CRC-32
    matches. torch.load does not check the CRCs, so flipped bytes in a tensor would load as
    silently wrong numbers; this reads the file once more (fast: zlib's CRC-32)."""
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        return f"not a complete zip archive ({exc})"
    except RuntimeError as exc:  # e.g. an encrypted or otherwise unreadable member
        return str(exc)
    return f"member {bad} fails its CRC-32 check" if bad is not None else None


# ------------------------------------------------------------ files the user names


def user_path(path: str | os.PathLike, option: str) -> Path:
    """A path the user typed, with ``~`` and ``~user`` expanded as a shell would; an empty one
    or an unknown user is a UserError naming ``option``."""
    text = os.fspath(path)
    if not text:
        raise UserError(f"{option} is empty. Give a path.")
    if text.startswith("~"):
        expanded = os.path.expanduser(text)
        if expanded == text:
            user = text[1:].split("/", 1)[0]
            raise UserError(
                f"{option} {text}: there is no user '{user}' on this system, so ~{user} cannot be expanded. Give the path in full."
            )
        text = expanded
    return Path(text)


def _link_loop(path: Path) -> Path | None:
    """The first component of ``path`` that is a symbolic link leading back to itself, if any."""
    current = Path(path.anchor) if path.is_absolute() else Path()
    for part in path.parts[1 if path.is_absolute() else 0 :]:
        current = current / part
        try:
            os.stat(current)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return current
            return None
    return None


def check_output_files(paths: Sequence[Path], force: bool, option: str) -> None:
    """Refuse to write files the user named when any of them exists (a file of the user's is
    replaced only with --force), is a folder, or lies behind a symbolic-link loop: the one
    check and message of every command that writes a user-named file."""
    for path in paths:
        loop = _link_loop(Path(path))
        if loop is not None:
            raise UserError(
                f"{option} {path} goes through {loop}, a symbolic link that leads back to itself (directly or through other links). Fix or remove the link, or choose another {option}."
            )
        if os.path.isdir(path) and not os.path.islink(path):
            raise UserError(
                f"{option} {path} is a folder; give the name of a file to write, e.g. {Path(path) / 'NAME'}."
            )
    existing = [p for p in paths if os.path.lexists(p)]
    if existing and not force:
        shown = ", ".join(str(p) for p in existing[:3]) + (
            f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        )
        verb = "exists" if len(existing) == 1 else "exist"
        raise UserError(
            f"{option} {shown} already {verb}; gan replaces a file of yours only when asked. Choose another {option}, or pass --force to replace it."
        )


def check_output_file(path: str | os.PathLike, force: bool, option: str) -> Path:
    """``path`` (a file the user named, ``~`` expanded) once check_output_files accepts it."""
    resolved = user_path(path, option)
    check_output_files([resolved], force, option)
    return resolved


def check_no_links_below(root: str | os.PathLike, path: str | os.PathLike) -> None:
    """Refuse ``path`` when any component of it below ``root`` (a run folder) is a symbolic
    link: a write there would land in the link's target, outside the run."""
    root, path = Path(os.path.abspath(root)), Path(os.path.abspath(path))
    if root not in path.parents:
        return
    current = root
    for part in path.relative_to(root).parts:
        current = current / part
        if current.is_symlink():
            raise UserError(
                f"{current} is a symbolic link (to {os.readlink(current)}); gan never writes through links inside a run folder. Remove the link, or choose another --out."
            )
