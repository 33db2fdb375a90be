"""The model card as one HTML page, for people who open it in a browser rather than an editor.

The card's Markdown uses a small, fixed subset (headings, paragraphs, lists, pipe tables, images,
inline code and bold), written by ``model_card``; converting that subset here costs no dependency.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from .outputs import atomic_write

IMAGE = re.compile(r"^!\[(?P<alt>[^\]]*)\]\((?P<src>[^)\s]+)\)$")
STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.5}table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;"
    "padding:.25rem .5rem;text-align:left}code{background:#f4f4f4;padding:0 .2rem}"
    "img{max-width:100%;display:block;margin:1rem 0}"
)


def inline(text: str) -> str:
    """Escape, then turn `code` and **bold** into tags."""
    escaped = html.escape(text, quote=False)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", escaped)


def table_html(lines: list[str]) -> str:
    cells = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines]
    header, rows = cells[0], cells[2:]
    head = "".join(f"<th>{inline(cell)}</th>" for cell in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{inline(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def block_html(block: str) -> str:
    lines = block.splitlines()
    first = lines[0]
    if first.startswith("#"):
        level = len(first) - len(first.lstrip("#"))
        return f"<h{level}>{inline(first[level:].strip())}</h{level}>"
    if image := IMAGE.match(block.strip()):
        alt, src = (html.escape(image[name]) for name in ("alt", "src"))
        return f'<figure><img src="{src}" alt="{alt}"><figcaption>{alt}</figcaption></figure>'
    if first.startswith("|"):
        return table_html(lines)
    if first.startswith("- "):
        return "<ul>" + "".join(f"<li>{inline(line[2:])}</li>" for line in lines) + "</ul>"
    return f"<p>{inline(' '.join(lines))}</p>"


def markdown_to_html(markdown: str, title: str) -> str:
    blocks = [block for block in re.split(r"\n\s*\n", markdown.strip()) if block.strip()]
    body = "\n".join(block_html(block) for block in blocks)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )


def write_card_html(card: Path) -> Path:
    """``model_card.md`` -> ``model_card.html`` beside it (images are linked, not embedded)."""
    markdown = card.read_text(encoding="utf-8")
    title = markdown.splitlines()[0].lstrip("# ").strip() if markdown else "Model card"
    target = card.with_suffix(".html")
    with atomic_write(target) as partial:
        partial.write_text(markdown_to_html(markdown, title), encoding="utf-8")
    return target
