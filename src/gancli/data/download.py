"""Fetching datasets: resumable, verified HTTP(S) downloads and installing them in the data root.

Two layers:
- ``download_file``: one file from one or more addresses to ``dest`` through ``dest.part``,
  resuming with HTTP Range, retrying connection errors and 5xx with exponential back-off,
  and verifying size and checksum before the file gets its final name.
- ``install_dataset`` / ``install_url``: a registry entry or any archive URL, downloaded
  (or taken ``--from-file``), verified, extracted or converted into a temporary folder
  with a completion marker, and renamed into ``datasets/<name>`` in one step.

urllib only: no new dependency.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
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

import numpy as np

from gancli import __version__
from gancli.data import cifar, extract, idx, registry
from gancli.data.registry import ChecksumKind, DatasetInfo, RemoteFile
from gancli.errors import UserError
from gancli.fsutil import atomic_write, atomic_write_text, write_error

ProgressFn = Callable[[int, int | None], None]  # (bytes done, total or None)
MessageFn = Callable[[str], None]

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
    progress: bool | ProgressFn = True  # True: rich bar on stderr; a callable; or False


class _Retryable(Exception):
    """A transient failure: try the same address again (resuming)."""


class _AddressFailed(Exception):
    """This address will not work (404, redirect loop, wrong size): try the next one."""


# --------------------------------------------------------------------------------------
# Checksums
# --------------------------------------------------------------------------------------


def file_digests(path: Path, algorithms: Sequence[str] = ("sha256",)) -> dict[str, str]:
    """Hex digests of ``path`` for each algorithm, in one pass over the file."""
    hashers = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            for hasher in hashers.values():
                hasher.update(block)
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}


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
        ok = got.startswith(expected) if kind == "sha256_prefix" else got == expected
        if not ok:
            label = "sha256 starting with" if kind == "sha256_prefix" else kind
            raise UserError(
                f"Checksum mismatch for {what}: expected {label} {expected}, got {got}. {retry_hint}".strip()
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
    force: bool = False,
    warn: MessageFn | None = None,
    warn_unverified: bool = True,
) -> Path:
    """Download ``urls[0]`` (then each mirror) to ``dest`` via ``dest.part``; verify; return ``dest``.

    ``warn`` hears of retries and, unless the caller says it will (``warn_unverified=False``),
    of a file that had no checksum to verify.

    A ``.part`` left by an interrupted run is resumed. A verification failure deletes the
    partial and the bad file and raises UserError with the expected and actual values.
    """
    options = options or DownloadOptions()
    urls = (urls,) if isinstance(urls, str) else tuple(urls)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    label = dataset or "NAME"
    hint = (
        f"The bad file was deleted; run `gan download {label} --force` to download it again. If it "
        f"fails again, the file at {urls[0]} has changed or is damaged on the way: fetch a good copy "
        f"elsewhere and use `gan download {label} --from-file PATH`."
    )
    with _exclusive(dest):
        if force:
            _unlink(part, dest)
        if dest.exists():
            # Completed by an earlier run that stopped before using it; still re-verified.
            try:
                verify_file(dest, checksum, size, what=str(dest))
                return dest
            except UserError:
                _unlink(dest)
        reasons: list[str] = []
        with _progress_sink(options.progress, dest.name) as sink:
            for url in urls:
                reason = _fetch_with_retries(url, part, size, options, sink, warn)
                if reason is None:
                    break
                reasons.append(f"{url}: {reason}")
            else:
                raise _unreachable(urls, reasons, label)
        try:
            verify_file(part, checksum, size, what=f"{dest.name} from {url}", retry_hint=hint)
        except UserError:
            _unlink(part, dest)
            raise
        os.replace(part, dest)
    if checksum is None and warn is not None and warn_unverified:
        warn(f"{dest.name} from {url} was not verified: no checksum is recorded for it.")
    return dest


def _unreachable(urls: Sequence[str], reasons: list[str], label: str) -> UserError:
    detail = "; ".join(reasons)
    return UserError(
        f"Could not download {urls[0]} ({detail}). If this machine is offline, check the connection and "
        f"run the command again (a partial download is kept and resumes); otherwise fetch the file on "
        f"another machine and run `gan download {label} --from-file PATH`."
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
    length_header = response.headers.get("Content-Length")
    length = int(length_header) if length_header and length_header.isdigit() else None
    if response.status == 206:
        start, _end, total = _content_range(response.headers.get("Content-Range"))
        if start != offset:
            _unlink(part)
            raise _Retryable(f"the server resumed at byte {start} instead of {offset}; starting again")
        mode = "ab"
        total = total if total is not None else (offset + length if length is not None else None)
    elif response.status == 200:
        # A server that ignores Range sends the whole file again: start from zero.
        offset, mode, total = 0, "wb", length
    else:
        raise _AddressFailed(f"unexpected HTTP status {response.status}")
    if size is not None and total is not None and total != size:
        raise _AddressFailed(f"the server announces {total:,} bytes but {size:,} are expected")
    limit = size if size is not None else total
    written = offset
    sink.start(limit, written)
    try:
        with open(part, mode) as out:
            while True:
                try:
                    # read1: return what has arrived, so a stall keeps the bytes before it.
                    chunk = response.read1(options.chunk_size)
                except (OSError, http.client.HTTPException) as exc:
                    raise _Retryable(
                        f"connection broke after {written:,} bytes ({exc or type(exc).__name__})"
                    ) from None
                if not chunk:
                    break
                if limit is not None and written + len(chunk) > limit:
                    raise _AddressFailed(f"the server sent more than the {limit:,} bytes expected")
                out.write(chunk)
                written += len(chunk)
                sink.update(written)
    except _AddressFailed:
        _unlink(part)  # whatever came is suspect: do not resume from it
        raise
    except OSError as exc:
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


@contextlib.contextmanager
def _exclusive(target: Path) -> Iterator[None]:
    """Hold an advisory lock beside ``target`` so two processes never append to one .part."""
    try:
        import fcntl
    except ImportError:  # not POSIX: run without the lock
        yield
        return
    lock_path = target.with_name(f".{target.name}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(
                f"Another `gan download` is already working on {target}. Wait for it to finish, "
                f"or stop it and run the command again."
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class _Sink:
    """Progress reporting; the base class reports nothing."""

    def start(self, total: int | None, done: int) -> None:
        """A (new) response began: ``done`` bytes are already on disk."""

    def update(self, done: int) -> None:
        """``done`` bytes are on disk."""


class _CallbackSink(_Sink):
    def __init__(self, callback: ProgressFn) -> None:
        self.callback = callback
        self.total: int | None = None

    def start(self, total: int | None, done: int) -> None:
        self.total = total
        self.callback(done, total)

    def update(self, done: int) -> None:
        self.callback(done, self.total)


class _RichSink(_Sink):
    def __init__(self, progress, label: str) -> None:  # progress: rich.progress.Progress
        self.progress = progress
        self.task = progress.add_task(label, total=None)

    def start(self, total: int | None, done: int) -> None:
        self.progress.update(self.task, total=total, completed=done)

    def update(self, done: int) -> None:
        self.progress.update(self.task, completed=done)


@contextlib.contextmanager
def _progress_sink(progress: bool | ProgressFn, label: str) -> Iterator[_Sink]:
    if callable(progress):
        yield _CallbackSink(progress)
        return
    if not progress:
        yield _Sink()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        yield _RichSink(bar, label)


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
        sources: list[tuple[RemoteFile, Path, bool]] = []  # (file, local path, downloaded by us)
        for remote, local in zip(ds.files, given):
            if local is not None:
                say(f"Verifying {local}")
                verify_file(
                    local,
                    remote.checksum,
                    remote.size,
                    what=str(local),
                    retry_hint=f"It is not the {remote.filename} that `gan download {name}` expects; "
                    f"fetch it again from {remote.url}.",
                )
                sources.append((remote, local, False))
            else:
                say(f"Downloading {remote.url}")
                dest = registry.downloads_dir(name, root) / remote.filename
                path = download_file(
                    remote.urls,
                    dest,
                    size=remote.size,
                    checksum=remote.checksum,
                    options=options,
                    dataset=name,
                    force=force,
                    warn=warn,
                )
                sources.append((remote, path, True))
        unverified = [r.filename for r, _, _ in sources if r.checksum is None]
        for remote, _path, ours in sources:
            if remote.checksum is None and not ours:  # download_file already warned for its own
                warn(f"{remote.filename} was not verified: no checksum is recorded for it.")
        say(f"Installing {name}")
        result = _install(ds, sources, root, limits)
        for _remote, path, ours in sources:
            if ours:
                _unlink(path)  # the extracted/converted copy is what we keep
    result.unverified = unverified
    return result


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
    say, warn = info or _quiet, warn or _quiet
    source_label = url or str(from_file)
    existing = registry.find_downloaded(name, root)
    if existing is not None and not force:
        marker = registry.read_marker(existing) or {}
        if marker.get("source") != source_label:
            raise UserError(
                f"{name!r} is already used by {marker.get('source')!r} in {existing}. Choose another --name, "
                f"or add --force to replace it."
            )
        return InstallResult(name, existing, already_present=True, images=marker.get("images"))
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
            local, ours = Path(from_file), False
            if not local.is_file():
                raise UserError(f"--from-file {local} is not a file.")
            say(f"Verifying {local}")
            verify_file(local, checksum, what=str(local), retry_hint="Check --sha256 and the file.")
        else:
            say(f"Downloading {url}")
            dest = registry.downloads_dir(name, root) / filename
            # retries are worth a word; an unverified file gets install_url's own warning below, with its digest
            local = download_file(
                url,
                dest,
                checksum=checksum,
                options=options,
                dataset=name,
                force=force,
                warn=warn,
                warn_unverified=False,
            )
            ours = True
        result = _install(ds, [(remote, local, ours)], root, limits)
        if ours:
            _unlink(local)
    if checksum is None:
        marker = registry.read_marker(result.folder) or {}
        digest = (marker.get("files") or [{}])[0].get("sha256")
        warn(
            f"{source_label} was not verified: no --sha256 was given. Its sha256 is {digest}; "
            f"pass --sha256 {digest} next time to pin it."
        )
        result.unverified = [filename]
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
    limits: extract.ExtractLimits | None,
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
    limits: extract.ExtractLimits | None,
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
        report = extract.extract_into(sources[0][1], tmp, limits=limits or extract.ExtractLimits.from_env())
        marker["images"] = sum(Path(f).suffix.lower() in IMAGE_SUFFIXES for f in report.files)
        marker["extracted_files"] = len(report.files)
        marker["duplicates"] = report.duplicates
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
