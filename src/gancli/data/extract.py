"""Safe extraction of .tgz/.tar.gz/.tar/.zip archives of images from strangers.

Every member is checked before a byte of it is written: absolute names, ``..`` escapes,
device files and FIFOs are refused with the member named; links pointing outside are
refused, and links pointing inside are materialised as copies (no link is ever created
on disk, so nothing can later be written through one). Two files of one name are refused:
installing either would silently hide the other. Sizes are budgeted twice: the members'
declared sizes before writing and the bytes actually written while writing, so a lying
header cannot slip a decompression bomb through; the member count is bounded too, by an
absolute limit and by the archive's size (a real image costs more than a few bytes, an empty
member a handful). Extraction goes to a temporary folder beside the destination, renamed
into place only when complete.

Python's ``tarfile.extractall(filter='data')`` is not used: we write every file ourselves.
Where ``tarfile.data_filter`` exists (3.11.4+), it is run on each member as a second
opinion after our own checks, which do not depend on it.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Literal

from gancli.errors import UserError
from gancli.fsutil import write_error

GIB = 1 << 30
MIB = 1 << 20
_CHUNK = 1 << 20
_MAX_LINK_TARGET = 4096  # a zip symlink's target is stored as its content: keep it small

ArchiveFormat = Literal["tar", "zip"]


@dataclass(frozen=True)
class ExtractLimits:
    """Decompression-bomb guard: limits on what one archive may produce."""

    max_total_bytes: int = 20 * GIB
    # Uncompressed/compressed ratio. Archives of JPEG or PNG files are about 1:1, and even
    # uncompressed BMP/TIFF photos stay near 10:1; gzip reaches ~1030:1 only on repeated bytes.
    max_ratio: float = 100.0
    # The ratio is only enforced beyond this much output, so that a tiny archive of a few
    # highly compressible text files is not mistaken for a bomb.
    ratio_floor_bytes: int = 100 * MIB
    max_members: int = 2_000_000
    # Beyond member_floor members, each must account for min_bytes_per_member bytes of the
    # archive: an image is hundreds of bytes or more, while an empty member compresses to ~5
    # bytes in a .tgz (100,000 of them in 470 KB) and takes ~100 in a zip.
    member_floor: int = 10_000
    min_bytes_per_member: int = 128

    def capped(self, *, total_bytes: int, members: int) -> ExtractLimits:
        """These limits, lowered (never raised) to what an archive is known to hold."""
        return replace(
            self,
            max_total_bytes=min(self.max_total_bytes, total_bytes),
            max_members=min(self.max_members, members),
            member_floor=min(self.member_floor, members),
        )

    @classmethod
    def from_env(cls) -> ExtractLimits:
        """Defaults, overridden by $GAN_EXTRACT_MAX_BYTES and $GAN_EXTRACT_MAX_RATIO."""
        limits = cls()
        raw_bytes = os.environ.get("GAN_EXTRACT_MAX_BYTES")
        raw_ratio = os.environ.get("GAN_EXTRACT_MAX_RATIO")
        try:
            if raw_bytes:
                limits = replace(limits, max_total_bytes=int(raw_bytes))
            if raw_ratio:
                limits = replace(limits, max_ratio=float(raw_ratio))
        except ValueError:
            raise UserError(
                f"Invalid $GAN_EXTRACT_MAX_BYTES={raw_bytes!r} or $GAN_EXTRACT_MAX_RATIO={raw_ratio!r}: "
                f"give a whole number of bytes and a number, or unset them."
            ) from None
        return limits


@dataclass
class ExtractReport:
    """What an extraction wrote."""

    files: list[str] = field(default_factory=list)  # relative POSIX paths, in archive order
    total_bytes: int = 0
    links_copied: list[str] = field(default_factory=list)
    links_skipped: list[str] = field(default_factory=list)  # inside links to nothing usable


def detect_format(archive: Path) -> ArchiveFormat:
    """Tell a zip from a (possibly compressed) tar by its first bytes, not its name."""
    try:
        with open(archive, "rb") as handle:
            head = handle.read(512)
    except OSError as exc:
        raise UserError(f"Cannot read archive {archive}: {exc.strerror or exc}.") from None
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    compressed = head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00"
    if compressed or head[257:262] == b"ustar":
        return "tar"
    raise UserError(
        f"{archive} is not a .tgz/.tar.gz/.tar/.zip archive (unrecognised first bytes). "
        f"Give an archive of image files."
    )


def extract_archive(
    archive: str | os.PathLike,
    dest: str | os.PathLike,
    *,
    limits: ExtractLimits | None = None,
    reserved: tuple[str, ...] = (),
) -> ExtractReport:
    """Extract ``archive`` into the new folder ``dest``, via a temporary folder beside it."""
    dest = Path(dest)
    if dest.exists():
        raise UserError(f"Cannot extract into {dest}: it already exists. Remove it or choose another folder.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.extract-", dir=dest.parent))
    try:
        report = extract_into(archive, tmp, limits=limits, reserved=reserved)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report


def extract_into(
    archive: str | os.PathLike,
    folder: str | os.PathLike,
    *,
    limits: ExtractLimits | None = None,
    reserved: tuple[str, ...] = (),
) -> ExtractReport:
    """Extract ``archive`` into the existing, empty ``folder`` with every member checked.

    ``reserved``: top-level names the caller writes there itself (a member so named is refused,
    so that the caller's own file is never confused with, or blocked by, the archive's).
    On error the folder may hold part of the archive: the caller extracts into a
    temporary folder and deletes it then.
    """
    archive, folder = Path(archive), Path(folder)
    writer = _Writer(archive, folder, limits or ExtractLimits(), reserved)
    fmt = detect_format(archive)
    try:
        if fmt == "zip":
            _extract_zip(archive, writer)
        else:
            _extract_tar(archive, writer)
    except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise UserError(
            f"{archive} is corrupt or truncated ({exc}). Download it again with --force."
        ) from None
    writer.finish_links()
    return writer.report


def safe_parts(name: str, archive: Path) -> tuple[str, ...]:
    """The path components of member ``name``, or a UserError if it would land outside."""
    if "\x00" in name:
        raise _refuse(archive, name, "its name contains a NUL byte")
    # Backslashes are separators on Windows: treat them so, so `..\..\x` cannot slip by.
    norm = name.replace("\\", "/")
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm):
        raise _refuse(archive, name, "it has an absolute path")
    parts = tuple(p for p in norm.split("/") if p not in ("", "."))
    if ".." in parts:
        raise _refuse(archive, name, "its path climbs out of the destination with '..'")
    return parts


def _refuse(archive: Path, member: str, why: str) -> UserError:
    return UserError(
        f"Refusing to extract {archive}: member {member!r} is unsafe because {why}. "
        f"Nothing was kept. Use an archive from a trusted source."
    )


def _link_target(archive: Path, member: str, link: str, base: tuple[str, ...]) -> tuple[str, ...]:
    """Resolve a link's target relative to ``base``; refuse it if it points outside."""
    if not link or link.startswith("/") or re.match(r"^[A-Za-z]:", link.replace("\\", "/")):
        raise _refuse(archive, member, f"it links to the absolute path {link!r}")
    joined = posixpath.normpath(posixpath.join(*base, link.replace("\\", "/")) if base else link)
    if joined == ".." or joined.startswith("../") or joined.startswith("/"):
        raise _refuse(archive, member, f"it links outside the destination ({link!r})")
    return tuple(p for p in joined.split("/") if p not in ("", "."))


