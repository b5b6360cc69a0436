"""What `gan download` and `gan data info` print: whole words at 80 columns, sizes in KiB/MiB/GiB,
`--json`, light imports; and that the core draws no progress bars of its own (#11, #14)."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from gancli.cli.data import data_app
from gancli.cli.download import download_command, list_entries, list_table
from gancli.data import registry
from gancli.errors import UserError
from gancli.units import format_size, parse_size

SRC = Path(__file__).resolve().parents[2] / "src" / "gancli"


def words_of(entries: list[dict]) -> set[str]:
    """Every word the table's cells hold."""
    words = set()
    for entry in entries:
        for key in ("name", "licence", "resolution"):
            words.update(str(entry.get(key) or "").split())
        words.update(format_size(entry.get("size_bytes")).split())
    return words


def rendered_tokens(renderable, width: int) -> set[str]:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= width
    return set(re.split(r"[\s│┃┏┓┗┛━┡┩└┘─┌┐├┤┼╇╈╋|]+", text))


@pytest.mark.parametrize("width", [80, 100])
def test_download_list_keeps_every_word_whole(width, tmp_path):
    entries = list_entries(tmp_path)
    missing = words_of(entries) - rendered_tokens(list_table(entries), width)
    assert not missing, f"broken at {width} columns: {sorted(missing)}"


def test_download_list_json_and_human_sizes(tmp_path):
    app = typer.Typer()
    app.command("download")(download_command)
    app.command("other")(lambda: None)
    runner = CliRunner()
    res = runner.invoke(app, ["download", "--list", "--json", "--root", str(tmp_path)])
    assert res.exit_code == 0, res.output
    listed = json.loads(res.stdout)
    assert [d["name"] for d in listed["datasets"]] == list(registry.DATASETS)
    lfw = next(d for d in listed["datasets"] if d["name"] == "lfw")
    assert lfw["size_bytes"] == 180_566_744 and lfw["verified"] and not lfw["downloaded"]
    table = runner.invoke(app, ["download", "--list", "--root", str(tmp_path)], env={"COLUMNS": "80"})
    assert "172.2 MiB" in table.output and "91.2 MiB" in table.output  # lfw, inception
    assert "180566744" not in table.output


def test_max_size_accepts_human_sizes_and_refuses_others():
    assert parse_size("500M") == 500 << 20 and parse_size("4G") == 4 << 30 and parse_size("4GiB") == 4 << 30
    assert parse_size("1.5K") == 1536 and parse_size("123") == 123
    for bad in ("lots", "-1G", "0", "4X", ""):
        with pytest.raises(UserError, match="--max-size"):
            parse_size(bad, option="--max-size")
    assert format_size(0) == "0 B" and format_size(1536) == "1.5 KiB" and format_size(5 << 30) == "5.0 GiB"


def data_cli(*args: str, columns: int = 80):
    app = typer.Typer()
    app.add_typer(data_app, name="data")
    return CliRunner().invoke(app, ["data", *args], env={"COLUMNS": str(columns)})


def test_data_info_at_80_columns_shows_human_sizes_and_whole_words(tmp_path):
    from PIL import Image

    folder = tmp_path / ("a-rather-long-folder-name-of-holiday-photos-" * 2)
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (20, 12), (40 * i, 90, 200)).save(folder / f"{i}.png")
    res = data_cli("info", str(folder), "-r", "8", "--root", str(tmp_path / "root"))
    assert res.exit_code == 0, res.output
    out = res.output
    assert all(len(line) <= 80 for line in out.splitlines() if "│" in line)  # the table fits
    assert re.search(r"in memory\s*│\s*576 B", out) and re.search(r"cache\s*│\s*[\d.]+ (B|KiB),", out)
    for phrase in ("3 at 8x8, 3 channel(s)", "decoded now and cached", f"cache file: {tmp_path / 'root'}"):
        assert phrase in out
    again = data_cli("info", str(folder), "-r", "8", "--root", str(tmp_path / "root"), "--json")
    summary = json.loads(again.stdout)
    assert summary["memory_bytes"] == 3 * 3 * 8 * 8 and summary["from_cache"] and summary["cache_bytes"] > 0


