"""The model card of a run, and the vectorized course baseline it compares against."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LinearRegression

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.data import load_month
from {{ cookiecutter.package_name }}.evaluate import regression_metrics
from {{ cookiecutter.package_name }}.features import FEATURE_NAMES
from {{ cookiecutter.package_name }}.model_card import baseline_design, course_baseline
from {{ cookiecutter.package_name }}.provenance import sha256_of
from {{ cookiecutter.package_name }}.train import TrainingResult
from {{ cookiecutter.package_name }}.validation import TRAINING_RULES


def course_notebook_baseline(train: pd.DataFrame, val: pd.DataFrame) -> dict[str, float]:
    """The course's own recipe, one dict per row: the reference the fast version must match."""

    def records(trips: pd.DataFrame) -> list[dict[str, object]]:
        pairs = trips["PULocationID"].astype(str) + "_" + trips["DOLocationID"].astype(str)
        return [
            {"PU_DO": pair, "trip_distance": distance}
            for pair, distance in zip(pairs, trips["trip_distance"], strict=True)
        ]

    vectorizer = DictVectorizer()
    regression = LinearRegression().fit(
        vectorizer.fit_transform(records(train)), train["duration_minutes"]
    )
    predicted = regression.predict(vectorizer.transform(records(val)))
    return regression_metrics(val["duration_minutes"].to_numpy(), predicted)


def test_vectorized_baseline_equals_the_course_recipe(settings: Settings):
    train = load_month(settings.data, settings.data.train_month).trips
    val = load_month(settings.data, settings.data.val_month).trips
    fast = course_baseline(train, val)
    reference = course_notebook_baseline(train, val)
    # Sparse LinearRegression solves iteratively (lsqr) to a tolerance, so the column order of the
    # two designs moves the last digits.
    for name in ("rmse", "mae", "r2"):
        assert fast[f"baseline_{name}"] == pytest.approx(reference[name], rel=1e-4)


def test_a_zone_pair_unseen_in_training_only_keeps_the_distance():
    trips = pd.DataFrame(
        {"PULocationID": [1, 7], "DOLocationID": [2, 7], "trip_distance": [3.5, 1.0]}
    )
    design = baseline_design(trips, pd.Index([1002])).toarray()
    np.testing.assert_array_equal(design, [[1.0, 3.5], [0.0, 1.0]])


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
    assert f"| num_leaves | {result.version.metadata['params']['num_leaves']} |" in card


@pytest.mark.slow
def test_the_model_beats_the_course_baseline(trained: tuple[Settings, TrainingResult]):
    _, result = trained
    assert result.metrics["rmse"] < result.metrics["baseline_rmse"]
