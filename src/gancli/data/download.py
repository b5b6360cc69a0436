"""Fetching datasets: resumable, verified HTTP(S) downloads and installing them in the data root.

Two layers:
- ``download_file``: one file from one or more addresses to ``dest`` through ``dest.part``,
  resuming with HTTP Range, retrying connection errors and 5xx with exponential back-off,
  stopping at the expected size (or ``max_bytes`` when no size is known), refusing a web
  page served in place of the file, and verifying size and checksum before the file gets
  its final name.
- ``install_dataset`` / ``install_url``: a registry entry or any archive URL, downloaded
  (or taken ``--from-file``), verified, extracted or converted into a temporary folder
  with a completion marker, and renamed into ``datasets/<name>`` in one step.

Progress is reported through a callback (the CLI draws it); nothing here prints. urllib
only: no new dependency.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import http.client
import json
import os
import re
import shutil
import ssl
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from gancli import __version__
from gancli.data import cifar, extract, idx, registry
from gancli.data.registry import ChecksumKind, DatasetInfo, RemoteFile
from gancli.errors import UserError
from gancli.fsutil import atomic_write, atomic_write_text, file_digests, write_error
from gancli.units import format_size

ProgressFn = Callable[[str, int, int | None], None]  # (file name, bytes done, total or None)
MessageFn = Callable[[str], None]

# A file of unknown size (no registry size, no Content-Length) is cut off here unless the
# caller allows more: an endless body must not fill the disk.
DEFAULT_MAX_BYTES = 4 << 30
# Extracted registry archives (JPEGs) are about the size of the archive: twice that, plus a
# little for tiny test archives, is a bound no genuine archive reaches.
_ARCHIVE_EXPANSION = 2
_ARCHIVE_SLACK_BYTES = 1 << 20

_RETRY_STATUS = {408, 425, 429}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


@dataclass(frozen=True)
class DownloadOptions:
    """How to talk to servers; tests shrink the timeout and back-off."""

    timeout: float = 30.0  # seconds of socket silence before an attempt is abandoned
    retries: int = 3  # extra attempts per address after the first
    backoff: float = 1.0  # seconds before the first retry; doubles each time
    max_backoff: float = 30.0
    chunk_size: int = 1 << 16
    progress: ProgressFn | None = None  # hears (file name, bytes done, total) as bytes arrive
    max_bytes: int = DEFAULT_MAX_BYTES  # the cap for a file whose size nobody states


class _Retryable(Exception):
    """A transient failure: try the same address again (resuming)."""


class _AddressFailed(Exception):
    """This address will not work (404, redirect loop, wrong size): try the next one."""


class _TooLarge(Exception):
    """The body outgrew the cap for a file of unknown size (``announced``: the server said so first)."""

    def __init__(self, message: str, announced: bool = False) -> None:
        super().__init__(message)
        self.announced = announced


# --------------------------------------------------------------------------------------
# Checksums
# --------------------------------------------------------------------------------------


def verify_file(
    path: Path,
    checksum: tuple[ChecksumKind, str] | None,
    size: int | None = None,
    *,
    what: str | None = None,
    retry_hint: str = "",
) -> str:
    """Check ``path`` against ``size`` and ``checksum``; return its sha256 (UserError on mismatch)."""
    what = what or str(path)
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        raise UserError(
            f"Size mismatch for {what}: expected {size:,} bytes, got {actual_size:,}. {retry_hint}".strip()
        )
    algorithms = ["sha256"] + (["md5"] if checksum and checksum[0] == "md5" else [])
    digests = file_digests(path, algorithms)
    if checksum is not None:
        kind, expected = checksum
        expected = expected.lower()
        got = digests["md5"] if kind == "md5" else digests["sha256"]
        if got != expected:
            raise UserError(
                f"Checksum mismatch for {what}: expected {kind} {expected}, got {got}. {retry_hint}".strip()
            )
    return digests["sha256"]


# --------------------------------------------------------------------------------------
# One file over HTTP(S)
# --------------------------------------------------------------------------------------


def download_file(
    urls: str | Sequence[str],
    dest: str | os.PathLike,
    *,
    size: int | None = None,
    checksum: tuple[ChecksumKind, str] | None = None,
    options: DownloadOptions | None = None,
    dataset: str | None = None,
    by_url: bool = False,
    force: bool = False,
    warn: MessageFn | None = None,
    warn_unverified: bool = True,
) -> Path:
    """Download ``urls[0]`` (then each mirror) to ``dest`` via ``dest.part``; verify; return ``dest``.

    ``dataset`` names the dataset in the hints (``by_url``: it came from ``gan download URL
    --name``). ``warn`` hears of retries and, unless the caller says it will
    (``warn_unverified=False``), of a file that had no checksum to verify.

    A ``.part`` left by an interrupted run is resumed. A verification failure, a web page
    instead of the file, or a file of unknown size beyond ``options.max_bytes`` deletes the
    partial and raises UserError naming the address.
    """
    options = options or DownloadOptions()
    urls = (urls,) if isinstance(urls, str) else tuple(urls)
    dest = Path(dest)
    made_folder = not dest.parent.exists()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    hints = _Hints(urls[0], dataset or "NAME", by_url)
    with _exclusive(dest, made_folder):
        if force:
            _unlink(part, dest)
        if checksum is None:
            _unlink(dest)  # nothing could vouch that a leftover file is the whole, right one
        if dest.exists():
            # Completed by an earlier run that stopped before using it; still re-verified.
            try:
                verify_file(dest, checksum, size, what=str(dest))
                return dest
            except UserError:
                _unlink(dest)
        url = _fetch_from_any(urls, part, size, options, warn, hints)
        try:
            verify_file(part, checksum, size, what=f"{dest.name} from {url}", retry_hint=hints.bad_file)
        except UserError:
            _unlink(part, dest)
            raise
        os.replace(part, dest)
    if checksum is None and warn is not None and warn_unverified:
        warn(f"{dest.name} from {url} was not verified: no checksum is recorded for it.")
    return dest


@dataclass(frozen=True)
class _Hints:
    """What to tell the user to run next, for a registry dataset or a ``--name`` URL download."""

    url: str
    name: str
    by_url: bool

    @property
    def offline(self) -> str:
        """The command that installs a copy fetched elsewhere."""
        name = f"--name {self.name}" if self.by_url else self.name
        return f"`gan download {name} --from-file PATH`"

    @property
    def bad_file(self) -> str:
        """What to do after a checksum or size mismatch."""
        again = f"gan download {self.url} --name {self.name}" if self.by_url else f"gan download {self.name}"
        return (
            f"The bad file was deleted; run `{again} --force` to download it again. If it fails again, "
            f"the file at {self.url} has changed or is damaged on the way: fetch a good copy elsewhere "
            f"and use {self.offline}."
        )


def _fetch_from_any(
    urls: Sequence[str], part: Path, size: int | None, options: DownloadOptions, warn, hints: _Hints
) -> str:
    """Fetch into ``part`` from the first address that works; return that address."""
    sink = _CallbackSink(options.progress, part.name.removesuffix(".part")) if options.progress else _Sink()
    reasons: list[str] = []
    for url in urls:
        try:
            reason = _fetch_with_retries(url, part, size, options, sink, warn)
        except _TooLarge as exc:
            _unlink(part)  # a cut-off body is not the file: never resume from it or install it
            allowed = (
                "allowed by --max-size"
                if exc.announced
                else "allowed for a file whose size is not known in advance"
            )
            raise UserError(
                f"Stopped downloading {url}: {exc}, more than the {format_size(options.max_bytes)} "
                f"{allowed}. The partial file was deleted. "
                f"If the file really is that large, run the command again with a larger --max-size "
                f"(e.g. --max-size 20G)."
            ) from None
        if reason is None and _is_web_page(part):
            _unlink(part)
            raise UserError(
                f"{url} sent a web page (HTML) instead of the file: the address may need a login, a "
                f"cookie or a licence to be accepted in a browser, or it has moved. Nothing was kept. "
                f"Download the file in a browser and run {hints.offline}."
            )
        if reason is None:
            return url
        reasons.append(f"{url}: {reason}")
    if _is_web_page(part):
        _unlink(part)  # a page is not the start of the file: do not resume from it
    raise _unreachable(urls, reasons, hints, part)


_WEB_PAGE = re.compile(
    rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S
)


def _is_web_page(path: Path) -> bool:
    """Whether ``path`` starts like an HTML page (no archive, weights or idx file does)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(2048)
    except OSError:
        return False
    return bool(_WEB_PAGE.match(head.removeprefix(b"\xef\xbb\xbf")))


