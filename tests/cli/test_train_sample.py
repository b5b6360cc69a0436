"""`gan train` then `gan sample` through the CLI, as a user runs them."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from conftest import tiny_config_dict
from PIL import Image


def write_config(tmp_path, **train):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config_dict(**train)))
    return path


def test_train_writes_the_run_folder_then_sample_draws_a_grid(tmp_path, cli):
    run = tmp_path / "run"
    res = cli("train", "--config", write_config(tmp_path), "--out", run)
    assert res.code == 0, res.text
    for name in ("config.yaml", "metrics.jsonl", "curves.png", "progress.gif", "checkpoints/last.pt"):
        assert (run / name).is_file(), name
    samples = sorted(p.name for p in (run / "samples").glob("*.png"))
    assert samples == ["iter_0000001.png", "iter_0000003.png", "iter_0000006.png"]
    with Image.open(run / "samples" / "iter_0000006.png") as grid:
        assert grid.size == (5 * 18 + 2, 5 * 18 + 2)  # 5x5 tiles of 16px with 2px gutters
    lines = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert [l["iteration"] for l in lines] == [2, 4, 6]
    assert {"iteration", "epoch", "loss_d", "loss_g", "score_d", "score_g", "images_per_s"} <= set(lines[0])
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["train"]["iters"] == 6 and saved["model"]["resolution"] == 16
    with Image.open(run / "progress.gif") as gif:
        assert gif.n_frames == 3

    out = tmp_path / "grid.png"
    res = cli("sample", run, "-n", "10", "--out", out, "--out-dir", tmp_path / "each", "--seed", "3")
    assert res.code == 0, res.text
    with Image.open(out) as grid:
        assert grid.size == (4 * 18 + 2, 3 * 18 + 2)  # 10 images -> 3 rows x 4 columns
    assert len(list((tmp_path / "each").glob("*.png"))) == 10
    again = tmp_path / "again.png"
    cli("sample", run / "checkpoints" / "last.pt", "-n", "10", "--out", again, "--seed", "3")
    assert again.read_bytes() == out.read_bytes()  # same seed, same images

    walk = tmp_path / "walk.png"
    assert cli("sample", run, "--interpolate", "6", "--rows", "2", "--out", walk).code == 0
    with Image.open(walk) as strip:
        assert strip.size == (6 * 18 + 2, 2 * 18 + 2)


def test_resume_continues_to_a_larger_total(tmp_path, cli):
    run = tmp_path / "run"
    assert cli("train", "--config", write_config(tmp_path), "--out", run).code == 0
    res = cli("train", "--resume", run, "--iters", "10")
    assert res.code == 0, res.text
    lines = [json.loads(l)["iteration"] for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert lines == [2, 4, 6, 8, 10]
    res = cli("train", "--config", write_config(tmp_path), "--out", run)
    assert res.code != 0 and "--resume" in res.text


def test_bad_inputs_get_one_clear_message(tmp_path, cli):
    cfg = write_config(tmp_path)
    cases = [
        (("train", "--config", cfg, "--device", "cuda"), "CUDA"),
        (("train", "--config", cfg, "--data", str(tmp_path / "missing")), "does not exist"),
        (("train", "--config", cfg, "--data", "flowers"), "gan download flowers"),
        (("train", "--config", cfg, "--batch-size", "0"), "positive"),
        (("train", "--preset", "nope"), "Accepted values: dcgan64"),
        (("sample", str(tmp_path / "norun")), "does not exist"),
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    cases.append((("train", "--config", cfg, "--data", str(empty)), "No image files"))
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.jpg").write_bytes(b"not a jpeg")
    cases.append((("train", "--config", cfg, "--data", str(junk)), "could be read"))
    bad_ckpt = tmp_path / "bad.pt"
    bad_ckpt.write_bytes(b"\x00" * 50)
    cases.append((("sample", str(bad_ckpt)), "truncated or corrupt"))
    for args, needle in cases:
        res = cli(*args)
        assert res.code != 0, args
        assert needle in res.text, (args, res.text)
        assert "Traceback" not in res.text


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_cleanly_with_a_checkpoint_a_resume_hint_and_its_exit_code(tmp_path, sig, code):
    """A stopped run is not a finished one: `gan train ... && next` must not carry on."""
    cfg = write_config(tmp_path, iters=100000)
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gancli", "train", "--config", str(cfg), "--out", str(run)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (run / "metrics.jsonl").exists():
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == code, out
    assert "gan train --resume" in out
    from gancli.training.checkpoint import load_checkpoint

    payload = load_checkpoint(run / "checkpoints" / "last.pt")
    assert 0 < payload["iteration"] < 100000


def test_first_decoding_of_a_folder_shows_a_progress_bar_with_counts(tmp_path, monkeypatch):
    """`gan train --data FOLDER` decodes the folder once; a terminal sees a bar with done/total."""
    import io

    from rich.console import Console

    import gancli.cli.train as train_cli
    import gancli.data.prepared as prepared

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(40):
        Image.new("RGB", (20, 24), (i * 6, 100, 200)).save(photos / f"{i}.png")
    screen = io.StringIO()
    monkeypatch.setattr(train_cli, "console", Console(file=screen, force_terminal=True, width=120))
    monkeypatch.setattr(prepared.os, "cpu_count", lambda: 1)  # one process: progress reported in order
    from gancli.cli.app import main

    try:
        main(
            [
                "train",
                "--config",
                str(write_config(tmp_path, iters=2)),
                "--data",
                str(photos),
                "--root",
                str(tmp_path / "root"),
                "--out",
                str(tmp_path / "run"),
            ]
        )
    except SystemExit as exc:
        assert exc.code in (0, None), screen.getvalue()
    shown = screen.getvalue()
    assert "decoding images" in shown and "40/40" in shown, shown[-2000:]


def test_cpu_with_amx_suggests_amp_once_and_not_when_it_is_on(tmp_path, cli, monkeypatch):
    import gancli.devices as devices

    config = write_config(tmp_path, iters=2)
    for amx, flags, shown in ((True, [], True), (True, ["--amp"], False), (False, [], False)):
        monkeypatch.setattr(devices, "cpu_has_fast_bf16", lambda amx=amx: amx)
        res = cli("train", "--config", config, "--out", tmp_path / f"run-{amx}-{bool(flags)}", *flags)
        assert res.code == 0, res.text
        assert ("--amp (bf16 autocast)" in res.text) == shown, (amx, flags, res.text)
