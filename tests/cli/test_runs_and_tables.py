"""`gan runs` from the run folders' small files, and tables readable at 80 columns."""

import fcntl
import json
import os
import re

import yaml
from conftest import tiny_config_dict
from rich.console import Console

from gancli.cli import fmt
from gancli.cli.fmt import Col, fit_table, human_size
from gancli.runlist import list_runs


def write_run(folder, iters=10, logged=(), state=None, fid=(), recipe=None):
    """A run folder as `gan train` leaves it (no checkpoint needed: gan runs never loads one)."""
    folder.mkdir(parents=True)
    cfg = tiny_config_dict(iters=iters)
    if recipe:
        cfg["recipe"] = recipe
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    (folder / "checkpoints").mkdir()
    (folder / "checkpoints" / "last.pt").write_bytes(b"x" * 5000)
    lines = [{"iteration": it, "epoch": 1, "loss_d": 1.25, "loss_g": 0.5} for it in logged]
    lines += [{"iteration": it, "epoch": 1, "loss_d": 1.0, "loss_g": 2.0, "fid": f} for it, f in fid]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(l) + "\n" for l in lines))
    if state:
        (folder / "state.json").write_text(json.dumps({"state": state}))
    return folder


def test_runs_lists_state_progress_losses_and_best_fid(tmp_path, cli):
    write_run(tmp_path / "done", iters=4, logged=(2, 4), state="finished")
    write_run(tmp_path / "halfway", iters=10, logged=(2, 4), state="stopped")
    write_run(tmp_path / "nan", iters=10, logged=(2,), state="diverged")
    write_run(tmp_path / "scored", iters=10, fid=[(2, 80.5), (4, 61.25), (6, 70.0)], recipe="improved")
    (tmp_path / "not-a-run").mkdir()
    rows = {r["name"]: r for r in json.loads(cli("runs", tmp_path, "--json").out)}
    assert set(rows) == {"done", "halfway", "nan", "scored"}
    assert (rows["done"]["state"], rows["done"]["iteration"], rows["done"]["total"]) == ("finished", 4, 4)
    assert rows["halfway"]["state"] == "stopped" and rows["nan"]["state"] == "diverged"
    assert (rows["halfway"]["loss_d"], rows["halfway"]["loss_g"]) == (1.25, 0.5)
    assert rows["scored"]["best_fid"] == 61.25 and rows["scored"]["recipe"] == "improved"
    assert rows["done"]["recipe"] == "faithful" and rows["done"]["best_fid"] is None
    assert rows["done"]["size_bytes"] >= 5000
    table = cli("runs", tmp_path).out
    assert words_intact(table, ["4/4", "61.25", "diverged"])
    from gancli.cli.runs_cli import _row

    # quick trains with the improved recipe unless told: only the other recipe is named
    presets = {r.name: _row(r, 0)[1] for r in list_runs(tmp_path)}
    assert presets["scored"] == "quick" and presets["done"] == "quick (faithful)"


def test_runs_at_80_columns_take_one_line_each_and_keep_ages_whole(tmp_path, monkeypatch):
    from gancli.cli import runs_cli

    for i, name in enumerate(("quick-20261207-022218", "flowers64-20261204-101500", "mine")):
        write_run(tmp_path / name, iters=100_000, logged=(12_345,), state="stopped", recipe="improved")
        os.utime(tmp_path / name / "metrics.jsonl", (0, os.path.getmtime(tmp_path / name) - 20 * 60 * i))
    console = Console(width=80, record=True, file=open(os.devnull, "w"))
    monkeypatch.setattr(runs_cli, "console", console)
    runs_cli.runs_command(tmp_path, False)
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    body = [line for line in lines if line.startswith("│")]
    assert len(body) == 3  # one line per run
    assert all(re.search(r"\b\d+ (s|min|h|d) │$", line) for line in body), body
    assert all("12,345/100,000" in line and "stopped" in line for line in body)