def _unreachable(urls: Sequence[str], reasons: list[str], hints: _Hints, part: Path) -> UserError:
    """One paragraph naming each address once, with its reason."""
    if len(reasons) == 1:
        failed = f"Could not download {reasons[0]}."
    else:
        failed = (
            f"Could not download {hints.name} from any of its {len(reasons)} addresses: {'; '.join(reasons)}."
        )
    kept = " (the partial download is kept and resumes)" if part.exists() and part.stat().st_size else ""
    return UserError(
        f"{failed} If this machine is offline, check the connection and run the command again{kept}; "
        f"otherwise fetch the file on another machine and run {hints.offline}."
    )


def _fetch_with_retries(
    url: str, part: Path, size: int | None, options: DownloadOptions, sink: _Sink, warn: MessageFn | None
) -> str | None:
    """Fetch ``url`` into ``part`` with bounded retries; None on success, else why it failed."""
    last = ""
    for attempt in range(options.retries + 1):
        try:
            _fetch_once(url, part, size, options, sink)
            return None
        except _AddressFailed as exc:
            return str(exc)
        except _Retryable as exc:
            last = str(exc)
            if attempt < options.retries:
                delay = min(options.backoff * (2**attempt), options.max_backoff)
                if warn is not None and delay >= 1:
                    warn(f"{url}: {last}; retrying in {delay:.0f} s")
                time.sleep(delay)
    attempts = options.retries + 1
    return f"{last} (after {attempts} attempt{'s' if attempts > 1 else ''})"


