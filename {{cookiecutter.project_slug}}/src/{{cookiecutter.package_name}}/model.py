"""The estimator and the object we ship: features and estimator travel together.

``TripDurationModel.predict`` takes raw trip records, so every caller (training, batch, the API)
goes through the same ``feature_matrix``; no caller can feed the estimator a different encoding.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from .config import TrainingSettings
from .features import CATEGORICAL_INDICES, FEATURE_NAMES, feature_matrix

# The stored model: LightGBM's own text format and a JSON contract, never a pickle.
MODEL_FILE = "model.txt"
CONTRACT_FILE = "contract.json"
CONTRACT_FORMAT = 1

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
    """A fitted LightGBM booster plus the feature contract it was trained with.

    It is stored as LightGBM's own text model and a JSON contract (see ``save``): formats whose
    loading cannot run code, unlike a pickle, so a tampered file can be wrong but never hostile.
    """

    booster: lgb.Booster
    params: dict[str, float | int] = field(default_factory=dict)
    feature_names: tuple[str, ...] = FEATURE_NAMES
    num_threads: int = 1

    @classmethod
    def fit(
        cls, trips: pd.DataFrame, target: pd.Series, params: TrainingSettings, seed: int
    ) -> TripDurationModel:
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
        return cls(booster=estimator.booster_, params=chosen, num_threads=params.n_jobs)

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
        predictions = self.booster.predict(matrix, num_threads=num_threads or self.num_threads)
        return np.clip(predictions, 0.0, None)

    def contributions(self, matrix: np.ndarray, num_threads: int | None = None) -> np.ndarray:
        """LightGBM's exact TreeSHAP values for a ``feature_matrix``: one column per feature,
        then the base value; a row adds up to the prediction before it is clipped at 0."""
        return np.asarray(
            self.booster.predict(
                matrix, pred_contrib=True, num_threads=num_threads or self.num_threads
            )
        )

    def contract(self) -> dict[str, object]:
        """What a loader must know besides the trees: checked against this code when loading."""
        return {
            "format": CONTRACT_FORMAT,
            "feature_names": list(self.feature_names),
            "categorical_indices": list(CATEGORICAL_INDICES),
            "params": self.params,
            "num_threads": self.num_threads,
            "lightgbm": lgb.__version__,
        }

    def save(self, folder: Path) -> dict[str, Path]:
        """Write the text model and the JSON contract into ``folder``; returns name -> path."""
        files = {MODEL_FILE: folder / MODEL_FILE, CONTRACT_FILE: folder / CONTRACT_FILE}
        self.booster.save_model(str(files[MODEL_FILE]))
        files[CONTRACT_FILE].write_text(
            json.dumps(self.contract(), indent=2, sort_keys=True), encoding="utf-8"
        )
        return files

    @classmethod
    def from_bytes(cls, model_text: bytes, contract_text: bytes) -> TripDurationModel:
        """A saved model from its two files' contents; ModelFileError names the bad one.

        Only LightGBM's text parser and a JSON parser read them: nothing in them is executed.
        """
        try:
            contract = json.loads(contract_text.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ModelFileError(CONTRACT_FILE, f"not a JSON model contract ({error})") from error
        if not isinstance(contract, dict) or contract.get("format") != CONTRACT_FORMAT:
            raise ModelFileError(CONTRACT_FILE, f"not a model contract of format {CONTRACT_FORMAT}")
        expected = {
            "feature_names": list(FEATURE_NAMES),
            "categorical_indices": list(CATEGORICAL_INDICES),
        }
        for key, value in expected.items():
            if contract.get(key) != value:
                raise ModelFileError(
                    CONTRACT_FILE,
                    f"its {key} differ from this code's {value}: the model was trained with "
                    "another feature pipeline",
                )
        try:
            booster = lgb.Booster(model_str=model_text.decode("utf-8"))
        except (UnicodeDecodeError, lgb.basic.LightGBMError) as error:
            reason = (str(error).splitlines() or [type(error).__name__])[0]
            raise ModelFileError(MODEL_FILE, f"not a LightGBM text model ({reason})") from error
        if booster.feature_name() != list(FEATURE_NAMES):
            raise ModelFileError(MODEL_FILE, "its features differ from the contract's")
        return cls(
            booster=booster,
            params=dict(contract.get("params") or {}),
            num_threads=int(contract.get("num_threads") or 1),
        )


class ModelFileError(ValueError):
    """One of a saved model's files (``MODEL_FILE`` or ``CONTRACT_FILE``) is not valid."""

    def __init__(self, role: str, reason: str) -> None:
        self.role, self.reason = role, reason
        super().__init__(f"{role}: {reason}")
