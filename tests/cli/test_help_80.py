"""`--help` at 80 columns: whole option names, a help column wide enough to read, flags without
a value placeholder (nobody types `--json true`), and no {braces} on the usage line."""

from __future__ import annotations

import re

import pytest

COMMANDS = [
    [],
    ["train"],
    ["sample"],
    ["score"],
    ["export"],
    ["runs"],
    ["download"],
    ["presets"],
    ["data", "info"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "gan")
def test_help_reads_at_80_columns(command, cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    res = cli(*command, "--help")
    assert res.code == 0, res.text
    lines = res.out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in res.out  # nothing cut short
    assert not re.search(r"<(bool|str|int|float|path)>", res.out)
    usage = next(line for line in lines if "Usage:" in line)
    assert "{" not in usage and "}" not in usage, usage
    rows = [line for line in lines if re.match(r"│ (--|[A-Z])", line)]
    assert rows
    for row in rows:  # the help starts by column 38: at least 40 characters of it per line
        match = re.match(r"│ (\S+(?: \S+)*?)( \*)?\s{2,}\S", row)
        assert match and match.end() - 1 <= 38, row


def test_flags_show_no_value_and_pairs_show_both_names(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    text = cli("train", "--help").out
    assert re.search(r"│ --dry-run\s{2,}\S", text)  # a flag: no value after it
    assert "--amp / --no-amp" in text and "--tensorboard / --no-tensorboard" in text
    assert re.search(r"│ --checkpoint-every INT\s", text)
    sample = cli("sample", "--help").out
    assert re.search(r"│ --num, -n INT\s", sample) and re.search(r"│ --json|│ --numbered\s{2,}\S", sample)