def _fetch_once(url: str, part: Path, size: int | None, options: DownloadOptions, sink: _Sink) -> None:
    """One request: resume ``part`` from its current length and append to it."""
    offset = part.stat().st_size if part.exists() else 0
    if size is not None and offset > size:
        _unlink(part)
        offset = 0
    if size is not None and offset == size:
        return  # complete already: verification decides whether it is good
    headers = {"User-Agent": f"gancli/{__version__}", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=options.timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            total = _content_range(exc.headers.get("Content-Range"))[2]
            if total == offset:
                return  # the partial file already holds everything
            _unlink(part)
            raise _Retryable("the server refused to resume; starting again") from None
        if 300 <= exc.code < 400:
            raise _AddressFailed(
                f"redirect loop or too many redirects (HTTP {exc.code} {exc.reason})"
            ) from None
        if exc.code >= 500 or exc.code in _RETRY_STATUS:
            raise _Retryable(f"HTTP {exc.code} {exc.reason}") from None
        raise _AddressFailed(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ssl.SSLCertVerificationError):
            raise _AddressFailed(f"TLS certificate not trusted ({exc.reason.verify_message})") from None
        raise _Retryable(f"cannot connect ({exc.reason})") from None
    except (OSError, http.client.HTTPException) as exc:
        raise _Retryable(f"connection failed ({exc or type(exc).__name__})") from None
    with response:
        _receive(response, url, part, offset, size, options, sink)


def _receive(
    response, url: str, part: Path, offset: int, size: int | None, options: DownloadOptions, sink: _Sink
) -> None:
    mode, offset, total = _response_range(response, part, offset)
    if size is not None and total is not None and total != size:
        raise _AddressFailed(f"the server announces {total:,} bytes but {size:,} are expected")
    cap = size if size is not None else options.max_bytes
    if total is not None and total > cap:
        raise _TooLarge(f"the server announces {total:,} bytes", announced=True)
    limit = size if size is not None else total
    sink.start(limit, offset)
    try:
        with open(part, mode) as out:
            written = _copy_body(response, out, offset, limit=limit, cap=cap, options=options, sink=sink)
    except _AddressFailed:
        _unlink(part)  # whatever came is suspect: do not resume from it
        raise
    except OSError as exc:
        written = offset
        with contextlib.suppress(OSError):
            written = part.stat().st_size  # what reached the disk, which is where a resume starts
        kept = f"The {written:,} bytes already downloaded are kept in it and the download resumes from them."
        error = write_error(part, exc, kept)
        if error is None:
            error = UserError(
                f"Cannot write {part}: {exc.strerror or exc}. {kept} Pick another --root if this one cannot hold the data."
            )
        raise error from None
    if limit is not None and written < limit:
        # Fewer bytes than promised (a Content-Length that lies, a dropped connection):
        # keep them and resume with a Range request.
        raise _Retryable(f"connection closed after {written:,} of {limit:,} bytes")


def _response_range(response, part: Path, offset: int) -> tuple[str, int, int | None]:
    """(file mode, offset the body starts at, total size or None) of a 200 or 206 answer."""
    length_header = response.headers.get("Content-Length")
    length = int(length_header) if length_header and length_header.isdigit() else None
    if response.status == 206:
        start, _end, total = _content_range(response.headers.get("Content-Range"))
        if start != offset:
            _unlink(part)
            raise _Retryable(f"the server resumed at byte {start} instead of {offset}; starting again")
        return "ab", offset, total if total is not None else (offset + length if length is not None else None)
    if response.status == 200:
        # A server that ignores Range sends the whole file again: start from zero.
        return "wb", 0, length
    raise _AddressFailed(f"unexpected HTTP status {response.status}")


def _copy_body(
    response, out, written: int, *, limit: int | None, cap: int, options: DownloadOptions, sink: _Sink
) -> int:
    """Append the body to ``out`` within ``limit`` (the expected size) and ``cap``; return the bytes on disk."""
    while True:
        try:
            # read1: return what has arrived, so a stall keeps the bytes before it.
            chunk = response.read1(options.chunk_size)
        except (OSError, http.client.HTTPException) as exc:
            raise _Retryable(
                f"connection broke after {written:,} bytes ({exc or type(exc).__name__})"
            ) from None
        if not chunk:
            return written
        if limit is not None and written + len(chunk) > limit:
            raise _AddressFailed(f"the server sent more than the {limit:,} bytes expected")
        if written + len(chunk) > cap:
            raise _TooLarge(f"the server sent more than {cap:,} bytes")
        out.write(chunk)
        written += len(chunk)
        sink.update(written)


def _content_range(value: str | None) -> tuple[int | None, int | None, int | None]:
    """Parse ``bytes START-END/TOTAL`` (or ``bytes */TOTAL``) into its three numbers."""
    match = re.match(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$", value or "")
    if not match:
        return (None, None, None)
    start, end, total = match.groups()
    as_int = lambda v: int(v) if v and v != "*" else None  # noqa: E731
    return (as_int(start), as_int(end), as_int(total))


def _unlink(*files: Path) -> None:
    for path in files:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


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
        handle = open(lock_path, "a+b")  # noqa: SIM115 - closed by _exclusive
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
def _exclusive(target: Path, made_folder: bool = False) -> Iterator[None]:
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
            _unlink(lock_path)  # while still holding it: see _lock_handle
            if made_folder:  # only a folder this download made, never one that was there
                with contextlib.suppress(OSError):  # a file appeared meanwhile: the folder stays
                    lock_path.parent.rmdir()
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


class _Sink:
    """Progress reporting; the base class reports nothing."""

    def start(self, total: int | None, done: int) -> None:
        """A (new) response began: ``done`` bytes are already on disk."""

    def update(self, done: int) -> None:
        """``done`` bytes are on disk."""


class _CallbackSink(_Sink):
    def __init__(self, callback: ProgressFn, name: str) -> None:
        self.callback = callback
        self.name = name
        self.total: int | None = None

    def start(self, total: int | None, done: int) -> None:
        self.total = total
        self.callback(self.name, done, total)

    def update(self, done: int) -> None:
        self.callback(self.name, done, self.total)


# --------------------------------------------------------------------------------------
# Installing datasets
# --------------------------------------------------------------------------------------


@dataclass
class InstallResult:
    """What ``install_dataset`` / ``install_url`` produced."""

    name: str
    folder: Path
    already_present: bool = False
    images: int | None = None
    unverified: list[str] = field(default_factory=list)  # files no checksum vouched for


def install_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    force: bool = False,
    from_file: str | os.PathLike | None = None,
    options: DownloadOptions | None = None,
    limits: extract.ExtractLimits | None = None,
    info: MessageFn | None = None,
    warn: MessageFn | None = None,
) -> InstallResult:
    """Download (or take from ``from_file``), verify and install registry dataset ``name``."""
    ds = registry.get_info(name)
    existing = registry.find_downloaded(name, root)
    if existing is not None and not force:
        marker = registry.read_marker(existing) or {}
        return InstallResult(name, existing, already_present=True, images=marker.get("images"))
    say, warn = info or _quiet, warn or _quiet
    with _exclusive(registry.datasets_root(root) / name):
        given = [_from_file_source(Path(from_file), r, ds) if from_file else None for r in ds.files]
        if from_file and all(g is None for g in given):
            raise UserError(
                f"--from-file {from_file} is none of the files of {name} "
                f"({', '.join(f.filename for f in ds.files)}); give one of them, or a folder holding them."
            )
        sources = [
            _local_source(remote, local, name, say)
            if local is not None
            else _download_source(remote, ds, root, options=options, force=force, say=say, warn=warn)
            for remote, local in zip(ds.files, given)
        ]
        unverified = [r.filename for r, _, _ in sources if r.checksum is None]
        for remote, _path, ours in sources:
            if remote.checksum is None and not ours:  # download_file already warned for its own
                warn(f"{remote.filename} was not verified: no checksum is recorded for it.")
        say(f"Installing {name}")
        result = _install_sources(
            ds, sources, root, _registry_limits(ds, limits or extract.ExtractLimits.from_env())
        )
    result.unverified = unverified
    return result


def _local_source(
    remote: RemoteFile, local: Path, name: str, say: MessageFn
) -> tuple[RemoteFile, Path, bool]:
    """A ``--from-file`` copy of ``remote``, verified like a download."""
    say(f"Verifying {local}")
    verify_file(
        local,
        remote.checksum,
        remote.size,
        what=str(local),
        retry_hint=f"It is not the {remote.filename} that `gan download {name}` expects; "
        f"fetch it again from {remote.url}.",
    )
    return (remote, local, False)


def _download_source(
    remote: RemoteFile,
    ds: DatasetInfo,
    root: str | os.PathLike | None,
    *,
    options: DownloadOptions | None,
    force: bool,
    say: MessageFn,
    warn: MessageFn,
) -> tuple[RemoteFile, Path, bool]:
    """Download ``remote`` of registry dataset ``ds`` into its downloads folder."""
    checked = (
        f"sha256 {remote.checksum[1][:12]}..."
        if remote.checksum
        else "unverified: no checksum is recorded for it"
    )
    say(f"Downloading {remote.url} ({format_size(remote.size)}, {checked})")
    dest = registry.downloads_dir(ds.name, root) / remote.filename
    path = download_file(
        remote.urls,
        dest,
        size=remote.size,
        checksum=remote.checksum,
        options=options,
        dataset=ds.name,
        force=force,
        warn=warn,
    )
    return (remote, path, True)


def _registry_limits(ds: DatasetInfo, limits: extract.ExtractLimits) -> extract.ExtractLimits:
    """``limits`` lowered to what a registry archive of known size and image count can hold."""
    if ds.kind != "archive" or ds.size is None or ds.images is None:
        return limits
    return limits.capped(
        total_bytes=_ARCHIVE_EXPANSION * ds.size + _ARCHIVE_SLACK_BYTES,
        # one folder per image at most (LFW has one per person), plus a little for licence files
        members=2 * ds.images + 1_000,
    )


def _already_installed(name: str, source_label: str, root: str | os.PathLike | None) -> InstallResult | None:
    """The dataset `name` when it is installed from the same source; a clash with another source
    is an error (`--force` replaces it)."""
    existing = registry.find_downloaded(name, root)
    if existing is None:
        return None
    marker = registry.read_marker(existing) or {}
    if marker.get("source") != source_label:
        raise UserError(
            f"{name!r} is already used by {marker.get('source')!r} in {existing}. Choose another --name, "
            f"or add --force to replace it."
        )
    return InstallResult(name, existing, already_present=True, images=marker.get("images"))


def install_url(
    url: str | None,
    name: str,
    root: str | os.PathLike | None = None,
    *,
    sha256: str | None = None,
    force: bool = False,
    from_file: str | os.PathLike | None = None,
    options: DownloadOptions | None = None,
    limits: extract.ExtractLimits | None = None,
    info: MessageFn | None = None,
    warn: MessageFn | None = None,
) -> InstallResult:
    """Download (or take from ``from_file``) any archive of images and install it as ``name``."""
    _check_url_request(url, name, sha256, from_file)
    say, warn = info or _quiet, warn or _quiet
    source_label = url or str(from_file)
    if not force and (present := _already_installed(name, source_label, root)) is not None:
        return present
    checksum = ("sha256", sha256.lower()) if sha256 else None
    filename = _filename_from_url(url) if url else Path(from_file).name  # type: ignore[arg-type]
    remote = RemoteFile(filename=filename, url=source_label, sha256=checksum[1] if checksum else None)
    ds = DatasetInfo(
        name=name,
        kind="archive",
        files=(remote,),
        images=None,
        resolution="?",
        channels=None,
        licence="user-supplied",
    )
    with _exclusive(registry.datasets_root(root) / name):
        if from_file is not None:
            source = _local_url_source(remote, Path(from_file), say)
        else:
            say(f"Downloading {url}" + ("" if checksum else " (unverified: no --sha256 given)"))
            dest = registry.downloads_dir(name, root) / filename
            # retries are worth a word; an unverified file gets install_url's own warning below, with its digest
            local = download_file(
                url,
                dest,
                checksum=checksum,
                options=options,
                dataset=name,
                by_url=True,
                force=force,
                warn=warn,
                warn_unverified=False,
            )
            source = (remote, local, True)
        result = _install_sources(ds, [source], root, limits or extract.ExtractLimits.from_env())
    if checksum is None:
        marker = registry.read_marker(result.folder) or {}
        digest = (marker.get("files") or [{}])[0].get("sha256")
        warn(
            f"{source_label} was not verified: no --sha256 was given. Its sha256 is {digest}; "
            f"pass --sha256 {digest} next time to pin it."
        )
        result.unverified = [filename]
    return result


def _check_url_request(url: str | None, name: str, sha256: str | None, from_file: object) -> None:
    """Refuse a URL install whose name, address or --sha256 cannot work."""
    registry.check_name(name)
    if name in registry.DATASETS:
        raise UserError(
            f"{name!r} is the name of a known dataset; run `gan download {name}` for it, or give your "
            f"archive another --name."
        )
    if url is None and from_file is None:
        raise UserError("Give a URL to download, or --from-file PATH, together with --name.")
    if url is not None and urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise UserError(f"{url!r} is not an http(s) address. For a local file use --from-file PATH.")
    if sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise UserError(f"--sha256 {sha256!r} is not 64 hexadecimal digits.")


def _local_url_source(remote: RemoteFile, local: Path, say: MessageFn) -> tuple[RemoteFile, Path, bool]:
    """A ``--from-file`` archive for ``gan download --name``, checked against ``--sha256`` if given."""
    if not local.is_file():
        raise UserError(f"--from-file {local} is not a file.")
    say(f"Verifying {local}")
    verify_file(local, remote.checksum, what=str(local), retry_hint="Check --sha256 and the file.")
    return (remote, local, False)


def _install_sources(
    ds: DatasetInfo,
    sources: list[tuple[RemoteFile, Path, bool]],
    root: str | os.PathLike | None,
    limits: extract.ExtractLimits,
) -> InstallResult:
    """Install, then delete the files we downloaded (the extracted or converted copy is what we keep).

    When installing fails, a download that no checksum vouched for is deleted too: it may be
    a page or a truncated body, and must not be picked up later as if it were the file.
    Verified downloads stay, so that a retry (after freeing disk space, say) needs no network.
    """
    try:
        result = _install(ds, sources, root, limits)
    except BaseException:
        for remote, path, ours in sources:
            if ours and remote.checksum is None:
                _unlink(path)
        raise
    for _remote, path, ours in sources:
        if ours:
            _unlink(path)
    return result


def _quiet(_message: str) -> None:
    """Discard a message (the default when the caller wants none)."""


def _filename_from_url(url: str) -> str:
    """A safe local file name taken from the URL's path."""
    base = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".")
    return base or "archive"


