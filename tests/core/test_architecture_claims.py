"""What docs/architecture.md claims of the code, held: the front end alone imports rich and
Typer, nothing imports cli/ from below, no module is over 500 lines, ruff's complexity check is
on with no exceptions, and every module the doc names exists (with the functions it names)."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

import gancli

SRC = Path(gancli.__file__).parent
ROOT = SRC.parents[1]
DOC = ROOT / "docs" / "architecture.md"
MAX_MODULE_LINES = 500

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        yield path.relative_to(SRC).as_posix(), path


def _imported(path: Path) -> set[str]:
    """Every module an import statement names in `path`, at any depth (inside functions too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _core():
    """Every module but the front end (`cli/`, and `__main__.py`: `python -m gancli` runs it)."""
    return [(rel, path) for rel, path in _modules() if not rel.startswith("cli/") and rel != "__main__.py"]


def test_only_the_front_end_imports_rich_or_typer():
    found = {
        rel: sorted(n for n in _imported(path) if n.split(".")[0] in ("rich", "typer"))
        for rel, path in _core()
    }
    assert {rel: names for rel, names in found.items() if names} == {}


def test_nothing_outside_cli_imports_cli():
    found = {rel: sorted(n for n in _imported(path) if n.startswith("gancli.cli")) for rel, path in _core()}
    assert {rel: names for rel, names in found.items() if names} == {}


def test_no_module_is_over_500_lines():
    long = {
        rel: n for rel, path in _modules() if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}, "split the module by job"


def test_ruff_checks_complexity_at_its_default_with_no_exceptions():
    lint = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    assert "C901" in lint["select"] and "mccabe" not in lint
    ignored = [
        *lint.get("ignore", []),
        *(c for codes in lint.get("per-file-ignores", {}).values() for c in codes),
    ]
    assert not [c for c in ignored if c.startswith("C9") or c == "B008"]


def test_every_module_the_doc_names_exists():
    text = DOC.read_text(encoding="utf-8")
    # lower case only: a placeholder (cli/NAME.py) is not a module
    names = set(re.findall(r"`([a-z0-9_/.-]+\.py)(?::\w+)?`", text))
    assert names
    here = {p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py")}
    missing = sorted(
        n
        for n in names
        if n not in here
        and not (ROOT / n).exists()
        and not ("/" not in n and any(h.rsplit("/", 1)[-1] == n for h in here))
    )
    assert missing == []


def test_every_function_the_doc_names_is_in_its_module():
    text = DOC.read_text(encoding="utf-8")
    named = re.findall(r"`([\w/.-]+\.py):(\w+)`", text)
    assert named
    for module, name in named:
        tree = ast.parse((SRC / module).read_text(encoding="utf-8"))
        defined = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        assert name in defined, f"{module}:{name}"


def test_the_doc_puts_distributed_and_devices_where_they_are():
    assert (SRC / "distributed.py").is_file() and (SRC / "devices.py").is_file()
    text = DOC.read_text(encoding="utf-8")
    assert "`training/distributed.py`" not in text and "`training/devices.py`" not in text
