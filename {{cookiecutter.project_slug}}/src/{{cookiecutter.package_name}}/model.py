"""The estimator and the object we ship: features and estimator travel together.

``TripDurationModel.predict`` takes raw trip records, so every caller (training, batch, the API)
goes through the same ``feature_matrix``; no caller can feed the estimator a different encoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd

from .config import TrainingSettings
from .features import CATEGORICAL_INDICES, FEATURE_NAMES, feature_matrix

TUNABLE_PARAMS = (
    "n_estimators",
    "learning_rate",
    "num_leaves",
    "min_child_samples",
    "subsample",
    "colsample_bytree",
    "reg_lambda",
)


def build_estimator(params: TrainingSettings, seed: int) -> lgb.LGBMRegressor:
    """A seeded LightGBM regressor that uses ``n_jobs`` threads and still repeats itself.

    ``deterministic`` with a forced histogram layout (column-wise: each feature's histogram is
    summed by one thread, in row order) makes two runs on the same data and seed grow the same
    trees; the project's tests check two threaded runs against each other and against one thread.
    """
    return lgb.LGBMRegressor(
        **{name: getattr(params, name) for name in TUNABLE_PARAMS},
        subsample_freq=1 if params.subsample < 1 else 0,
        # Zones are 265-level categoricals: smooth their statistics and only split on
        # well-populated groups, so rare zones do not overfit (chosen on the validation months).
        max_cat_to_onehot=4,
        cat_smooth=10.0,
        cat_l2=10.0,
        min_data_per_group=100,
        random_state=seed,
        n_jobs=params.n_jobs,
        deterministic=True,
        force_col_wise=True,
        verbose=-1,
    )


@dataclass
class TripDurationModel:
    """A fitted estimator plus the feature contract it was trained with."""

    estimator: lgb.LGBMRegressor
    feature_names: tuple[str, ...] = FEATURE_NAMES
    params: dict[str, object] = field(default_factory=dict)

    @classmethod
    def fit(cls, trips: pd.DataFrame, target: pd.Series, params: TrainingSettings, seed: int):
        return cls.fit_features(feature_matrix(trips), target.to_numpy(), params, seed)

    @classmethod
    def fit_features(
        cls, matrix: np.ndarray, target: np.ndarray, params: TrainingSettings, seed: int
    ) -> TripDurationModel:
        """Fit on a ``features.feature_matrix`` (training builds it once, and times it)."""
        estimator = build_estimator(params, seed)
        estimator.fit(
            matrix,
            target,
            feature_name=list(FEATURE_NAMES),
            categorical_feature=list(CATEGORICAL_INDICES),
        )
        chosen = {name: getattr(params, name) for name in TUNABLE_PARAMS}
        return cls(estimator=estimator, params=chosen)

    def predict(self, trips: pd.DataFrame) -> np.ndarray:
        """Predicted durations in minutes for raw trip records (any row count, including 0)."""
        if len(trips) == 0:
            return np.empty(0, dtype=float)
        return self.predict_features(feature_matrix(trips))

    def predict_features(self, matrix: np.ndarray, num_threads: int | None = None) -> np.ndarray:
        """Predictions for a ``features.feature_matrix`` (the service builds it from columns)."""
        # The booster directly: the scikit-learn wrapper's input checks cost more than a small
        # request's prediction, and the matrix is already in the trained column order. Without
        # an explicit thread count, OpenMP starts a team of threads for every call.
        predictions = self.estimator.booster_.predict(
            matrix, num_threads=num_threads or self.estimator.n_jobs
        )
        return np.clip(predictions, 0.0, None)
