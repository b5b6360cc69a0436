"""Round three of hostile input (issue 20): no file of the user's replaced without --force, no
write through a link at any depth of a run, counts bounded before anything is allocated,
control characters escaped, and checkpoints, weights and statistics files checked for what
they hold. Each test failed before its fix."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import yaml
from conftest import run_cli, tiny_config_dict, trained_run
from faults.faultkit import assert_clean_error

from gancli.training.checkpoint import load_checkpoint, save_checkpoint


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One tiny trained run shared by the tests of this module (seconds to train)."""
    return trained_run(tmp_path_factory, "round3", iters=3)


# ---------------------------------------------------------------- links at any depth (broken 1)


def test_export_does_not_write_through_a_folder_link_inside_the_run(run, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "generator.torchscript.pt").write_bytes(b"the user's file")
    link = run / "export"
    link.symlink_to(outside, target_is_directory=True)
    try:
        for extra in ((), ("--force",)):
            res = run_cli("export", run, "--format", "torchscript", *extra)
            assert_clean_error(res, f"{link} is a symbolic link", "Remove the link")
    finally:
        link.unlink()
    assert sorted(p.name for p in outside.iterdir()) == ["generator.torchscript.pt"]
    assert (outside / "generator.torchscript.pt").read_bytes() == b"the user's file"


# ---------------------------------------------------------------- user-named outputs (broken 5)


