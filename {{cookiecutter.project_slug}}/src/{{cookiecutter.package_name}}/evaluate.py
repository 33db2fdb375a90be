"""Regression metrics, in minutes, computed the same way for every model we compare."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from .trip import DURATION

if TYPE_CHECKING:
    from .data import CleanTrips
    from .model import TripDurationModel


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """RMSE, MAE and R² of predicted against actual durations."""
    return {
        "rmse": float(np.sqrt(mean_squared_error(y_true, y_pred))),
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "r2": float(r2_score(y_true, y_pred)),
    }


def rmse_on(trips: CleanTrips) -> Callable[[TripDurationModel], float]:
    """Scores any model on the same rows: the gate and `promote --month` compare models with it."""
    actual = trips.trips[DURATION].to_numpy()
    return lambda model: regression_metrics(actual, model.predict(trips.trips))["rmse"]
