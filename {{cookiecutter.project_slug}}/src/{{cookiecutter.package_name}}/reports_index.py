"""``reports/index.html``: one page that links the latest model card and every drift report.

Rewritten by ``train`` (a new card) and ``monitor`` (a new drift report), so that whoever opens
the reports folder finds everything from one place. Links are relative: the folder can be copied.
"""

from __future__ import annotations

import html
import os
from datetime import UTC, datetime
from pathlib import Path

from .outputs import atomic_write

INDEX = "index.html"


def link(target: Path, folder: Path, text: str) -> str:
    href = Path(os.path.relpath(target.resolve(), folder.resolve())).as_posix()
    return f'<li><a href="{html.escape(href)}">{html.escape(text)}</a></li>'


def write_reports_index(folder: Path, card_html: Path) -> Path:
    """Write ``folder/index.html``; drift reports are listed newest first."""
    drift = sorted(
        (path for path in folder.glob("drift_*.html")),
        key=lambda path: path.stat().st_mtime,
        reverse=True,
    )
    card = (
        link(card_html, folder, "Model card of the latest training run")
        if card_html.exists()
        else "<li>No model card yet: run <code>train</code>.</li>"
    )
    reports = "".join(link(path, folder, path.stem) for path in drift) or (
        "<li>No drift report yet: run <code>monitor</code>.</li>"
    )
    written = datetime.now(UTC).isoformat(timespec="seconds")
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Reports</title>'
        "</head>\n<body>\n<h1>Reports</h1>\n"
        f"<h2>Model</h2><ul>{card}</ul>\n<h2>Drift reports</h2><ul>{reports}</ul>\n"
        f"<p>Updated {written}.</p>\n</body></html>\n"
    )
    target = folder / INDEX
    with atomic_write(target) as partial:  # creates the folder if need be
        partial.write_text(page, encoding="utf-8")
    return target