def _from_file_source(from_file: Path, remote: RemoteFile, ds: DatasetInfo) -> Path | None:
    """Which local file stands for ``remote``: PATH itself, or PATH/<filename> for a folder."""
    if from_file.is_dir():
        candidate = from_file / remote.filename
        if candidate.is_file():
            return candidate
        raise UserError(
            f"--from-file {from_file} is a folder without {remote.filename}. Put the file(s) "
            f"{', '.join(f.filename for f in ds.files)} there, or give the file itself."
        )
    if not from_file.is_file():
        raise UserError(f"--from-file {from_file} does not exist.")
    if len(ds.files) == 1 or from_file.name == remote.filename:
        return from_file
    return None  # another file of a multi-file dataset: this one is downloaded


def _install(
    ds: DatasetInfo,
    sources: list[tuple[RemoteFile, Path, bool]],
    root: str | os.PathLike | None,
    limits: extract.ExtractLimits,
) -> InstallResult:
    """Build the dataset folder in a temporary folder, write the marker, rename it into place."""
    parent = registry.datasets_root(root)
    parent.mkdir(parents=True, exist_ok=True)
    final = registry.dataset_dir(ds.name, root)
    if final.exists() and registry.read_marker(final) is None and any(final.iterdir()):
        # Not made by us (we only ever rename in complete folders): do not destroy it.
        raise UserError(
            f"{final} exists but was not made by `gan download` (it has no {registry.MARKER}). "
            f"Move it away and run the command again."
        )
    for stale in parent.glob(f".{ds.name}.tmp-*"):  # left by a killed run; we hold the lock
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{ds.name}.tmp-", dir=parent))
    try:
        marker = _build(ds, sources, tmp, limits)
        marker.update(
            name=ds.name,
            kind=ds.kind,
            source=ds.url,
            completed_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            gancli_version=__version__,
        )
        atomic_write_text(tmp / registry.MARKER, json.dumps(marker, indent=2) + "\n")  # written last
        _swap_into_place(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return InstallResult(ds.name, final, images=marker.get("images"))


def _build(
    ds: DatasetInfo,
    sources: list[tuple[RemoteFile, Path, bool]],
    tmp: Path,
    limits: extract.ExtractLimits,
) -> dict:
    """Fill ``tmp`` for the dataset's kind; return the marker's content."""
    files = []
    for remote, path, _ours in sources:
        checksum = remote.checksum
        files.append(
            {
                "filename": remote.filename,
                "url": remote.url,
                "size": path.stat().st_size,
                "sha256": file_digests(path)["sha256"],
                "verified_by": checksum[0] if checksum else None,
            }
        )
    marker: dict = {"files": files}
    if ds.kind == "archive":
        # The marker's name is refused in the archive: our marker must be the only one, and a
        # folder of that name would make writing it fail with an error about a temporary file.
        report = extract.extract_into(sources[0][1], tmp, limits=limits, reserved=(registry.MARKER,))
        marker["images"] = sum(Path(f).suffix.lower() in IMAGE_SUFFIXES for f in report.files)
        marker["extracted_files"] = len(report.files)
        if not marker["images"]:  # nothing to train on: installing it would only fail later
            listed = ", ".join(sorted(report.files)[:5]) or "nothing"
            raise UserError(
                f"The archive {sources[0][1].name} holds no image files ({len(report.files)} file(s): {listed}); nothing was installed. Give an archive of .png, .jpg or other image files."
            )
    elif ds.kind == "idx":
        arrays = {r.role: idx.read_idx_images(p, name=str(p)) for r, p, _ in sources}
        marker.update(_save_arrays(tmp, arrays.get("train-images"), arrays.get("test-images")))
    elif ds.kind == "cifar-binary":
        parts = cifar.read_archive(sources[0][1])
        marker.update(_save_arrays(tmp, parts["train"][0], parts["test"][0]))
    elif ds.kind == "file":
        remote, path, ours = sources[0]
        if ours:
            os.replace(path, tmp / remote.filename)  # same file system: a rename, not a copy
        else:
            with atomic_write(tmp / remote.filename) as out, open(path, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
        marker["filename"] = remote.filename
    else:  # pragma: no cover - the registry only holds the kinds above
        raise UserError(f"Dataset {ds.name!r} has an unknown kind {ds.kind!r}.")
    return marker


def _save_arrays(tmp: Path, train: np.ndarray | None, test: np.ndarray | None) -> dict:
    if train is None:
        raise UserError("The dataset has no training images file.")
    out: dict = {"images": int(train.shape[0]), "shape": list(train.shape[1:])}
    for filename, array in ((registry.IMAGES_NPY, train), (registry.TEST_IMAGES_NPY, test)):
        if array is not None:
            with atomic_write(tmp / filename) as handle:
                np.save(handle, np.ascontiguousarray(array, dtype=np.uint8), allow_pickle=False)
    if test is not None:
        out["test_images"] = int(test.shape[0])
    return out


def _swap_into_place(tmp: Path, final: Path) -> None:
    """Rename ``tmp`` to ``final``, moving an older ``final`` aside first and deleting it after."""
    if not final.exists():
        os.replace(tmp, final)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-old-", dir=final.parent))
    os.replace(final, old / final.name)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
