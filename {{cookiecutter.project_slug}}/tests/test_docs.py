"""The documentation site builds strictly, lists every page, and the README's links reach it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from .helpers import PROJECT_ROOT

DOCS = PROJECT_ROOT / "docs"


def nav_pages(entries: list[object]) -> list[str]:
    """The page files of a mkdocs ``nav``, sections included."""
    pages = []
    for entry in entries:
        values = entry.values() if isinstance(entry, dict) else [entry]
        for value in values:
            pages += nav_pages(value) if isinstance(value, list) else [str(value)]
    return pages


def test_every_page_is_in_the_navigation_once():
    config = yaml.safe_load((PROJECT_ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    pages = nav_pages(config["nav"])
    assert sorted(pages) == sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    assert len(pages) == len(set(pages))


def test_the_readme_links_only_to_pages_that_exist():
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    linked = re.findall(r"\]\((docs/[^)#]+)", readme)
    assert linked, "the README links to no page of docs/"
    assert [link for link in linked if not (PROJECT_ROOT / link).is_file()] == []


def test_the_site_builds_strictly(tmp_path: Path):
    """A broken link, a missing anchor or a page left out of the navigation fails the build."""
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "index.html").is_file()
    assert (tmp_path / "configuration" / "index.html").is_file()
