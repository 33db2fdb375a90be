"""The course baseline: the exact solution of the course's own recipe, and its edge cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LinearRegression

from {{ cookiecutter.package_name }}.baseline import ZonePairRegression, course_baseline, zone_pairs
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.data import load_month
from {{ cookiecutter.package_name }}.evaluate import regression_metrics


def course_records(trips: pd.DataFrame) -> list[dict[str, object]]:
    """The course's features, one dict per row, as its notebook builds them."""
    pairs = trips["PULocationID"].astype(str) + "_" + trips["DOLocationID"].astype(str)
    return [
        {"PU_DO": pair, "trip_distance": distance}
        for pair, distance in zip(pairs, trips["trip_distance"], strict=True)
    ]


def course_notebook_predictions(
    train: pd.DataFrame, val: pd.DataFrame, tol: float = 1e-6
) -> np.ndarray:
    """The course's own recipe (DictVectorizer + LinearRegression): the reference to match."""
    vectorizer = DictVectorizer()
    regression = LinearRegression(tol=tol).fit(
        vectorizer.fit_transform(course_records(train)), train["duration_minutes"]
    )
    return regression.predict(vectorizer.transform(course_records(val)))


@pytest.fixture
def months(settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    train = load_month(settings.data, settings.data.train_month).trips
    val = load_month(settings.data, settings.data.val_month).trips
    return train, val


def test_exact_solution_is_the_one_scikit_learn_converges_to(months):
    train, val = months
    assert not np.isin(zone_pairs(val), zone_pairs(train)).all(), "no unseen pair to check"
    # lsqr run to a tight tolerance reaches the minimum-norm least-squares solution; the closed
    # form must give the same predictions, for unseen zone pairs too (they use the intercept).
    reference = course_notebook_predictions(train, val, tol=1e-12)
    exact = ZonePairRegression.fit(train, train["duration_minutes"].to_numpy()).predict(val)
    np.testing.assert_allclose(exact, reference, rtol=0, atol=1e-6)


def test_baseline_metrics_match_the_course_recipe_at_its_default_tolerance(months):
    train, val = months
    fast = course_baseline(train, val)
    reference = regression_metrics(
        val["duration_minutes"].to_numpy(), course_notebook_predictions(train, val)
    )
    # The course's lsqr stops at tol=1e-6; the exact solution is within 0.01 RMSE of it.
    assert fast["baseline_rmse"] == pytest.approx(reference["rmse"], abs=0.01)
    assert fast["baseline_rmse"] <= reference["rmse"] + 1e-9


def test_pair_coefficients_sum_to_zero_and_an_unseen_pair_keeps_only_the_distance():
    train = pd.DataFrame(
        {
            "PULocationID": [1, 1, 1, 5, 5, 5],
            "DOLocationID": [2, 2, 2, 9, 9, 9],
            "trip_distance": [1.0, 2.0, 3.0, 1.0, 2.0, 4.0],
        }
    )
    duration = np.array([4.0, 6.0, 8.0, 10.0, 12.0, 16.0])  # slope 2, levels 2 and 8
    model = ZonePairRegression.fit(train, duration)
    assert model.distance_coef == pytest.approx(2.0)
    np.testing.assert_allclose(model.pair_coef, [-3.0, 3.0])
    assert model.intercept == pytest.approx(5.0)
    unseen = pd.DataFrame({"PULocationID": [7], "DOLocationID": [7], "trip_distance": [1.5]})
    np.testing.assert_allclose(model.predict(unseen), [5.0 + 2.0 * 1.5])
    np.testing.assert_allclose(model.predict(train), duration)


def test_zones_outside_the_tlc_range_are_refused():
    trips = pd.DataFrame({"PULocationID": [0], "DOLocationID": [2], "trip_distance": [1.0]})
    with pytest.raises(ValueError, match=r"PULocationID outside 1\.\.265"):
        ZonePairRegression.fit(trips, np.array([5.0]))


def test_a_slope_without_variation_inside_any_pair_is_refused():
    trips = pd.DataFrame(
        {"PULocationID": [1, 1, 3], "DOLocationID": [2, 2, 4], "trip_distance": [1.0, 1.0, 7.0]}
    )
    with pytest.raises(ValueError, match="does not vary within any zone pair"):
        ZonePairRegression.fit(trips, np.array([5.0, 6.0, 20.0]))
