"""House rules checked on the source: no public function outside cli/ takes more than 6
positional parameters, and no function body in src/gancli/ is longer than 50 lines (the
signature and docstring not counted)."""

from __future__ import annotations

import ast
from pathlib import Path

import gancli

SRC = Path(gancli.__file__).parent
MAX_POSITIONAL = 6
MAX_BODY_LINES = 50

# Exceptions to the rules: none (a function that needs one is split instead).
KNOWN_POSITIONAL: set[str] = set()
KNOWN_LONG: set[str] = set()


def _functions():
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield rel, node


def _body_lines(node) -> int:
    body = node.body
    first = body[0] if body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        body = body[1:]  # the docstring
    if not body:
        return 0
    return body[-1].end_lineno - body[0].lineno + 1


def _positional(node) -> int:
    names = [a.arg for a in node.args.posonlyargs + node.args.args]
    return len([n for n in names if n not in ("self", "cls")])


def test_public_functions_outside_cli_take_at_most_six_positional_parameters():
    found = {
        f"{rel}:{node.name}"
        for rel, node in _functions()
        if not rel.startswith("cli/") and not node.name.startswith("_") and _positional(node) > MAX_POSITIONAL
    }
    assert found - KNOWN_POSITIONAL == set(), "use keyword-only parameters (`*`) beyond six"


def test_no_function_body_is_longer_than_fifty_lines():
    found = {f"{rel}:{node.name}" for rel, node in _functions() if _body_lines(node) > MAX_BODY_LINES}
    assert found - KNOWN_LONG == set(), "split the function"
