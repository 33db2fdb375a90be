"""Explanations: LightGBM's TreeSHAP contributions add up to the model's own predictions."""

from __future__ import annotations

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.data import load_month
from {{ cookiecutter.package_name }}.explain import explain
from {{ cookiecutter.package_name }}.features import FEATURE_NAMES
from {{ cookiecutter.package_name }}.registry import load_model
from {{ cookiecutter.package_name }}.train import TrainingResult

pytestmark = pytest.mark.slow


def test_contributions_add_up_to_the_prediction(trained: tuple[Settings, TrainingResult]):
    settings, _ = trained
    model, _ = load_model(settings)
    trips = load_month(settings.data, settings.data.val_month).trips.head(500)
    explained = explain(model, trips)
    predicted = model.predict(trips)
    assert explained.contributions.shape == (500, len(FEATURE_NAMES))
    total = explained.base_values + explained.contributions.sum(axis=1)
    positive = predicted > 0  # only a negative raw output is changed (clipped to 0 minutes)
    assert positive.mean() > 0.99
    np.testing.assert_allclose(total[positive], predicted[positive], rtol=0, atol=1e-6)
    # The base value is one number, the model's average output, for every trip.
    assert np.ptp(explained.base_values) == pytest.approx(0, abs=1e-9)
    rows = explained.rows()
    assert set(rows[0]["contributions"]) == set(FEATURE_NAMES)


def test_global_importance_ranks_distance_first(trained: tuple[Settings, TrainingResult]):
    settings, _ = trained
    model, _ = load_model(settings)
    trips = load_month(settings.data, settings.data.val_month).trips.head(2000)
    importance = explain(model, trips).mean_absolute()
    assert list(importance.index[:1]) in (["trip_distance"], ["log_trip_distance"])
    assert (importance >= 0).all()
    assert importance.is_monotonic_decreasing


def test_no_trips_no_explanations(trained: tuple[Settings, TrainingResult]):
    settings, _ = trained
    model, _ = load_model(settings)
    trips = load_month(settings.data, settings.data.val_month).trips.head(0)
    explained = explain(model, trips)
    assert explained.rows() == []
    assert explained.contributions.shape == (0, len(FEATURE_NAMES))
