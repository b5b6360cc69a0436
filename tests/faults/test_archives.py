"""Archive member checks, extended: special files and duplicates in zips (tests/data/test_extract.py
covers them in tars), and property tests over random tar and zip archives.

Promise for ANY archive: extraction either refuses it (UserError, nothing kept) or writes only
regular files and folders inside the destination; nothing outside it changes.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gancli.data.extract import extract_archive
from gancli.errors import UserError


def zip_bytes(members: list[tuple[str, bytes, int]]) -> bytes:
    """members: (name, data, st_mode); a non-zero mode is stored as a Unix mode."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names: that is the point
        with zipfile.ZipFile(buf, "w") as zf:
            for name, data, mode in members:
                info = zipfile.ZipInfo(name)
                if mode:
                    info.create_system = 3
                    info.external_attr = mode << 16
                zf.writestr(info, data)
    return buf.getvalue()


def snapshot(box: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(box)): (p.read_bytes() if p.is_file() and not p.is_symlink() else None)
        for p in sorted(box.rglob("*"))
    }


@pytest.mark.parametrize(
    "mode", [stat.S_IFCHR | 0o666, stat.S_IFBLK | 0o660, stat.S_IFIFO | 0o644, stat.S_IFSOCK | 0o755]
)
def test_zip_special_files_are_refused(mode, tmp_path):
    archive = tmp_path / "a.zip"
    archive.write_bytes(zip_bytes([("ok.png", b"x", 0), ("dev", b"", mode)]))
    with pytest.raises(UserError, match="device file, FIFO or other special file"):
        extract_archive(archive, tmp_path / "dest")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip"]


def test_zip_duplicate_names_are_refused(tmp_path):
    """#12 item 14: not "last one wins" (silently) but a refusal naming both members."""
    archive = tmp_path / "a.zip"
    archive.write_bytes(zip_bytes([("d/a.png", b"first", 0), ("d/./a.png", b"second", 0)]))
    with pytest.raises(
        UserError, match=r"two files named 'd/a\.png' \(members 'd/a\.png' and 'd/\./a\.png'\)"
    ):
        extract_archive(archive, tmp_path / "dest")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip"]


# ---------------------------------------------------------------- properties

PIECES = ["a", "b.png", "..", ".", "", "victim.txt", "C:", "\\..", "/"]
names = st.lists(st.sampled_from(PIECES), min_size=1, max_size=4).map("/".join)
KINDS = ["file", "file", "dir", "symlink", "hardlink", "fifo", "chr"]
tar_members = st.lists(
    st.tuples(st.sampled_from(KINDS), names, names, st.binary(max_size=16)), min_size=1, max_size=6
)


def tar_bytes(members) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for kind, name, target, data in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                continue
            info.type = {
                "dir": tarfile.DIRTYPE,
                "symlink": tarfile.SYMTYPE,
                "hardlink": tarfile.LNKTYPE,
                "fifo": tarfile.FIFOTYPE,
                "chr": tarfile.CHRTYPE,
            }[kind]
            info.linkname = target if kind in ("symlink", "hardlink") else ""
            tar.addfile(info)
    return buf.getvalue()


def check_contained(box: Path, archive: Path, before: dict) -> None:
    dest = box / "dest"
    try:
        extract_archive(archive, dest)
    except UserError:
        assert snapshot(box) == before  # refused: nothing kept, no temporary folder
        return
    real = os.path.realpath(dest)
    for path in dest.rglob("*"):
        assert not path.is_symlink(), path  # links become copies or are skipped
        assert path.is_file() or path.is_dir(), path  # no device, FIFO or socket
        assert os.path.realpath(path).startswith(real + os.sep)
    outside = {k: v for k, v in snapshot(box).items() if k != "dest" and not k.startswith("dest" + os.sep)}
    assert outside == before


def sandbox(tmp_path_factory) -> Path:
    box = tmp_path_factory.mktemp("box")
    (box / "victim.txt").write_text("original")
    return box


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tar_members)
def test_any_tar_is_refused_or_contained(tmp_path_factory, members):
    box = sandbox(tmp_path_factory)
    archive = box / "a.tar"
    archive.write_bytes(tar_bytes(members))
    check_contained(box, archive, snapshot(box))


ZIP_MODES = [
    0,
    stat.S_IFREG | 0o644,
    stat.S_IFDIR | 0o755,
    stat.S_IFLNK | 0o777,
    stat.S_IFIFO | 0o644,
    stat.S_IFCHR | 0o600,
]
zip_members = st.lists(
    st.tuples(names, st.sampled_from(ZIP_MODES), names | st.binary(max_size=16)), min_size=1, max_size=6
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(zip_members)
def test_any_zip_is_refused_or_contained(tmp_path_factory, members):
    box = sandbox(tmp_path_factory)
    archive = box / "a.zip"
    # a symlink's data is its target; a name ending in "/" is a folder in a zip
    archive.write_bytes(
        zip_bytes(
            [(name, data.encode() if isinstance(data, str) else data, mode) for name, mode, data in members]
        )
    )
    check_contained(box, archive, snapshot(box))
