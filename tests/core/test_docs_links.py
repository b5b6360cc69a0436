"""The README and docs/ point only at files that exist in the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_relative_links_in_the_docs_resolve():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    dead = []
    for page in pages:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if "://" not in target and not (page.parent / target).exists():
                dead.append(f"{page.relative_to(ROOT)} -> {target}")
    assert dead == []


def test_no_page_cites_a_spec_file_the_repository_does_not_have():
    cited = [p for p in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")] if "SPEC.md" in p.read_text()]
    assert not (ROOT / "SPEC.md").exists() and cited == []


def test_shipped_yaml_comments_cite_only_documents_in_the_repository():
    files = [*(ROOT / "src" / "gancli" / "presets").glob("*.yaml"), *(ROOT / "examples").glob("*.yaml")]
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert "SPEC" not in text, path.name  # a design document users never see
        for doc in re.findall(r"docs/[\w./-]+\.md", text):
            assert (ROOT / doc).exists(), f"{path.name} -> {doc}"
