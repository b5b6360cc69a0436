"""A full disk / a file-size limit while writing a checkpoint, a sample grid, the dataset cache,
a download and an extracted archive.

Each write runs in a real child process (a fork of the session's zygote) under
`setrlimit(RLIMIT_FSIZE)` with SIGXFSZ ignored, so the write fails with EFBIG exactly as a
full disk fails with ENOSPC. Promise: a one-paragraph error naming the file and "disk full or
file-size limit", a non-zero exit, the previous file byte-identical, no temporary file left,
and the same command without the limit then succeeds (nothing was lost).
"""

from __future__ import annotations

import pytest
from faults.faultkit import (
    Served,
    assert_clean_error,
    files_digest,
    http_server,
    make_tgz,
    png_bytes,
    sha256,
    temp_files,
)

from gancli.data import registry
from gancli.training.checkpoint import load_checkpoint

FULL = "disk full or file-size limit"


@pytest.fixture
def trained_run(tmp_path, write_config, cli):
    """A tiny run with last.pt (iteration 6) and previous.pt (iteration 3)."""
    run = tmp_path / "run"
    res = cli("train", "--config", write_config(iters=6, checkpoint_every=3), "--out", run)
    assert res.code == 0, res.text
    return run


def test_checkpoint_write_past_the_limit_keeps_both_checkpoints(trained_run, zygote, cli):
    ckpts = trained_run / "checkpoints"
    before = files_digest(ckpts)
    assert (
        ckpts / "last.pt"
    ).stat().st_size > 100_000  # so a 100 kB limit stops the checkpoint, not the small files
    res = zygote.run("train", "--resume", trained_run, "--iters", "9", fsize=100_000)
    assert_clean_error(res, str(ckpts / "last.pt"), FULL, "is intact", code=2)
    assert files_digest(ckpts) == before  # last.pt and previous.pt byte-identical
    assert not temp_files(trained_run), temp_files(trained_run)
    again = cli("train", "--resume", trained_run, "--iters", "9")  # room again: it continues
    assert again.code == 0, again.text
    assert load_checkpoint(ckpts / "last.pt")["iteration"] == 9


def test_sample_grid_past_the_limit_keeps_the_old_grid(trained_run, tmp_path, zygote, cli):
    grid = tmp_path / "grid.png"
    assert cli("sample", trained_run, "--out", grid, "--seed", "1").code == 0
    old = grid.read_bytes()
    assert len(old) > 8192
    res = zygote.run("sample", trained_run, "--out", grid, "--seed", "2", "--force", fsize=8192)
    assert_clean_error(res, str(grid), FULL, "grid.png was not changed")
    assert grid.read_bytes() == old
    assert not temp_files(tmp_path), temp_files(tmp_path)


def test_dataset_cache_past_the_limit_leaves_the_cache_folder_as_it_was(tmp_path, zygote, cli):
    folder, root = tmp_path / "photos", tmp_path / "root"
    folder.mkdir()
    for i in range(40):
        (folder / f"{i:02d}.png").write_bytes(png_bytes(i))
    assert cli("data", "info", folder, "--resolution", "16", "--root", root).code == 0
    prepared = root / "prepared"
    (cache,) = prepared.glob("*.pt")
    cache.write_bytes(cache.read_bytes()[:5000])  # damaged: it must be rebuilt, and that write fails
    before = files_digest(prepared)
    res = zygote.run("data", "info", folder, "--resolution", "16", "--root", root, fsize=8192)
    assert_clean_error(res, str(cache), FULL, "being rebuilt")  # why it was writing at all
    assert files_digest(prepared) == before and not temp_files(root)
    rebuilt = cli("data", "info", folder, "--resolution", "16", "--root", root)
    assert rebuilt.code == 0 and "rebuilt" in rebuilt.text


def test_download_past_the_limit_resumes_and_keeps_the_installed_copy(tmp_path, zygote, cli):
    archive = make_tgz({f"photos/{i}.png": png_bytes(i, 32) for i in range(8)})
    assert len(archive) > 20_000
    served = Served(archive)
    root = tmp_path / "root"
    with http_server({"/photos.tgz": served}) as base:
        args = (
            "download",
            f"{base}/photos.tgz",
            "--name",
            "photos",
            "--sha256",
            sha256(archive),
            "--root",
            root,
            "--quiet",
        )
        res = zygote.run(*args, fsize=8192)
        assert_clean_error(res, "photos.tgz.part", FULL, "download resumes")
        assert registry.find_downloaded("photos", root) is None
        assert cli(*args).code == 0  # room again: the bytes already fetched are kept and resumed
        assert served.ranges == [None, "bytes=8192-"]
        installed = registry.dataset_dir("photos", root)
        before = files_digest(installed)
        res = zygote.run(*args, "--force", fsize=8192)  # a new copy cannot be written: the old one stays
        assert_clean_error(res, "photos.tgz.part", FULL)
    assert files_digest(installed) == before
    assert not [p for p in temp_files(root) if not p.name.endswith(".part")]


def test_extraction_past_the_limit_installs_nothing(tmp_path, zygote):
    archive = make_tgz({"big/zeros.png": bytes(300_000)})  # tiny compressed, 300 kB extracted
    assert len(archive) < 8192
    root = tmp_path / "root"
    with http_server({"/zeros.tgz": Served(archive)}) as base:
        res = zygote.run(
            "download",
            f"{base}/zeros.tgz",
            "--name",
            "zeros",
            "--sha256",
            sha256(archive),
            "--root",
            root,
            "--quiet",
            fsize=65536,
        )
    assert_clean_error(res, "zeros.png", FULL, "Nothing of zeros.tgz was installed")
    assert registry.find_downloaded("zeros", root) is None
    assert not (root / "datasets" / "zeros").exists() and not temp_files(root / "datasets")


def test_enospc_from_a_full_disk_reads_the_same(trained_run, monkeypatch, tmp_path):
    """ENOSPC (a full disk) rather than EFBIG (a limit): the same message and the same guarantees."""
    import errno
    import os

    from gancli.errors import UserError
    from gancli.fsutil import atomic_write_bytes
    from gancli.training.checkpoint import save_checkpoint

    ckpts = trained_run / "checkpoints"
    before = files_digest(ckpts)
    payload = load_checkpoint(ckpts / "last.pt")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(UserError, match=f"last.pt: {FULL} reached \\(No space left on device\\)"):
        save_checkpoint(trained_run, {k: v for k, v in payload.items() if k not in ("format", "version")})
    target = tmp_path / "grid.png"
    target.write_bytes(b"old")
    with pytest.raises(UserError, match="grid.png was not changed"):
        atomic_write_bytes(target, b"new")
    assert files_digest(ckpts) == before and target.read_bytes() == b"old"
    assert not temp_files(trained_run) and not temp_files(tmp_path)
