"""Why the model predicted what it did: each input's contribution, in minutes.

LightGBM computes exact TreeSHAP values itself (``pred_contrib``), so no extra library is needed:
for each trip, a base value (the average prediction over the training data) plus one contribution
per model input, adding up to the prediction. Negative predictions are clipped to 0 minutes; only
for those does the sum differ from the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .features import feature_matrix
from .model import TripDurationModel


@dataclass(frozen=True)
class Explanations:
    """Contributions of ``feature_names`` (one row per trip) and each trip's base value."""

    feature_names: tuple[str, ...]
    contributions: np.ndarray
    base_values: np.ndarray

    def rows(self) -> list[dict[str, object]]:
        """One ``{"base_value", "contributions"}`` mapping per trip, as the API returns them."""
        return [
            {
                "base_value": float(base),
                "contributions": dict(zip(self.feature_names, map(float, row), strict=True)),
            }
            for base, row in zip(self.base_values, self.contributions, strict=True)
        ]

    def mean_absolute(self) -> pd.Series:
        """Global importance: the mean size of each input's contribution, largest first."""
        importance = np.abs(self.contributions).mean(axis=0) if len(self.contributions) else 0.0
        return pd.Series(importance, index=list(self.feature_names)).sort_values(ascending=False)


def explain_matrix(
    model: TripDurationModel, matrix: np.ndarray, num_threads: int | None = None
) -> Explanations:
    """Explanations of the rows of a ``features.feature_matrix``."""
    if len(matrix) == 0:  # LightGBM refuses an empty matrix
        empty = np.empty((0, len(model.feature_names)))
        return Explanations(tuple(model.feature_names), empty, np.empty(0))
    values = model.contributions(matrix, num_threads)
    return Explanations(tuple(model.feature_names), values[:, :-1], values[:, -1])


def explain(model: TripDurationModel, trips: pd.DataFrame) -> Explanations:
    """Explanations of raw trip records (the same inputs as ``TripDurationModel.predict``)."""
    if len(trips) == 0:
        return explain_matrix(model, np.empty((0, len(model.feature_names))))
    return explain_matrix(model, feature_matrix(trips))
