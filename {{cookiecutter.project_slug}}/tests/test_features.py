"""Training-time and inference-time features must be identical, one record at a time or in bulk."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandas.testing as pdt

from {{ cookiecutter.package_name }}.data import read_trips
from {{ cookiecutter.package_name }}.features import (
    FEATURE_NAMES,
    ZONE_DTYPE,
    build_features,
    feature_matrix,
)
from {{ cookiecutter.package_name }}.trip import INFERENCE_COLUMNS

from .helpers import SAMPLE_DIR


def sample_trips(rows: int = 200) -> pd.DataFrame:
    trips = read_trips(SAMPLE_DIR / "green_tripdata_2023-02.parquet", INFERENCE_COLUMNS)
    return trips.dropna().query("1 <= PULocationID <= 265 and 1 <= DOLocationID <= 265").head(rows)


def test_feature_order_and_types():
    features = build_features(sample_trips())
    assert tuple(features.columns) == FEATURE_NAMES
    assert features["PULocationID"].dtype == ZONE_DTYPE
    assert features["DOLocationID"].dtype == ZONE_DTYPE
    assert features.notna().all().all()


def test_one_record_at_a_time_equals_the_batch():
    """The service builds features from one JSON record; training builds them for a month."""
    trips = sample_trips()
    batch = build_features(trips)
    one_by_one = pd.concat(
        [build_features(pd.DataFrame([record])) for record in trips.to_dict(orient="records")]
    )
    pdt.assert_frame_equal(
        batch.reset_index(drop=True), one_by_one.reset_index(drop=True), check_exact=True
    )


def test_json_like_records_give_the_same_features():
    """Requests arrive with ISO strings and plain ints; files arrive typed. Same features."""
    trips = sample_trips(50)
    as_json = pd.DataFrame(
        {
            "pickup_datetime": trips["pickup_datetime"].dt.strftime("%Y-%m-%dT%H:%M:%S"),
            "PULocationID": trips["PULocationID"].astype(int).tolist(),
            "DOLocationID": trips["DOLocationID"].astype(int).tolist(),
            "trip_distance": trips["trip_distance"].astype(float).tolist(),
        }
    )
    pdt.assert_frame_equal(
        build_features(trips).reset_index(drop=True),
        build_features(as_json).reset_index(drop=True),
        check_exact=True,
    )


def test_time_features():
    trips = pd.DataFrame(
        {
            "pickup_datetime": pd.to_datetime(["2023-01-07 18:30"]),  # a Saturday
            "PULocationID": [74],
            "DOLocationID": [74],
            "trip_distance": [1.0],
        }
    )
    features = build_features(trips).iloc[0]
    assert features["pickup_hour"] == 18.5
    assert features["pickup_weekday"] == 5
    assert features["is_weekend"] == 1
    assert features["same_zone"] == 1


def test_federal_holidays_are_flagged():
    trips = pd.DataFrame(
        {
            "pickup_datetime": pd.to_datetime(["2023-07-04 09:00", "2023-07-05 09:00"]),
            "PULocationID": [74, 74],
            "DOLocationID": [42, 42],
            "trip_distance": [1.0, 1.0],
        }
    )
    assert build_features(trips)["is_holiday"].tolist() == [1, 0]


def test_matrix_and_frame_hold_the_same_values():
    """The model reads the matrix; people and reports read the frame."""
    trips = sample_trips()
    matrix = feature_matrix(trips)
    frame = build_features(trips)
    assert matrix.shape == (len(trips), len(FEATURE_NAMES))
    for position, name in enumerate(FEATURE_NAMES):
        assert np.array_equal(matrix[:, position], frame[name].astype(float).to_numpy()), name
