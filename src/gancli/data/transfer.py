"""One file over HTTP(S), resumable and verified: the transfer layer under `gan download`.

``download_file`` fetches one file from one or more addresses to ``dest`` through
``dest.part``, resuming with HTTP Range, retrying connection errors and 5xx with exponential
back-off, stopping at the expected size (or ``max_bytes`` when no size is known), refusing a
web page served in place of the file, and verifying size and checksum before the file gets its
final name. It knows nothing of datasets beyond the name used in its hints (`data/install.py`
installs them). Progress is reported through a callback; nothing here prints. urllib only.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gancli import __version__
from gancli.data.locking import exclusive
from gancli.data.registry import ChecksumKind
from gancli.errors import UserError
from gancli.fsutil import file_digests, write_error
from gancli.units import format_size

ProgressFn = Callable[[str, int, int | None], None]  # (file name, bytes done, total or None)
MessageFn = Callable[[str], None]

# A file of unknown size (no registry size, no Content-Length) is cut off here unless the
# caller allows more: an endless body must not fill the disk.
DEFAULT_MAX_BYTES = 4 << 30

_RETRY_STATUS = {408, 425, 429}


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
    with exclusive(dest, made_folder):
        if force:
            remove_files(part, dest)
        if checksum is None:
            remove_files(dest)  # nothing could vouch that a leftover file is the whole, right one
        if dest.exists():
            # Completed by an earlier run that stopped before using it; still re-verified.
            try:
                verify_file(dest, checksum, size, what=str(dest))
                return dest
            except UserError:
                remove_files(dest)
        url = _fetch_from_any(urls, part, size, options, warn, hints)
        try:
            verify_file(part, checksum, size, what=f"{dest.name} from {url}", retry_hint=hints.bad_file)
        except UserError:
            remove_files(part, dest)
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
            remove_files(part)  # a cut-off body is not the file: never resume from it or install it
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
            remove_files(part)
            raise UserError(
                f"{url} sent a web page (HTML) instead of the file: the address may need a login, a "
                f"cookie or a licence to be accepted in a browser, or it has moved. Nothing was kept. "
                f"Download the file in a browser and run {hints.offline}."
            )
        if reason is None:
            return url
        reasons.append(f"{url}: {reason}")
    if _is_web_page(part):
        remove_files(part)  # a page is not the start of the file: do not resume from it
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
        remove_files(part)
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
        if _resumed_past_the_end(exc, part, offset):
            return  # the partial file already holds everything
        raise _http_failure(exc) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ssl.SSLCertVerificationError):
            raise _AddressFailed(f"TLS certificate not trusted ({exc.reason.verify_message})") from None
        raise _Retryable(f"cannot connect ({exc.reason})") from None
    except (OSError, http.client.HTTPException) as exc:
        raise _Retryable(f"connection failed ({exc or type(exc).__name__})") from None
    with response:
        _receive(response, url, part, offset, size, options, sink)


def _resumed_past_the_end(exc: urllib.error.HTTPError, part: Path, offset: int) -> bool:
    """A 416 to a resume: True when the partial file already holds the whole file; else the
    partial goes and the attempt is retried from zero."""
    if exc.code != 416 or not offset:
        return False
    total = _content_range(exc.headers.get("Content-Range"))[2]
    if total == offset:
        return True
    remove_files(part)
    raise _Retryable("the server refused to resume; starting again") from None


def _http_failure(exc: urllib.error.HTTPError) -> Exception:
    """What an HTTP error status means for this address: retry it, or try the next one."""
    if 300 <= exc.code < 400:
        return _AddressFailed(f"redirect loop or too many redirects (HTTP {exc.code} {exc.reason})")
    if exc.code >= 500 or exc.code in _RETRY_STATUS:
        return _Retryable(f"HTTP {exc.code} {exc.reason}")
    return _AddressFailed(f"HTTP {exc.code} {exc.reason}")


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
        remove_files(part)  # whatever came is suspect: do not resume from it
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
            remove_files(part)
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


def remove_files(*files: Path) -> None:
    """Delete each file that exists (a missing one is what was wanted)."""
    for path in files:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


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