def test_a_run_whose_lock_is_held_is_running_with_its_pid(tmp_path):
    run = write_run(tmp_path / "live", logged=(2,), state="running")
    with open(run / ".lock", "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write(str(os.getpid()))
        lock.flush()
        (summary,) = list_runs(tmp_path)
        assert (summary.state, summary.pid) == ("running", os.getpid())
        fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
    (summary,) = list_runs(tmp_path)  # the pid file stays behind; the lock does not
    assert (summary.state, summary.pid) == ("stopped", None)


def test_a_real_run_is_listed_finished(tmp_path, cli, tiny_config_file):
    assert cli("train", "--config", tiny_config_file, "--out", tmp_path / "runs" / "r1").code == 0
    (row,) = json.loads(cli("runs", tmp_path / "runs", "--json").out)
    assert (row["state"], row["iteration"], row["total"], row["preset"]) == ("finished", 6, 6, "quick")


def test_a_value_after_the_json_flag_is_explained(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = cli("runs", "--json", "true")
    assert res.code == 2 and "--json is a flag and takes no value" in res.err


def test_runs_of_a_missing_folder_is_one_message(tmp_path, cli):
    res = cli("runs", tmp_path / "nope")
    assert res.code == 2 and "nope" in res.err


def test_human_sizes():
    assert [human_size(n) for n in (512, 1536, 5 * 2**20, 3 * 2**30)] == [
        "512 B",
        "1.5 KiB",
        "5.0 MiB",
        "3.0 GiB",
    ]
    assert fmt.human_age(30) == "30 s" and fmt.human_age(7200) == "2 h" and fmt.human_age(3 * 86400) == "3 d"


def words_intact(text: str, cells: list[str]) -> bool:
    """Every word of every cell appears whole on one line of the rendered table."""
    flat = " ".join(text.split())
    return all(re.search(rf"(?<![\w,.]){re.escape(w)}(?![\w,.])", flat) for c in cells for w in c.split())


def render(renderable, width=80) -> str:
    console = Console(width=width, record=True, file=open(os.devnull, "w"))
    console.print(renderable)
    return console.export_text()


def test_tables_fit_80_columns_without_breaking_words(tmp_path, monkeypatch):
    from gancli.cli import presets as presets_cli
    from gancli.cli import runs_cli

    for name in (None, "faces256"):
        console = Console(width=80, record=True, file=open(os.devnull, "w"))
        monkeypatch.setattr(presets_cli, "console", console)
        if name is None:
            presets_cli._list_presets(False)
        else:
            presets_cli._show_preset(name, False)
        text = console.export_text()
        assert max(len(line) for line in text.splitlines()) <= 80
        assert words_intact(
            text,
            ["faces256", "19,104,035", "6,306,529", "eriklindernoren/PyTorch-GAN"][
                : 4 if name is None else 3
            ],
        )
    write_run(tmp_path / "flowers64-20261204-101500", iters=100_000, logged=(12_345,), state="stopped")
    console = Console(width=80, record=True, file=open(os.devnull, "w"))
    monkeypatch.setattr(runs_cli, "console", console)
    runs_cli.runs_command(tmp_path, False)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert words_intact(text, ["flowers64-20261204-101500", "12,345/100,000", "stopped", "1.250", "0.500"])


def test_fit_table_drops_columns_before_breaking_words():
    cols = [Col("name"), Col("long", wrap=True, drop=1), Col("number", "right")]
    rows = [["a-fairly-long-identifier", "some words " * 8, "1,234,567,890"]]
    for width in (50, 60, 120):  # 50: the wrapped column goes; 60: it wraps at its spaces
        text = render(fit_table(None, cols, rows, width), width)
        assert max(len(line) for line in text.splitlines()) <= width
        assert words_intact(text, rows[0] if width > 50 else [rows[0][0], rows[0][2]])
        assert ("words" in text) == (width > 50)
