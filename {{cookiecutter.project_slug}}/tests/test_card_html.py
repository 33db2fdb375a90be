"""The model card as HTML: every block of the card's Markdown subset, escaped, in one page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.card_html import markdown_to_html, write_card_html
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.train import TrainingResult


def body_of(page: str) -> str:
    return page.split("<body>\n", 1)[1].split("\n</body>", 1)[0]


def test_markdown_to_html_escapes_text():
    page = markdown_to_html("# Card\n\nA <b> & `x<y`\n\n| a | b |\n|---|---|\n| 1 | **2** |", "t")
    assert "A &lt;b&gt; &amp; <code>x&lt;y</code>" in page
    assert "<td><strong>2</strong></td>" in page


def test_each_block_of_the_subset_becomes_its_element():
    markdown = (
        "# Title\n\n### Third level\n\nOne paragraph\non two lines.\n\n- first\n- `second`\n\n"
        "| name | rows |\n|---|---|\n| train | 10 |\n| test | 2 |\n\n"
        "![Residuals by hour](hour.png)\n"
    )
    assert body_of(markdown_to_html(markdown, "t")).splitlines() == [
        "<h1>Title</h1>",
        "<h3>Third level</h3>",
        "<p>One paragraph on two lines.</p>",
        "<ul><li>first</li><li><code>second</code></li></ul>",
        "<table><thead><tr><th>name</th><th>rows</th></tr></thead><tbody>"
        "<tr><td>train</td><td>10</td></tr><tr><td>test</td><td>2</td></tr></tbody></table>",
        '<figure><img src="hour.png" alt="Residuals by hour">'
        "<figcaption>Residuals by hour</figcaption></figure>",
    ]


def test_the_title_and_image_attributes_are_escaped():
    page = markdown_to_html('![a "quoted" <alt>](x.png)', "<script>")
    assert "<title>&lt;script&gt;</title>" in page
    assert 'alt="a &quot;quoted&quot; &lt;alt&gt;"' in page
    assert "<script>" not in page


def test_the_page_is_written_beside_the_card_titled_by_its_heading(tmp_path: Path):
    card = tmp_path / "model_card.md"
    card.write_text("# Model card: trip-duration v3\n\nText.\n", encoding="utf-8")
    target = write_card_html(card)
    assert target == tmp_path / "model_card.html"
    page = target.read_text(encoding="utf-8")
    assert "<title>Model card: trip-duration v3</title>" in page
    assert "<p>Text.</p>" in page
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model_card.html", "model_card.md"]


def test_an_empty_card_still_gives_a_titled_page(tmp_path: Path):
    card = tmp_path / "model_card.md"
    card.write_text("", encoding="utf-8")
    page = write_card_html(card).read_text(encoding="utf-8")
    assert "<title>Model card</title>" in page
    assert body_of(page) == ""


@pytest.mark.slow
def test_the_html_card_has_every_section_of_the_markdown(trained: tuple[Settings, TrainingResult]):
    settings, _ = trained
    models_dir = settings.registry.models_dir
    card = (models_dir / "model_card.md").read_text(encoding="utf-8")
    page = (models_dir / "model_card.html").read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", card, flags=re.MULTILINE)
    assert len(headings) > 8
    assert all(f"<h2>{heading}</h2>" in page for heading in headings)
    assert "<table>" in page
