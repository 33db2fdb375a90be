"""The shipped model: features and booster together, stored as text files that cannot run code."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.config import DataSettings, TrainingSettings
from {{ cookiecutter.package_name }}.data import load_month
from {{ cookiecutter.package_name }}.features import FEATURE_NAMES
from {{ cookiecutter.package_name }}.model import (
    CONTRACT_FILE,
    MODEL_FILE,
    ModelFileError,
    TripDurationModel,
)
from {{ cookiecutter.package_name }}.trip import DURATION

from .helpers import SAMPLE_DIR


@pytest.fixture
def small_model(tmp_path: Path) -> tuple[TripDurationModel, pd.DataFrame]:
    """A model of a few trees on the sample's training month, and that month's trips."""
    data = DataSettings(data_dir=SAMPLE_DIR, quarantine_dir=tmp_path / "quarantine")
    trips = load_month(data, data.train_month).trips
    model = TripDurationModel.fit(trips, trips[DURATION], TrainingSettings(n_estimators=10), 42)
    return model, trips


def test_saved_files_load_back_to_the_same_predictions(small_model, tmp_path: Path):
    model, trips = small_model
    files = model.save(tmp_path)
    assert set(files) == {MODEL_FILE, CONTRACT_FILE}
    loaded = TripDurationModel.from_bytes(
        files[MODEL_FILE].read_bytes(), files[CONTRACT_FILE].read_bytes()
    )
    np.testing.assert_array_equal(loaded.predict(trips), model.predict(trips))
    assert loaded.params == model.params
    assert loaded.feature_names == FEATURE_NAMES


def test_predictions_are_never_negative_and_empty_input_is_empty(small_model):
    model, trips = small_model
    assert (model.predict(trips) >= 0).all()
    assert model.predict(trips.head(0)).shape == (0,)


def test_a_contract_of_another_feature_pipeline_is_refused(small_model, tmp_path: Path):
    model, _ = small_model
    files = model.save(tmp_path)
    contract = json.loads(files[CONTRACT_FILE].read_text(encoding="utf-8"))
    contract["feature_names"] = [*FEATURE_NAMES, "passenger_count"]
    with pytest.raises(ModelFileError, match="another feature pipeline") as error:
        TripDurationModel.from_bytes(files[MODEL_FILE].read_bytes(), json.dumps(contract).encode())
    assert error.value.role == CONTRACT_FILE


def test_a_model_file_that_is_not_lightgbm_text_is_refused(small_model, tmp_path: Path):
    model, _ = small_model
    files = model.save(tmp_path)
    with pytest.raises(ModelFileError, match="not a LightGBM text model") as error:
        TripDurationModel.from_bytes(b"\x80\x04not a model", files[CONTRACT_FILE].read_bytes())
    assert error.value.role == MODEL_FILE
