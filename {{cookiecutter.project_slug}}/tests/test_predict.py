"""Batch prediction: streamed in small batches it gives what a whole-file prediction gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.data import DataError
from {{ cookiecutter.package_name }}.predict import (
    PREDICTION,
    REJECTION,
    predict_file,
    predict_frame,
    predict_source,
)
from {{ cookiecutter.package_name }}.registry import load_model
from {{ cookiecutter.package_name }}.train import TrainingResult

from .helpers import SAMPLE_DIR

SAMPLE = SAMPLE_DIR / "green_tripdata_2024-01.parquet"


@pytest.fixture(scope="module")
def model(trained: tuple[Settings, TrainingResult]):
    settings, _ = trained
    return load_model(settings)[0]


def with_bad_rows(path: Path) -> Path:
    """The sample with rows that must be rejected, spread over the file."""
    rows = pd.read_parquet(SAMPLE)
    rows.loc[3, "PULocationID"] = 0
    rows.loc[500, "trip_distance"] = -1.0
    rows.loc[len(rows) - 1, "lpep_pickup_datetime"] = pd.NaT
    rows.to_parquet(path, index=False)
    return path


def test_streamed_prediction_equals_whole_file_row_for_row(model, tmp_path: Path):
    source = with_bad_rows(tmp_path / "trips.parquet")
    whole = predict_frame(pd.read_parquet(source), model)

    summary = predict_file(source, tmp_path / "out.parquet", model, batch_rows=7)

    streamed = pd.read_parquet(tmp_path / "out.parquet")
    assert len(streamed) == len(whole) == summary.rows
    assert pq.ParquetFile(tmp_path / "out.parquet").metadata.num_row_groups > 1
    np.testing.assert_array_equal(streamed[PREDICTION].to_numpy(), whole[PREDICTION].to_numpy())
    pd.testing.assert_series_equal(streamed[REJECTION].astype("string"), whole[REJECTION])
    pd.testing.assert_frame_equal(
        streamed.drop(columns=[PREDICTION, REJECTION]), pd.read_parquet(source)
    )
    assert summary.rejected == int(whole[REJECTION].notna().sum()) >= 3
    assert set(streamed.index[streamed[REJECTION].notna()]) >= {3, 500, len(streamed) - 1}
    assert summary.predicted == int(streamed[PREDICTION].notna().sum())
    assert {path.name for path in tmp_path.iterdir()} == {"trips.parquet", "out.parquet"}


def test_input_column_types_are_kept(model, tmp_path: Path):
    source = with_bad_rows(tmp_path / "trips.parquet")
    predict_file(source, tmp_path / "out.parquet", model, batch_rows=100)
    written = pq.read_schema(tmp_path / "out.parquet")
    for field in pq.read_schema(source):
        assert written.field(field.name).type == field.type


def test_a_folder_is_predicted_file_by_file(model, trained, tmp_path: Path):
    settings, _ = trained
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for name in ("green_tripdata_2023-02.parquet", "green_tripdata_2024-01.parquet"):
        (inputs / name).write_bytes((SAMPLE_DIR / name).read_bytes())
    (inputs / ".partial-upload.parquet").write_text("not yet", encoding="utf-8")

    summary = predict_source(str(inputs), tmp_path / "out", model, settings.data)

    outputs = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert outputs == ["green_tripdata_2023-02.parquet", "green_tripdata_2024-01.parquet"]
    assert summary.files == 2
    for name in outputs:
        alone = predict_frame(pd.read_parquet(inputs / name), model)
        scored = pd.read_parquet(tmp_path / "out" / name)
        np.testing.assert_array_equal(scored[PREDICTION].to_numpy(), alone[PREDICTION].to_numpy())
    assert summary.rows == sum(len(pd.read_parquet(inputs / name)) for name in outputs)


def test_a_months_spec_predicts_those_months_of_the_data_folder(model, trained, tmp_path: Path):
    settings, _ = trained
    summary = predict_source("2023-01..2023-02", tmp_path / "out", model, settings.data)
    assert summary.files == 2
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
        "green_tripdata_2023-01.parquet",
        "green_tripdata_2023-02.parquet",
    ]


def test_a_missing_input_is_a_clear_error_and_leaves_no_output(model, trained, tmp_path: Path):
    settings, _ = trained
    with pytest.raises(DataError, match="file not found"):
        predict_source(
            str(tmp_path / "absent.parquet"), tmp_path / "out.parquet", model, settings.data
        )
    broken = tmp_path / "broken.parquet"
    broken.write_text("not parquet", encoding="utf-8")
    with pytest.raises(DataError, match="not a readable parquet file"):
        predict_file(broken, tmp_path / "out.parquet", model)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["broken.parquet"]