class _Writer:
    """Writes checked members below ``folder`` and keeps the size budget."""

    def __init__(
        self, archive: Path, folder: Path, limits: ExtractLimits, reserved: tuple[str, ...] = ()
    ) -> None:
        self.archive = archive
        self.folder = folder
        self.real_folder = os.path.realpath(folder)
        self.limits = limits
        self.archive_size = max(archive.stat().st_size, 1)
        self.report = ExtractReport()
        self.declared = 0
        self.members = 0
        self.links: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = []
        self.seen: dict[tuple[str, ...], str] = {}  # path written -> the member that wrote it
        self.reserved = reserved
        limits = self.limits
        by_size = max(limits.member_floor, self.archive_size // max(limits.min_bytes_per_member, 1))
        self.max_members = min(limits.max_members, by_size)

    # -- budget -------------------------------------------------------------------
    def count_member(self, name: str, parts: tuple[str, ...]) -> None:
        """Count a member against the limits, and refuse one that takes a reserved name."""
        self.members += 1
        if self.members > self.max_members:
            size = f"{self.archive_size:,}-byte archive"
            raise self._bomb(name, f"more than {self.max_members:,} members in a {size}")
        if parts and parts[0] in self.reserved:
            raise _refuse(self.archive, name, f"{parts[0]!r} is a name gan writes there itself")

    def declare(self, name: str, size: int) -> None:
        """Account for a member's declared size before writing it."""
        if size < 0:
            raise _refuse(self.archive, name, "it declares a negative size")
        self.declared += size
        self._check(name, self.declared, "declared")

    def _check(self, name: str, total: int, what: str) -> None:
        limits = self.limits
        if total > limits.max_total_bytes:
            raise self._bomb(
                name, f"{what} uncompressed total {total:,} bytes > limit {limits.max_total_bytes:,}"
            )
        ratio = total / self.archive_size
        if total > limits.ratio_floor_bytes and ratio > limits.max_ratio:
            raise self._bomb(name, f"{what} expansion ratio {ratio:,.0f}:1 > limit {limits.max_ratio:,.0f}:1")

    def _bomb(self, name: str, why: str) -> UserError:
        return UserError(
            f"Refusing to extract {self.archive}: it looks like a decompression bomb at member "
            f"{name!r} ({why}). Nothing was kept. If the archive is genuine, raise the limits with "
            f"$GAN_EXTRACT_MAX_BYTES / $GAN_EXTRACT_MAX_RATIO."
        )

    # -- paths ----------------------------------------------------------------------
    def _target(self, name: str, parts: tuple[str, ...]) -> Path:
        target = self.folder.joinpath(*parts)
        # Defence in depth: the checks above already exclude this, and no links are made.
        real = os.path.realpath(target)
        if os.path.commonpath([self.real_folder, real]) != self.real_folder:
            raise _refuse(self.archive, name, "it resolves outside the destination")
        return target

    def _make_dirs(self, name: str, parts: tuple[str, ...]) -> None:
        current = self.folder
        for part in parts:
            current = current / part
            try:
                current.mkdir(mode=0o755)
            except FileExistsError:
                if not current.is_dir() or current.is_symlink():
                    raise UserError(
                        f"Cannot extract {self.archive}: member {name!r} needs {current.name!r} to be a "
                        f"folder, but the archive also has a file of that name."
                    ) from None

    def mkdir(self, name: str, parts: tuple[str, ...]) -> None:
        self._target(name, parts)
        self._make_dirs(name, parts)

    def write(self, name: str, parts: tuple[str, ...], source: IO[bytes], limit: int | None = None) -> None:
        """Copy ``source`` to the member's path, counting every byte against the budget."""
        if not parts:
            return
        target = self._target(name, parts)
        self._make_dirs(name, parts[:-1])
        if target.is_dir():
            raise UserError(
                f"Cannot extract {self.archive}: member {name!r} is a file where the archive "
                f"already has a folder of that name."
            )
        rel = "/".join(parts)
        if parts in self.seen:
            raise UserError(
                f"Refusing to extract {self.archive}: it holds two files named {rel!r} (members "
                f"{self.seen[parts]!r} and {name!r}), and installing either would silently drop the "
                f"other. Nothing was kept. Rebuild the archive with one file per name."
            )
        flags = (
            os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        )
        try:
            fd = os.open(target, flags, 0o644)
            written = 0
            with os.fdopen(fd, "wb") as out:
                while True:
                    chunk = source.read(_CHUNK)
                    if not chunk:
                        break
                    written += len(chunk)
                    if limit is not None and written > limit:
                        raise _refuse(self.archive, name, "it holds more bytes than it declares")
                    self.report.total_bytes += len(chunk)
                    self._check(name, self.report.total_bytes, "actual")
                    out.write(chunk)
        except OSError as exc:
            error = write_error(target, exc, f"Nothing of {self.archive.name} was installed.", place=False)
            if error is None:
                raise
            raise error from None
        self.seen[parts] = name
        self.report.files.append(rel)

    # -- links ----------------------------------------------------------------------
    def add_link(self, name: str, parts: tuple[str, ...], target: tuple[str, ...]) -> None:
        """Remember an inside link; it becomes a copy once all files are written."""
        self.links.append((name, parts, target))

    def finish_links(self) -> None:
        for name, parts, target in self.links:
            source = self.folder.joinpath(*target)
            if not target or source.is_symlink() or not source.is_file():
                self.report.links_skipped.append(name)
                continue
            self.declare(name, source.stat().st_size)
            with open(source, "rb") as handle:
                self.write(name, parts, handle)
            self.report.links_copied.append("/".join(parts))


def _extract_tar(archive: Path, writer: _Writer) -> None:
    data_filter = getattr(tarfile, "data_filter", None)
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:  # streamed: one pass, each member checked before it is written
            name = member.name
            parts = safe_parts(name, archive)
            writer.count_member(name, parts)
            target = _tar_link_target(archive, member, parts)
            if data_filter is not None:
                try:
                    data_filter(member, str(writer.folder))
                except tarfile.FilterError as exc:
                    raise _refuse(archive, name, f"Python's tarfile data filter rejects it ({exc})") from None
            if member.isdir():
                writer.mkdir(name, parts)
            elif member.issym() or member.islnk():
                if parts:
                    writer.add_link(name, parts, target)
            else:
                writer.declare(name, member.size)
                source = tar.extractfile(member)
                if source is None:  # cannot happen for regular files; refuse rather than guess
                    raise _refuse(archive, name, "its content cannot be read")
                with source:
                    writer.write(name, parts, source, limit=member.size)


def _tar_link_target(
    archive: Path, member: tarfile.TarInfo, parts: tuple[str, ...]
) -> tuple[str, ...] | None:
    """A link member's checked target (None for a file or folder); a special file is refused."""
    if member.issym():
        return _link_target(archive, member.name, member.linkname, parts[:-1])
    if member.islnk():
        # A hard link's target is relative to the archive root, not the member.
        return _link_target(archive, member.name, member.linkname, ())
    if not (member.isreg() or member.isdir()):
        raise _refuse(archive, member.name, "it is a device file, FIFO or other special file")
    return None


def _extract_zip(archive: Path, writer: _Writer) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        # The central directory gives every declared size and the member count up front:
        # fail before writing.
        if len(infos) > writer.max_members:
            raise writer._bomb(
                infos[writer.max_members].filename, f"more than {writer.max_members:,} members"
            )
        declared = 0
        for info in infos:
            declared += max(info.file_size, 0)
            writer._check(info.filename, declared, "declared")
        for info in infos:
            name = info.filename
            parts = safe_parts(name, archive)
            writer.count_member(name, parts)
            if info.flag_bits & 0x1:
                raise UserError(
                    f"Cannot extract {archive}: member {name!r} is encrypted. Use an unencrypted archive."
                )
            mode = (info.external_attr >> 16) & 0xFFFF if info.create_system == 3 else 0
            kind = stat.S_IFMT(mode)
            if name.endswith("/") or kind == stat.S_IFDIR:  # not info.is_dir(): it fails on an empty name
                writer.mkdir(name, parts)
            elif kind == stat.S_IFLNK:
                with zf.open(info) as handle:
                    link = handle.read(_MAX_LINK_TARGET + 1)
                if len(link) > _MAX_LINK_TARGET:
                    raise _refuse(archive, name, "its link target is implausibly long")
                target = _link_target(archive, name, link.decode("utf-8", "replace"), parts[:-1])
                if parts:
                    writer.add_link(name, parts, target)
            elif kind not in (0, stat.S_IFREG):
                raise _refuse(archive, name, "it is a device file, FIFO or other special file")
            else:
                writer.declare(name, info.file_size)
                with zf.open(info) as handle:
                    writer.write(name, parts, handle, limit=info.file_size)