def test_sample_never_replaces_a_file_without_force(run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path = type(tmp_path)
    Path("samples.png").write_bytes(b"mine")
    assert_clean_error(run_cli("sample", run, "-n", "4"), "--out samples.png already exists", "--force")
    assert Path("samples.png").read_bytes() == b"mine"
    od = tmp_path / "od"
    od.mkdir()
    for name in ("0.png", "1.png"):
        (od / name).write_bytes(b"mine")
    res = run_cli("sample", run, "-n", "4", "--out", od / "grid.png", "--out-dir", od)
    assert_clean_error(res, "--out-dir", "0.png", "1.png", "already exist", "--force")
    assert sorted(p.name for p in od.iterdir()) == ["0.png", "1.png"]
    assert all((od / n).read_bytes() == b"mine" for n in ("0.png", "1.png"))
    res = run_cli("sample", run, "-n", "4", "--out", od / "grid.png", "--out-dir", od, "--force")
    assert res.code == 0, res.text
    assert (od / "0.png").read_bytes()[:4] == b"\x89PNG" and (od / "grid.png").is_file()


def test_data_info_and_export_ref_never_replace_a_file_without_force(tmp_path):
    mine = tmp_path / "mine.png"
    mine.write_bytes(b"mine")
    res = run_cli("data", "info", "shapes", "--resolution", "8", "--out", mine)
    assert_clean_error(res, f"--out {mine} already exists", "--force")
    stats = tmp_path / "ref.npz"
    stats.write_bytes(b"mine")
    # a weights file that exists, so that gan score goes past its first check (weights found)
    weights = tmp_path / "weights.pth"
    weights.write_bytes(b"not read before the output check")
    res = run_cli("score", tmp_path, "--ref", "shapes", "--export-ref", stats, "--weights", weights)
    assert_clean_error(res, f"--export-ref {stats} already exists", "--force")
    assert mine.read_bytes() == stats.read_bytes() == b"mine"
    res = run_cli("data", "info", "shapes", "--resolution", "8", "-n", "4", "--out", mine, "--force")
    assert res.code == 0, res.text
    assert mine.read_bytes()[:4] == b"\x89PNG"


def test_export_out_a_folder_empty_or_a_link_loop_is_named(run, tmp_path, monkeypatch):
    res = run_cli("export", run, "--format", "torchscript", "--out", tmp_path, "--force")
    assert_clean_error(res, f"--out {tmp_path} is a folder", "give the name of a file")
    monkeypatch.chdir(tmp_path)
    res = run_cli("export", run, "--format", "torchscript", "--out", "")
    assert "already exists" not in res.text
    assert_clean_error(res, "--out . is a folder")
    (tmp_path / "s7").mkdir()
    (tmp_path / "s7" / "loop1").symlink_to("loop1")
    res = run_cli("export", run, "--format", "torchscript", "--out", "s7/loop1/x.pt")
    assert_clean_error(res, "s7/loop1", "leads back to itself")


# ---------------------------------------------------------------- paths (broken 6, weak: ~)


@pytest.mark.parametrize("out", [".", "./"])
def test_out_dot_on_a_folder_of_files_suggests_a_new_name(tmp_path, monkeypatch, out):
    (tmp_path / "notes.txt").write_text("mine")
    monkeypatch.chdir(tmp_path)
    res = run_cli("train", "--preset", "quick", "--out", out, "--iters", "1")
    flat = assert_clean_error(res, "is not empty and is not a gan run folder", "notes.txt")
    assert f"--out {tmp_path}-2" in flat


def test_unused_name_of_the_root_folder():
    from pathlib import Path

    from gancli.runs import unused_name

    assert unused_name(Path("/")).parent == Path("/") and unused_name(Path("/")).name.startswith("run-")


def test_tilde_in_out_is_expanded_and_an_unknown_user_refused(run, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    res = run_cli("sample", run, "-n", "4", "--out", "~/y.png")
    assert res.code == 0, res.text
    assert (tmp_path / "home" / "y.png").is_file() and not (tmp_path / "~").exists()
    for args in (
        ("sample", run, "-n", "4", "--out", "~nosuchuser/x.png"),
        ("export", run, "--format", "torchscript", "--out", "~nosuchuser/x.pt"),
        ("train", "--preset", "quick", "--iters", "1", "--out", "~nosuchuser/x"),
    ):
        assert_clean_error(run_cli(*args), "~nosuchuser/x", "no user 'nosuchuser'")
    assert not any(p.name.startswith("~") for p in tmp_path.iterdir())


def test_resume_empty_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_clean_error(run_cli("train", "--resume", "", "--iters", "1"), "--resume is empty")
    assert not (tmp_path / "runs").exists()


# ---------------------------------------------------------------- counts (broken 3)


def test_score_n_and_train_score_n_are_bounded_before_allocating(tmp_path, write_config, monkeypatch):
    weights = tmp_path / "weights.pth"  # exists, so gan score goes past its first check
    weights.write_bytes(b"not read before the counts are checked")
    monkeypatch.setenv("GAN_INCEPTION_WEIGHTS", str(weights))
    res = run_cli("score", tmp_path, "--ref", "shapes", "-n", "1000000000")
    assert_clean_error(res, "Scoring 1,000,000,000 images (-n 1000000000)", "of memory", "fewer images")
    res = run_cli("score", tmp_path, "--ref", "shapes", "--kid-subsets", "1000000000000")
    assert_clean_error(res, "--kid-subsets is 1000000000000", "1 to 100,000 subsets")
    res = run_cli("score", tmp_path, "--ref", "shapes", "--batch-size", "1000000000")
    assert_clean_error(res, "--batch-size is 1,000,000,000", "at most 1,024")
    config = write_config(score_every=2, score_n=1_000_000_000)
    res = run_cli("train", "--config", config, "--out", tmp_path / "run")
    assert_clean_error(res, "train.score_n", "1000000000", "of memory")
    assert not (tmp_path / "run").exists()


def test_generated_images_are_scored_batch_by_batch(run):
    from gancli.metrics.scoring import ScoreRequest, _target, _target_batches

    request = ScoreRequest(target=run, ref="shapes", n=12, batch_size=5)
    target = _target(request, torch.device("cpu"), print)
    assert (target.n, target.channels, target.resolution, target.kind) == (12, 3, 16, "generator")
    batches, _ = _target_batches(target, request, torch.device("cpu"), None)
    assert not torch.is_tensor(batches)
    assert [b.shape[0] for b in batches] == [5, 5, 2]


# ---------------------------------------------------------------- files that are not what they claim


def test_a_text_file_as_inception_weights_is_named(tmp_path, monkeypatch):
    words = tmp_path / "words.pth"
    words.write_text("these are words, not weights\n")
    res = run_cli("score", tmp_path, "--ref", "shapes", "--weights", words)
    assert_clean_error(res, f"{words} is not an Inception weights file (it is a text file)")
    from gancli.config import from_dict
    from gancli.errors import UserError
    from gancli.metrics.during_training import TrainingScorer

    monkeypatch.setenv("GAN_INCEPTION_WEIGHTS", str(words))
    with pytest.raises(UserError, match="not an Inception weights file"):
        TrainingScorer(from_dict(tiny_config_dict(score_every=2)), torch.device("cpu"))


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_in_a_checkpoint_are_named(run, tmp_path, value):
    payload = load_checkpoint(run / "checkpoints" / "last.pt")
    payload.pop("format"), payload.pop("version")
    key = next(k for k, v in payload["generator"].items() if v.is_floating_point())
    payload["generator"][key] = payload["generator"][key].clone().fill_(value)
    bad = tmp_path / "bad"
    path = save_checkpoint(bad, payload)
    shown = "NaN" if value != value else "inf"
    for args in (
        ("sample", path, "--out", tmp_path / "g.png"),
        ("export", path, "--format", "torchscript", "--out", tmp_path / "g.pt"),
    ):
        assert_clean_error(run_cli(*args), f"Checkpoint {path} is damaged: generator.{key} holds {shown}")
    assert not (tmp_path / "g.png").exists() and not (tmp_path / "g.pt").exists()


# ---------------------------------------------------------------- messages


def test_control_characters_in_messages_are_escaped(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({**tiny_config_dict(), "\x1b]0;pwned\x07key\nline": 1}))
    res = run_cli("train", "--config", config, "--out", tmp_path / "run")
    assert "\x1b" not in res.text and "\x07" not in res.text
    assert_clean_error(res, "\\x1b]0;pwned\\x07key\\nline")
    from gancli.errors import UserError, printable

    assert printable("a\x1b]0;title\x07b\nc") == "a\\x1b]0;title\\x07b\\nc"
    assert "\x1b" not in str(UserError("bad \x1b[31mred"))


def test_suggested_commands_are_shell_quoted(run, tmp_path):
    from gancli.runs import RunFolder

    odd = tmp_path / "my run; rm -rf x"
    odd.mkdir()
    (odd / "checkpoints").mkdir()
    (odd / "checkpoints" / "last.pt").write_bytes((run / "checkpoints" / "last.pt").read_bytes())
    with pytest.raises(Exception, match="--resume '") as info:
        RunFolder(odd).check_new()
    assert f"`gan train --resume '{odd}'`" in str(info.value)


def test_data_info_names_only_the_broken_constraints():
    flat = assert_clean_error(
        run_cli("data", "info", "shapes", "--channels", "2"), "--channels must be 1 or 3 (got 2)"
    )
    assert "--resize" not in flat and "--resolution" not in flat and "-n " not in flat


def test_negative_reference_covariance_is_refused(tmp_path):
    from gancli.metrics.reference import load_reference

    stats = tmp_path / "neg.npz"
    np.savez(stats, mu=np.zeros(4), sigma=-np.eye(4))
    with pytest.raises(Exception, match="positive semi-definite"):
        load_reference(stats)
    text = tmp_path / "x.npz"
    text.write_text("not numbers")
    with pytest.raises(Exception, match="not a statistics file") as info:
        load_reference(text)
    assert "allow_pickle" not in str(info.value)
    assert os.path.exists(stats)


# ---------------------------------------------------------------- pictures at the end of a run (broken 4)


class _Log:
    records: list = []


def _grids(run_dir, count):
    from gancli.reporting.grids import make_grid, save_png
    from gancli.runs import RunFolder

    run = RunFolder(run_dir)
    for i in range(count):
        save_png(make_grid(torch.full((1, 3, 8, 8), i, dtype=torch.uint8)), run.sample(i + 1))
    return run


def test_checkpoints_queue_at_most_one_gif_redraw(tmp_path, monkeypatch):
    import time

    from gancli.reporting import artifacts

    calls = []

    def slow_gif(paths, out, **kwargs):
        calls.append(len(paths))
        time.sleep(0.2)

    monkeypatch.setattr(artifacts, "write_progress_gif", slow_gif)
    writer = artifacts.ArtifactWriter(tmp_path, _Log())
    for i in range(20):
        writer.on_checkpoint(i, tmp_path / "last.pt")
    writer.on_end(None)
    assert len(calls) <= 3, calls  # one running, one waiting; the end's redraw may be a third


def test_a_second_ctrl_c_abandons_pending_pictures(tmp_path, monkeypatch):
    import threading
    import time

    from gancli.errors import UserError
    from gancli.reporting import artifacts, gif

    run = _grids(tmp_path, 60)
    started, original = threading.Event(), gif._frame

    def slow_frame(path, *args):
        started.set()
        time.sleep(0.05)  # 60 frames: 3 s a redraw
        return original(path, *args)

    monkeypatch.setattr(gif, "_frame", slow_frame)
    writer = artifacts.ArtifactWriter(tmp_path, _Log())
    for i in range(5):
        writer.on_checkpoint(i, tmp_path / "last.pt")
        writer.on_samples(100 + i, torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    assert started.wait(5)
    begin = time.monotonic()
    error = UserError("Interrupted by a second Ctrl-C")
    error.__cause__ = KeyboardInterrupt()
    writer.close(UserError, error, None)
    for thread in writer.pool._threads:
        thread.join(5)
    assert time.monotonic() - begin < 1.0
    assert not run.progress_gif.exists() and len(run.sample_paths()) < 65


def test_an_unreadable_grid_is_told_once_in_one_line(tmp_path):
    from gancli.reporting import artifacts

    run = _grids(tmp_path, 3)
    run.sample(2).write_bytes(b"")
    told = []
    writer = artifacts.ArtifactWriter(tmp_path, _Log(), warn=told.append)
    writer.on_checkpoint(3, tmp_path / "last.pt")
    writer.flush()
    writer.on_end(None)
    assert len(told) == 1 and "iter_0000002.png cannot be read" in told[0] and "\n" not in told[0]
    assert run.progress_gif.is_file()


def test_a_checkpoints_data_root_is_never_used_on_resume(run, tmp_path):
    payload = load_checkpoint(run / "checkpoints" / "last.pt")
    payload.pop("format"), payload.pop("version")
    victim = tmp_path / "victim"
    payload["config"]["data"]["root"] = str(victim)
    loose = tmp_path / "loose.pt"
    loose.write_bytes(save_checkpoint(tmp_path / "crafted", payload).read_bytes())
    res = run_cli("train", "--resume", loose, "--iters", "4", "--out", tmp_path / "new")
    assert res.code == 0, res.text
    assert not victim.exists()
    assert yaml.safe_load((tmp_path / "new" / "config.yaml").read_text())["data"]["root"] != str(victim)


def test_nproc_is_bounded_by_the_cores_on_a_cpu(tmp_path, write_config, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    res = run_cli("train", "--config", write_config(), "--nproc", "8", "--out", tmp_path / "run")
    assert_clean_error(
        res, "--nproc 8", "2 core(s)", "--nproc 2 or fewer", "torchrun --standalone --nproc-per-node 8"
    )
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("members", [{}, {"README.txt": b"no pictures here"}])
def test_an_archive_without_images_is_not_installed(tmp_path, members):
    from faults.faultkit import make_tgz

    archive = tmp_path / "pics.tgz"
    archive.write_bytes(make_tgz(members))
    res = run_cli("download", "--name", "mine", "--from-file", archive, "--root", tmp_path / "root")
    assert_clean_error(res, "pics.tgz holds no image files", "nothing was installed")
    assert not (tmp_path / "root" / "datasets" / "mine").exists()
    assert "ready" not in res.text


def test_max_size_against_an_announced_size_says_so(tmp_path):
    from faults.faultkit import Served, http_server

    with http_server({"/a.tgz": Served(b"x" * 5000)}) as base:
        res = run_cli("download", f"{base}/a.tgz", "--name", "a", "--root", tmp_path, "--max-size", "1")
    flat = assert_clean_error(res, "the server announces 5,000 bytes", "allowed by --max-size")
    assert "not known in advance" not in flat


def test_score_of_a_folder_names_the_images_it_leaves_out(tmp_path):
    from faults.faultkit import png_bytes, png_with_header

    from gancli.metrics.scoring import ScoreRequest, _target

    for i in range(3):
        (tmp_path / f"{i}.png").write_bytes(png_bytes(i, 16))
    (tmp_path / "huge.png").write_bytes(png_with_header(12000, 10000))
    told = []
    request = ScoreRequest(target=tmp_path, ref="shapes", resolution=16)
    target = _target(request, torch.device("cpu"), told.append)
    assert target.n == 3 and target.images.shape[0] == 3 and len(told) == 1
    assert told[0].startswith("1 files skipped: huge.png (")


def test_control_characters_in_file_and_run_names_are_escaped(tmp_path, monkeypatch):
    from faults.faultkit import png_bytes

    evil = "\x1b]0;pwned\x07\x1b[2J"
    pics = tmp_path / "pics"
    pics.mkdir()
    for i in range(2):
        (pics / f"{i}.png").write_bytes(png_bytes(i, 16))
    (pics / f"{evil}.png").write_bytes(b"not a picture")
    res = run_cli("data", "info", pics, "--resolution", "8")
    assert res.code == 0, res.text
    assert "\x1b" not in res.text and "\x07" not in res.text and "\\x1b]0;pwned\\x07" in res.text
    runs = tmp_path / "runs"
    (runs / f"x{evil}" / "checkpoints").mkdir(parents=True)
    (runs / f"x{evil}" / "config.yaml").write_text(yaml.safe_dump(tiny_config_dict()))
    monkeypatch.setenv("COLUMNS", "200")
    res = run_cli("runs", runs)
    assert res.code == 0, res.text
    assert "\x1b" not in res.text and "\x07" not in res.text and "\\x1b]0;pwned" in res.text


def test_score_every_says_what_the_reference_costs_and_shows_progress(tmp_path, monkeypatch):
    """--score-every on a CPU: the projected cost is said before Inception starts, then counted."""
    from gancli.config import from_dict
    from gancli.metrics import during_training, reference
    from gancli.training.session import _announced

    cfg = from_dict(tiny_config_dict(score_every=2, score_n=300))
    told, counted, order = [], [], []

    class UI:
        def info(self, text):
            told.append(text)
            order.append("info")

    def fake_features(images, *args, progress=None, **kwargs):
        order.append("inception")
        progress(images.shape[0], images.shape[0])
        from gancli.metrics.features import features_from_arrays

        rng = np.random.default_rng(0)
        return features_from_arrays(
            rng.normal(size=(images.shape[0], 8)), rng.normal(size=(images.shape[0], 8))
        )

    monkeypatch.setattr(reference, "extract_features", fake_features)
    monkeypatch.setattr(during_training, "find_weights", lambda weights, root: tmp_path / "w.pth")
    monkeypatch.setattr(during_training, "load_inception", lambda path: torch.nn.Identity())
    monkeypatch.setattr(during_training, "weights_id", lambda path: "fake")
    progress = _announced(lambda done, total: counted.append((done, total)), UI(), cfg, torch.device("cpu"))
    during_training.TrainingScorer(cfg, torch.device("cpu"), progress=progress)
    assert order[:2] == ["info", "inception"] and len(told) == 1
    assert "64 training images" in told[0] and "0.1 s an image" in told[0] and "300 images of each" in told[0]
    assert counted == [(0, 64), (64, 64)]


def test_a_folder_without_the_marker_is_resumed_only_with_adopt(run, tmp_path):
    old = tmp_path / "old"
    (old / "checkpoints").mkdir(parents=True)
    (old / "checkpoints" / "last.pt").write_bytes((run / "checkpoints" / "last.pt").read_bytes())
    config = "# my comments\n" + yaml.safe_dump(tiny_config_dict(iters=3))
    mine = {"metrics.jsonl": b"my notes\n", "progress.gif": b"my gif", "config.yaml": config.encode()}
    for name, data in mine.items():
        (old / name).write_bytes(data)
    res = run_cli("train", "--resume", old, "--iters", "4")
    assert_clean_error(res, f"{old} holds a checkpoint but not the .gan-run marker", "--adopt")
    assert all((old / name).read_bytes() == data for name, data in mine.items())
    assert not (old / ".gan-run").exists()
    res = run_cli("train", "--resume", old, "--iters", "4", "--adopt")
    assert res.code == 0, res.text
    assert (old / ".gan-run").is_file()


def test_a_second_ctrl_c_with_slow_pictures_pending_stops_at_once(tmp_path, write_config, monkeypatch):
    """`--checkpoint-every 1 --sample-every 1` with a slow GIF writer: the second Ctrl-C (inside
    the final checkpoint's write) returns at once instead of waiting for every queued redraw."""
    import signal
    import time

    from gancli.reporting import artifacts
    from gancli.training import checkpoint as ckpt_mod

    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    redraws, saves, second = [], [], []
    real_save = torch.save

    def slow_gif(paths, out, **kwargs):
        redraws.append(len(paths))
        time.sleep(0.5)

    def save(obj, f, *args, **kwargs):
        saves.append(1)
        if len(saves) == 6:
            signal.raise_signal(signal.SIGINT)  # the first Ctrl-C: stop after this step
        real_save(obj, f, *args, **kwargs)
        if len(saves) == 7:  # the final checkpoint: the second Ctrl-C
            second.append(time.monotonic())
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(artifacts, "write_progress_gif", slow_gif)
    monkeypatch.setattr(ckpt_mod.torch, "save", save)
    config = write_config(iters=1000, checkpoint_every=1, sample_every=1, log_every=1)
    res = run_cli("train", "--config", config, "--out", tmp_path / "run")
    waited = time.monotonic() - second[0]
    assert_clean_error(res, "Interrupted by a second Ctrl-C", code=130)
    assert waited < 0.8 and len(redraws) <= 3, (waited, redraws)
