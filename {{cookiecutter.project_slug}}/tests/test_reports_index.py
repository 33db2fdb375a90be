"""``reports/index.html``: the latest model card and every drift report (newest first), linked
relatively."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.reports_index import INDEX, write_reports_index
from {{ cookiecutter.package_name }}.train import TrainingResult


def links(page: str) -> list[tuple[str, str]]:
    return re.findall(r'<a href="([^"]+)">([^<]+)</a>', page)


def test_an_empty_folder_says_what_to_run(tmp_path: Path):
    folder = tmp_path / "reports"  # not there yet: the index creates it
    target = write_reports_index(folder, tmp_path / "models" / "model_card.html")
    assert target == folder / INDEX
    page = target.read_text(encoding="utf-8")
    assert links(page) == []
    assert "No model card yet: run <code>train</code>." in page
    assert "No drift report yet: run <code>monitor</code>." in page


def test_the_card_and_the_drift_reports_are_linked_relatively_newest_first(tmp_path: Path):
    folder, models = tmp_path / "reports", tmp_path / "models"
    folder.mkdir()
    models.mkdir()
    card = models / "model_card.html"
    card.write_text("<html></html>", encoding="utf-8")
    for age, name in enumerate(["drift_2024-03", "drift_2024-01", "drift_2024-02"]):
        report = folder / f"{name}.html"
        report.write_text("<html></html>", encoding="utf-8")
        # Ordered by modification time, not by name: drift_2024-03 is the newest.
        os.utime(report, (1_700_000_000 - age * 60, 1_700_000_000 - age * 60))
    (folder / "notes.html").write_text("not a drift report", encoding="utf-8")

    page = write_reports_index(folder, card).read_text(encoding="utf-8")
    assert links(page) == [
        ("../models/model_card.html", "Model card of the latest training run"),
        ("drift_2024-03.html", "drift_2024-03"),
        ("drift_2024-01.html", "drift_2024-01"),
        ("drift_2024-02.html", "drift_2024-02"),
    ]
    assert "No " not in page


def test_rewriting_the_index_adds_a_new_report(tmp_path: Path):
    card = tmp_path / "model_card.html"
    write_reports_index(tmp_path, card)
    (tmp_path / "drift_2024-05.html").write_text("<html></html>", encoding="utf-8")
    page = write_reports_index(tmp_path, card).read_text(encoding="utf-8")
    assert links(page) == [("drift_2024-05.html", "drift_2024-05")]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["drift_2024-05.html", INDEX]


@pytest.mark.slow
def test_the_reports_index_links_the_latest_card(trained: tuple[Settings, TrainingResult]):
    settings, _ = trained
    index = (settings.monitoring.reports_dir / INDEX).read_text(encoding="utf-8")
    assert "model_card.html" in index
    assert "Model card of the latest training run" in index
