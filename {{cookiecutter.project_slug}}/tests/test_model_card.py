"""The model card of a run: every section, from the run record and the metrics."""

from __future__ import annotations

import pytest

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.features import FEATURE_NAMES
from {{ cookiecutter.package_name }}.provenance import sha256_of
from {{ cookiecutter.package_name }}.train import TrainingResult
from {{ cookiecutter.package_name }}.validation import TRAINING_RULES


@pytest.mark.slow
def test_card_records_the_run(trained: tuple[Settings, TrainingResult]):
    settings, result = trained
    card = (settings.registry.models_dir / "model_card.md").read_text(encoding="utf-8")
    for heading in (
        "Intended use",
        "Data",
        "Input schema",
        "Cleaning",
        "Features",
        "Model and parameters",
        "Metrics",
        "Training environment",
        "Limitations",
    ):
        assert f"\n## {heading}" in card
    for month in (settings.data.train_month, settings.data.val_month):
        assert sha256_of(settings.data.month_file(month)) in card
    metrics = result.metrics
    assert f"| rmse | {metrics['rmse']:.4f} | {metrics['baseline_rmse']:.4f} |" in card
    train, val = result.accounts["train"], result.accounts["validation"]
    assert f"| **rows used** | {train['used']} | {val['used']} |" in card
    assert f"| rows read | {train['read']} | {val['read']} |" in card
    for reason in TRAINING_RULES.reasons:
        assert f"quarantined: {reason}" in card
    for feature in FEATURE_NAMES:
        assert f"`{feature}`" in card
    assert f"| seed | {settings.seed} |" in card
    assert f"| num_leaves | {result.version.record.params['num_leaves']} |" in card


@pytest.mark.slow
def test_the_model_beats_the_course_baseline(trained: tuple[Settings, TrainingResult]):
    _, result = trained
    assert result.metrics["rmse"] < result.metrics["baseline_rmse"]
