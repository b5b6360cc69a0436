"""`gan train --nproc 2` through torch's launcher: one run folder, one metrics log, one display."""

import json
import os
import subprocess
import sys

from conftest import tiny_config_dict

from gancli.training.checkpoint import find_checkpoint, load_checkpoint


def test_nproc_writes_one_run_folder_without_duplicate_lines(tmp_path, config_file):
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "gancli",
            "train",
            "--nproc",
            "2",
            "--config",
            str(config_file(tiny_config_dict())),
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    runs = list((work / "runs").iterdir())
    assert len(runs) == 1, runs  # rank 0 named the folder; no rank made its own
    assert sorted(p.name for p in work.iterdir()) == ["runs"]
    run = runs[0]
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["iteration"] for line in lines] == [2, 4, 6]
    assert sorted(p.name for p in (run / "samples").glob("*.png")) == [
        "iter_0000001.png",
        "iter_0000003.png",
        "iter_0000006.png",
    ]
    payload = load_checkpoint(find_checkpoint(run))
    assert payload["world_size"] == 2 and payload["iteration"] == 6
    out = " ".join(res.stdout.split())
    assert (
        out.count("in 2 processes (4 each)") == 1 and out.count("Finished 6 iterations.") == 1
    )  # rank 0 talks, once
    assert "error" not in res.stderr.lower()


def test_global_batch_must_divide_by_the_process_count(tmp_path, config_file, cli):
    res = cli("train", "--config", config_file(tiny_config_dict()), "--nproc", "3", "--out", tmp_path / "run")
    assert res.code == 2
    text = " ".join(res.text.split())
    assert (
        "--batch-size 8 is the global batch" in text and "does not divide by 3" in text and "6 or 9" in text
    )
    assert not (tmp_path / "run").exists()  # refused before any process started


def test_help_says_the_batch_is_global(cli):
    text = " ".join(cli("train", "--help").out.replace("│", " ").split())
    assert "Global mini-batch size" in text and "--nproc" in text and "--dist-timeout" in text


def test_nproc_passes_the_same_options_to_every_process(tmp_path, config_file, cli, monkeypatch):
    from gancli.training import launcher

    launched = {}
    monkeypatch.setattr(
        launcher,
        "_torchrun",
        lambda nproc, argv, run_dir: launched.update(nproc=nproc, argv=argv, run_dir=run_dir),
    )
    cfg = config_file(tiny_config_dict())
    res = cli(
        "--debug",
        "train",
        "--nproc",
        "2",
        "--config",
        cfg,
        "--seed",
        "-3",
        "--no-amp",
        "--sync-bn",
        "-b",
        "8",
        "--dist-timeout",
        "60",
    )
    assert res.code == 0, res.text
    argv = launched["argv"]
    assert launched["nproc"] == 2 and argv[:2] == ["--debug", "train"]
    assert {
        f"--config={cfg}",
        "--seed=-3",
        "--no-amp",
        "--sync-bn",
        "--batch-size=8",
        "--dist-timeout=60.0",
    } <= set(argv)
    assert not any(a.startswith("--nproc") for a in argv)
    assert f"--out={launched['run_dir']}" in argv  # the parent names the new run folder for all
