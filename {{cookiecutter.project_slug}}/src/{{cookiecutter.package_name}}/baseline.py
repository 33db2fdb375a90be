"""The course baseline: least squares on a one-hot pickup-dropoff pair plus trip_distance.

The course fits scikit-learn's ``LinearRegression`` on ``DictVectorizer`` output: one column per
``PU_DO`` pair seen in training, one ``trip_distance`` column, an intercept. Every row has exactly
one pair, so the least-squares problem has a closed form (the "within" estimator of a
fixed-effects regression): the slope comes from distances and durations centred on their pair's
mean, and each pair's level from its means. That is a few passes over the rows with
``np.bincount``: no per-row dicts, no sparse matrix, no iterations. scikit-learn reaches the same
solution iteratively (lsqr) and stops at a tolerance; on a month with distances of 100,000+
miles it stops far from it, so the exact solution scores slightly better, never worse.

Intercept and all pair columns are collinear, so many coefficient vectors fit equally well.
Like scikit-learn (lsqr from zero on the centred problem) we return the minimum-norm one, in
which the pair coefficients sum to zero. That choice matters only for a pair never seen in
training, which the course's encoding turns into an all-zero row: intercept + slope * distance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .evaluate import regression_metrics
from .trip import (
    DISTANCE,
    DROPOFF_ZONE,
    DURATION,
    MAX_LOCATION_ID,
    MIN_LOCATION_ID,
    PICKUP_ZONE,
)

BASELINE = f"LinearRegression on one-hot PU_DO + {DISTANCE} (the course baseline)"
BASELINE_PREFIX = "baseline_"
# Pickup and dropoff zone in one integer: PU * PAIR_BASE + DO is unique because zones are < 1000.
PAIR_BASE = 1000


def zone_pairs(trips: pd.DataFrame) -> np.ndarray:
    """``PU_DO`` as one integer per trip; refuses zones outside the TLC range the codes rely on."""
    pickup = trips[PICKUP_ZONE].to_numpy(dtype="int64")
    dropoff = trips[DROPOFF_ZONE].to_numpy(dtype="int64")
    for name, zones in ((PICKUP_ZONE, pickup), (DROPOFF_ZONE, dropoff)):
        if len(zones) and (zones.min() < MIN_LOCATION_ID or zones.max() > MAX_LOCATION_ID):
            raise ValueError(
                f"{name} outside {MIN_LOCATION_ID}..{MAX_LOCATION_ID}: validate the trips first"
            )
    return pickup * PAIR_BASE + dropoff


@dataclass(frozen=True)
class ZonePairRegression:
    """Fitted coefficients of the course baseline, in scikit-learn's parametrisation."""

    pairs: np.ndarray  # zone-pair codes seen in training, sorted
    pair_coef: np.ndarray  # one per pair, summing to zero (minimum norm)
    distance_coef: float
    intercept: float

    @classmethod
    def fit(cls, trips: pd.DataFrame, duration: np.ndarray) -> ZonePairRegression:
        pairs = zone_pairs(trips)
        distance = trips[DISTANCE].to_numpy(dtype="float64")
        duration = np.asarray(duration, dtype="float64")
        if len(pairs) == 0 or len(pairs) != len(duration):
            raise ValueError(f"need one duration per trip, got {len(duration)} for {len(pairs)}")
        size = MAX_LOCATION_ID * PAIR_BASE + MAX_LOCATION_ID + 1
        count = np.bincount(pairs, minlength=size)
        seen = np.flatnonzero(count)
        count = count[seen].astype("float64")
        distance_sum = np.bincount(pairs, distance, size)[seen]
        duration_sum = np.bincount(pairs, duration, size)[seen]
        # Sums of squares and products around each pair's own mean.
        within_xx = distance @ distance - np.sum(distance_sum**2 / count)
        within_xy = distance @ duration - np.sum(distance_sum * duration_sum / count)
        if within_xx <= 1e-12 * max(float(distance @ distance), 1.0):
            raise ValueError(
                f"{DISTANCE} does not vary within any zone pair, so its slope is not defined"
            )
        slope = within_xy / within_xx
        level = (duration_sum - slope * distance_sum) / count
        intercept = float(level.mean())
        return cls(seen, level - intercept, float(slope), intercept)

    def predict(self, trips: pd.DataFrame) -> np.ndarray:
        pairs = zone_pairs(trips)
        position = np.searchsorted(self.pairs, pairs).clip(0, len(self.pairs) - 1)
        seen = self.pairs[position] == pairs
        pair_effect = np.where(seen, self.pair_coef[position], 0.0)
        distance = trips[DISTANCE].to_numpy(dtype="float64")
        return self.intercept + self.distance_coef * distance + pair_effect


def course_baseline(train: pd.DataFrame, val: pd.DataFrame) -> dict[str, float]:
    """The course's model, fitted and scored on the same cleaned rows as the project's model."""
    regression = ZonePairRegression.fit(train, train[DURATION].to_numpy())
    metrics = regression_metrics(val[DURATION].to_numpy(), regression.predict(val))
    return {f"{BASELINE_PREFIX}{name}": value for name, value in metrics.items()}
