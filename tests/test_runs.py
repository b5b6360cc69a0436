"""The run folder: one module spells its names, and gan writes only into folders that are its
own, never through a link, and never loses a good checkpoint or the user's files (issue #12)."""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path

import pytest
import yaml
from conftest import run_cli, tiny_config_dict

import gancli
from gancli import runs
from gancli.runs import RunFolder

SRC = Path(gancli.__file__).parent
NAMES = [
    runs.MARKER,
    runs.LOCK,
    runs.CONFIG,
    runs.METRICS,
    runs.SAMPLES,
    runs.CHECKPOINTS,
    runs.LAST,
    runs.PREVIOUS,
    runs.BEST,
    runs.PROGRESS_GIF,
    runs.CURVES,
    runs.TENSORBOARD,
    runs.STATE,
    runs.SAMPLE_PREFIX,
]


def _path_literals(tree: ast.AST) -> list[str]:
    """String literals that look like paths (no spaces), docstrings left out; an f-string is
    one literal with "{}" where its values go (f".{name}.lock" is not the name ".lock")."""
    skip = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            skip.add(id(body[0].value))  # a docstring (or a bare expression)
        if isinstance(node, ast.JoinedStr):
            skip.update(id(v) for v in node.values)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            found.append("".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            found.append(node.value)
    return [text for text in found if text and not re.search(r"\s", text)]


NOT_PATHS = {("reporting/tensorboard.py", "samples")}  # a TensorBoard tag, not a file name


@pytest.mark.parametrize("name", NAMES)
def test_each_run_folder_name_is_spelled_in_one_module(name):
    pattern = re.compile(rf"(^|/){re.escape(name)}($|/|\{{|\*)")
    spelled = sorted(
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if any(pattern.search(s) for s in _path_literals(ast.parse(path.read_text())))
        and (str(path.relative_to(SRC)), name) not in NOT_PATHS
    )
    assert spelled == ["runs.py"], spelled


def _config(tmp_path: Path, **train) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config_dict(**train)))
    return path


def _train(tmp_path: Path, *args, **train):
    return run_cli("train", "--config", _config(tmp_path, **train), *args)


# ---------------------------------------------------------------- 1: not a gan folder


def test_a_folder_of_the_users_files_is_refused_and_left_as_it_was(tmp_path):
    mine = tmp_path / "mine"
    (mine / "samples").mkdir(parents=True)
    files = {
        "config.yaml": "my: settings\n",
        "curves.png": "mine",
        "samples/iter_0000001.png": "mine",
        ".notes.tmp": "editor swap file",
    }
    for name, text in files.items():
        (mine / name).write_text(text)
    res = _train(tmp_path, "--out", mine, iters=3)
    assert res.code == 2, res.text
    text = " ".join(res.text.split())
    assert "is not empty and is not a gan run folder" in text and "config.yaml" in text
    assert f"--out {tmp_path / 'mine-2'}" in text  # a new name to use
    assert {name: (mine / name).read_text() for name in files} == files
    assert sorted(p.name for p in mine.iterdir()) == sorted(
        [".notes.tmp", "config.yaml", "curves.png", "samples"]
    )


def test_stale_temporary_files_are_removed_only_when_gan_made_them_in_a_gan_run(tmp_path):
    run = tmp_path / "run"
    assert _train(tmp_path, "--out", run, iters=3).code == 0
    ours = run / "checkpoints" / ".last.pt.gantmp-abc123.tmp"
    theirs = run / ".notes.tmp"
    ours.write_text("half-written")
    theirs.write_text("someone else's")
    assert run_cli("train", "--resume", run, "--iters", "6").code == 0
    assert not ours.exists() and theirs.read_text() == "someone else's"


