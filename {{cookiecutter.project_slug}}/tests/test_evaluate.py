"""Regression metrics: the same numbers as their definitions, for every model compared."""

from __future__ import annotations

import math

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.evaluate import regression_metrics


def test_metrics_follow_their_definitions():
    actual = np.array([1.0, 2.0, 3.0])
    predicted = np.array([1.0, 2.0, 5.0])
    metrics = regression_metrics(actual, predicted)
    assert metrics["rmse"] == pytest.approx(math.sqrt(4 / 3))
    assert metrics["mae"] == pytest.approx(2 / 3)
    # 1 - residual sum of squares (4) / total sum of squares (2)
    assert metrics["r2"] == pytest.approx(-1.0)
    assert all(isinstance(value, float) for value in metrics.values())


def test_a_perfect_prediction_scores_zero_error_and_r2_of_one():
    actual = np.array([3.0, 7.0, 11.0])
    assert regression_metrics(actual, actual.copy()) == {"rmse": 0.0, "mae": 0.0, "r2": 1.0}
