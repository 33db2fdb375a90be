"""The template's docs build strictly (no broken internal links) and describe every option."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from .baking import TEMPLATE_ROOT, tool


def test_docs_build_strict(tmp_path: Path):
    result = subprocess.run(
        [tool("mkdocs"), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=TEMPLATE_ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    for page in ("options", "architecture", "benchmarks", "how-to/container"):
        assert (tmp_path / "site" / page / "index.html").is_file(), page


def test_options_reference_names_every_prompt_and_choice():
    answers = json.loads((TEMPLATE_ROOT / "cookiecutter.json").read_text(encoding="utf-8"))
    reference = (TEMPLATE_ROOT / "docs" / "options.md").read_text(encoding="utf-8")
    for name, default in answers.items():
        if name.startswith("_"):
            continue
        assert f"`{name}`" in reference, name
        for choice in default if isinstance(default, list) else []:
            assert f"`{choice}`" in reference, (name, choice)