def test_a_new_run_may_reuse_its_own_folder_that_never_reached_a_checkpoint(tmp_path):
    run = tmp_path / "run"
    RunFolder(run).claim()  # as left by a run killed before its first checkpoint
    RunFolder(run).metrics.write_text(json.dumps({"iteration": 2}) + "\n")
    res = _train(tmp_path, "--out", run, iters=4, checkpoint_every=100)
    assert res.code == 0, res.text
    iterations = [json.loads(line)["iteration"] for line in RunFolder(run).metrics.read_text().splitlines()]
    assert iterations == [2, 4]  # the earlier attempt's lines are gone: each iteration once


# ---------------------------------------------------------------- 2: loose checkpoints


def test_a_loose_checkpoint_starts_a_new_run_folder_and_leaves_its_own_folder_alone(tmp_path):
    run = tmp_path / "run"
    assert _train(tmp_path, "--out", run, iters=3).code == 0
    loose = tmp_path / "dir" / "a" / "b" / "model.pt"
    loose.parent.mkdir(parents=True)
    loose.write_bytes(RunFolder(run).last.read_bytes())
    new = tmp_path / "continued"
    res = run_cli("train", "--resume", loose, "--iters", "6", "--out", new)
    assert res.code == 0, res.text
    assert f"Resuming a new run folder {new} from iteration 3" in " ".join(res.text.split())
    assert sorted(p.name for p in (tmp_path / "dir").rglob("*")) == ["a", "b", "model.pt"]
    from gancli.training.checkpoint import load_checkpoint

    assert load_checkpoint(RunFolder(new).last)["iteration"] == 6


def test_resume_of_a_folder_that_is_not_a_gan_run_is_refused(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "config.yaml").write_text("x: 1\n")
    res = run_cli("train", "--resume", folder)
    assert res.code == 2 and "is not a gan run folder" in " ".join(res.text.split()), res.text
    assert sorted(p.name for p in folder.iterdir()) == ["config.yaml"]


# ---------------------------------------------------------------- 3: symlinks


@pytest.mark.parametrize(
    "name", [".lock", "metrics.jsonl", "config.yaml", "samples", "checkpoints", "curves.png"]
)
def test_nothing_is_written_through_a_link_in_a_run_folder(tmp_path, name):
    run = tmp_path / "run"
    assert _train(tmp_path, "--out", run, iters=3).code == 0
    target = tmp_path / "victim"
    (run / name).rename(target)  # the real file or folder, reached through a link
    (run / name).symlink_to(target)
    before = {p.name: p.read_bytes() for p in target.iterdir()} if target.is_dir() else target.read_bytes()
    res = run_cli("train", "--resume", run, "--iters", "6")
    assert res.code == 2, res.text
    assert f"{run / name} is a symbolic link" in " ".join(res.text.split())
    after = {p.name: p.read_bytes() for p in target.iterdir()} if target.is_dir() else target.read_bytes()
    assert after == before


def test_a_metrics_link_in_a_claimed_folder_is_not_appended_to(tmp_path):
    run = tmp_path / "run"
    RunFolder(run).claim()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    RunFolder(run).metrics.symlink_to(victim)
    res = _train(tmp_path, "--out", run, iters=3)
    assert res.code == 2 and "is a symbolic link" in res.text, res.text
    assert victim.read_text() == "precious\n"


def test_the_lock_never_truncates_what_a_link_points_to(tmp_path):
    from gancli.errors import UserError
    from gancli.training.lock import RunLock

    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / ".lock").symlink_to(victim)
    with pytest.raises(UserError, match="symbolic link"), RunLock(tmp_path / "run"):
        pass
    assert victim.read_text() == "precious"


# ---------------------------------------------------------------- 4: rotation