def test_data_info_previews_a_seeded_sample_across_the_classes(tmp_path):
    from PIL import Image

    for cls, colour in (("daisy", (255, 0, 0)), ("roses", (0, 0, 255))):
        (tmp_path / "photos" / cls).mkdir(parents=True)
        for i in range(12):
            Image.new("RGB", (8, 8), colour).save(tmp_path / "photos" / cls / f"{i:02d}.png")
    args = ["info", str(tmp_path / "photos"), "-r", "8", "-n", "6", "--root", str(tmp_path / "root")]
    previews = []
    for seed, name in ((0, "a.png"), (0, "b.png"), (1, "c.png")):
        res = data_cli(*args, "--seed", str(seed), "--out", str(tmp_path / name))
        assert res.exit_code == 0, res.output
        assert not re.search(r"resize\s*│\s*resize", res.output)
        assert "plain resize (aspect not kept)" in res.output
        previews.append((tmp_path / name).read_bytes())
        pixels = {Image.open(tmp_path / name).convert("RGB").getpixel((2 + 10 * k + 4, 6)) for k in range(3)}
        pixels |= {
            Image.open(tmp_path / name).convert("RGB").getpixel((2 + 10 * k + 4, 16)) for k in range(3)
        }
        assert {(255, 0, 0), (0, 0, 255)} <= pixels  # both classes, not the first six files
    assert previews[0] == previews[1] and previews[0] != previews[2]  # seeded


def test_data_info_of_the_built_in_shapes_says_they_are_drawn(tmp_path):
    res = data_cli("info", "shapes", "-r", "8", "--root", str(tmp_path))
    assert res.exit_code == 0, res.output
    assert "drawn at this size (built in)" in res.output and "drawn now and cached" in res.output
    again = data_cli("info", "shapes", "-r", "8", "--root", str(tmp_path))
    assert "read from the cache" in again.output


def test_download_and_data_commands_import_no_torch_or_numpy():
    code = (
        "import sys, gancli.cli.download, gancli.cli.data;"
        "print(sorted(m for m in ('torch', 'numpy', 'torchvision') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_core_builds_no_progress_bars_and_hashes_files_in_one_place():
    """#11 items 6 and 7: rich lives in cli/ only; file hashing is fsutil.file_digests."""
    for module in ("data/transfer.py", "data/install.py", "metrics/features.py", "data/extract.py"):
        assert "rich" not in (SRC / module).read_text(), module
    for module in ("data/transfer.py", "data/formats.py", "metrics/reference.py"):
        text = (SRC / module).read_text()
        assert "file_digests" in text and "hashlib.new(" not in text and ".update(block)" not in text


def test_cli_progress_renders_the_cores_callbacks():
    from gancli.cli.progress import counting, downloading

    console = Console(width=80, record=True, file=io.StringIO(), force_terminal=True)
    with downloading(console) as progress:
        progress("lfw.tgz", 0, 2 << 20)
        progress("lfw.tgz", 1 << 20, 2 << 20)
    text = console.export_text()
    assert "lfw.tgz" in text and "1.0/2.0 MiB" in text
    quiet = Console(width=80, record=True, file=io.StringIO(), force_terminal=True)
    with counting(quiet, "Inception: reference") as progress:
        pass  # cached statistics: never called, so nothing is drawn
    assert quiet.export_text().strip() == ""
    with downloading(quiet, enabled=False) as off, counting(quiet, "x", enabled=False) as off2:
        assert off is None and off2 is None


def test_help_examples_name_only_datasets_that_exist():
    from gancli.cli.data import info_command

    examples = " ".join([download_command.__doc__ or "", info_command.__doc__ or ""])
    named = re.findall(r"gan (?:download|data info) ([^\s]+)", examples)
    assert named, examples
    for target in named:
        assert target in registry.DATASETS or "://" in target or "/" in target, target
