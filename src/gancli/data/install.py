"""Installing a dataset in the data root: a registry entry or any archive URL, downloaded
(`data/transfer.py`) or taken ``--from-file``, verified, built into a temporary folder by its
format (`data/formats.py`) with a completion marker, and renamed into ``datasets/<name>`` in
one step. Messages go through callbacks; nothing here prints."""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import shutil
import tempfile
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gancli import __version__
from gancli.data import extract, registry
from gancli.data.formats import Source, build_dataset
from gancli.data.locking import exclusive
from gancli.data.registry import DatasetInfo, RemoteFile
from gancli.data.transfer import DownloadOptions, MessageFn, download_file, remove_files, verify_file
from gancli.errors import UserError
from gancli.fsutil import atomic_write_text
from gancli.units import format_size

# Extracted registry archives (JPEGs) are about the size of the archive: twice that, plus a
# little for tiny test archives, is a bound no genuine archive reaches.
_ARCHIVE_EXPANSION = 2
_ARCHIVE_SLACK_BYTES = 1 << 20


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
    say, warn = info or _quiet, warn or _quiet

    def gather() -> list[Source]:
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
        for remote, _path, ours in sources:
            if remote.checksum is None and not ours:  # download_file already warned for its own
                warn(f"{remote.filename} was not verified: no checksum is recorded for it.")
        say(f"Installing {name}")
        return sources

    limits = _registry_limits(ds, limits or extract.ExtractLimits.from_env())
    return _install_flow(ds, root, force=force, source_label=None, gather=gather, limits=limits)


def _install_flow(
    ds: DatasetInfo,
    root: str | os.PathLike | None,
    *,
    force: bool,
    source_label: str | None,
    gather: Callable[[], list[Source]],
    limits: extract.ExtractLimits,
) -> InstallResult:
    """The one way a dataset is installed: kept when already there (unless `force`); else,
    holding the dataset's lock, its files gathered (downloaded or taken --from-file, verified)
    and installed; the files no checksum vouched for are listed in the result."""
    if not force and (present := _already_installed(ds.name, source_label, root)) is not None:
        return present
    with exclusive(registry.datasets_root(root) / ds.name):
        sources = gather()
        result = _install_sources(ds, sources, root, limits)
    result.unverified = [r.filename for r, _, _ in sources if r.checksum is None]
    return result


def _local_source(remote: RemoteFile, local: Path, name: str, say: MessageFn) -> Source:
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
) -> Source:
    """Download ``remote`` of registry dataset ``ds`` into its downloads folder."""
    checked = (
        f"{remote.checksum[0]} {remote.checksum[1][:12]}..."
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
    if ds.kind not in registry.EXTRACTED_KINDS or ds.size is None or ds.images is None:
        return limits
    return limits.capped(
        total_bytes=_ARCHIVE_EXPANSION * ds.size + _ARCHIVE_SLACK_BYTES,
        # one folder per image at most (LFW has one per person), plus a little for licence files
        members=2 * ds.images + 1_000,
    )


def _already_installed(
    name: str, source_label: str | None, root: str | os.PathLike | None
) -> InstallResult | None:
    """The dataset `name` when it is installed (from the same source, when `source_label` names
    one: a clash with another source is an error, which `--force` replaces)."""
    existing = registry.find_downloaded(name, root)
    if existing is None:
        return None
    marker = registry.read_marker(existing) or {}
    if source_label is not None and marker.get("source") != source_label:
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

    def gather() -> list[Source]:
        if from_file is not None:
            return [_local_url_source(remote, Path(from_file), say)]
        say(f"Downloading {url}" + ("" if checksum else " (unverified: no --sha256 given)"))
        dest = registry.downloads_dir(name, root) / filename
        # retries are worth a word; an unverified file gets install_url's own warning below, with its digest
        local = download_file(
            url,  # type: ignore[arg-type]
            dest,
            checksum=checksum,
            options=options,
            dataset=name,
            by_url=True,
            force=force,
            warn=warn,
            warn_unverified=False,
        )
        return [(remote, local, True)]

    limits = limits or extract.ExtractLimits.from_env()
    result = _install_flow(ds, root, force=force, source_label=source_label, gather=gather, limits=limits)
    if checksum is None and not result.already_present:
        marker = registry.read_marker(result.folder) or {}
        digest = (marker.get("files") or [{}])[0].get("sha256")
        warn(
            f"{source_label} was not verified: no --sha256 was given. Its sha256 is {digest}; "
            f"pass --sha256 {digest} next time to pin it."
        )
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


def _local_url_source(remote: RemoteFile, local: Path, say: MessageFn) -> Source:
    """A ``--from-file`` archive for ``gan download --name``, checked against ``--sha256`` if given."""
    if not local.is_file():
        raise UserError(f"--from-file {local} is not a file.")
    say(f"Verifying {local}")
    verify_file(local, remote.checksum, what=str(local), retry_hint="Check --sha256 and the file.")
    return (remote, local, False)


def _install_sources(
    ds: DatasetInfo,
    sources: list[Source],
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
                remove_files(path)
        raise
    for _remote, path, ours in sources:
        if ours:
            remove_files(path)
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
    sources: list[Source],
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
        marker = build_dataset(ds, sources, tmp, limits)
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


def _swap_into_place(tmp: Path, final: Path) -> None:
    """Rename ``tmp`` to ``final``, moving an older ``final`` aside first and deleting it after."""
    if not final.exists():
        os.replace(tmp, final)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-old-", dir=final.parent))
    os.replace(final, old / final.name)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