def test_resuming_from_previous_after_a_damaged_last_keeps_the_good_previous(tmp_path):
    from gancli.training.checkpoint import load_checkpoint

    run = RunFolder(tmp_path / "run")
    assert _train(tmp_path, "--out", run.path, iters=6, checkpoint_every=3).code == 0
    data = bytearray(run.last.read_bytes())
    data[len(data) // 2] ^= 0xFF
    run.last.write_bytes(bytes(data))
    good = run.previous.read_bytes()
    res = run_cli("train", "--resume", run.previous, "--iters", "7", "--checkpoint-every", "100")
    assert res.code == 0, res.text
    assert run.previous.read_bytes() == good  # the damaged last.pt was replaced, not rotated over it
    assert load_checkpoint(run.last)["iteration"] == 7


# ---------------------------------------------------------------- 9-12: exits, folders, messages


def test_iters_zero_is_refused_and_leaves_no_folder(tmp_path):
    res = _train(tmp_path, "--out", tmp_path / "run", "--iters", "0")
    assert res.code == 2 and "no length" in res.text, res.text
    assert not (tmp_path / "run").exists()


def test_resume_when_already_done_leaves_the_folder_untouched(tmp_path):
    run = RunFolder(tmp_path / "run")
    assert _train(tmp_path, "--out", run.path, iters=3).code == 0
    before = run.config.read_text()
    res = run_cli("train", "--resume", run.path, "--iters", "3", "--lr", "0.5")
    assert res.code == 0 and "already run 3 of 3" in " ".join(res.text.split()), res.text
    assert run.config.read_text() == before


def test_sigint_during_data_preparation_leaves_no_run_folder(tmp_path, monkeypatch):
    import gancli.data.source as source

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(source, "load_images", interrupted)
    res = _train(tmp_path, "--out", tmp_path / "run", iters=3)
    assert res.code == 130 and "Interrupted while preparing the data" in " ".join(res.text.split()), res.text
    assert not (tmp_path / "run").exists()


def test_lr_given_with_resume_is_applied_and_said(tmp_path):
    from gancli.training.checkpoint import load_checkpoint

    run = RunFolder(tmp_path / "run")
    assert _train(tmp_path, "--out", run.path, iters=3).code == 0
    res = run_cli("train", "--resume", run.path, "--iters", "6", "--lr", "0.0005")
    assert res.code == 0, res.text
    assert "changed from 0.0002 to 0.0005" in " ".join(res.text.split())
    payload = load_checkpoint(run.last)
    assert {g["lr"] for key in ("opt_g", "opt_d") for g in payload[key]["param_groups"]} == {0.0005}
    assert yaml.safe_load(run.config.read_text())["train"]["lr_g"] == 0.0005


def test_nan_at_the_first_iteration_does_not_claim_a_kept_checkpoint(tmp_path):
    res = _train(tmp_path, "--out", tmp_path / "run", "--lr", "1e30", iters=3, log_every=1)
    assert res.code == 3, res.text
    text = " ".join(res.text.split())
    assert "No checkpoint had been written yet" in text and "is kept" not in text


def test_an_emptied_run_config_is_named(tmp_path):
    run = RunFolder(tmp_path / "run")
    assert _train(tmp_path, "--out", run.path, iters=3).code == 0
    run.config.write_text("")
    res = run_cli("train", "--resume", run.path, "--iters", "6")
    assert res.code == 2 and f"{run.config} is empty" in " ".join(res.text.split()), res.text


def test_config_that_is_a_fifo_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    res = run_cli("train", "--config", fifo, "--out", tmp_path / "run")
    assert res.code == 2 and "not a regular file" in " ".join(res.text.split()), res.text


def test_a_checkpoint_write_leaves_other_writers_temporary_files_alone(tmp_path):
    """best.pt is written on the training thread while last.pt is written on another: stale
    temporary files are removed only when a session starts, never by a concurrent write."""
    from gancli.training.checkpoint import save_checkpoint

    run = RunFolder(tmp_path / "run")
    run.checkpoints.mkdir(parents=True)
    live = run.checkpoints / ".best.pt.gantmp-live01.tmp"
    live.write_bytes(b"being written")
    save_checkpoint(run.path, {"iteration": 1})
    assert live.read_bytes() == b"being written"
    assert run.last.is_file()
