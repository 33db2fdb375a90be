"""Reading real-world file variants, and accounting for every row."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from {{ cookiecutter.package_name }}.config import DataSettings
from {{ cookiecutter.package_name }}.data import (
    DataError,
    clean_for_training,
    load_month,
    load_months,
    normalize,
    read_trips,
)
from {{ cookiecutter.package_name }}.trip import DURATION, SOURCE_NAMES, TRAINING_COLUMNS

from .helpers import SAMPLE_DIR

SAMPLE = SAMPLE_DIR / "green_tripdata_2023-01.parquet"


def trip_rows(**overrides: list) -> pd.DataFrame:
    base = {
        "lpep_pickup_datetime": pd.to_datetime(["2023-01-01 10:00"] * 3),
        "lpep_dropoff_datetime": pd.to_datetime(
            ["2023-01-01 10:12:00", "2023-01-01 10:00:30", "2023-01-01 12:00:00"]
        ),
        "PULocationID": [74, 75, 41],
        "DOLocationID": [42, 74, 166],
        "trip_distance": [2.5, 0.1, 10.0],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def read_trips_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Normalize an in-memory frame exactly as a file read would."""
    renames = {names[0]: column for column, names in SOURCE_NAMES.items() if names[0] in frame}
    return normalize(frame.rename(columns=renames))


def write(frame: pd.DataFrame | pa.Table, path: Path) -> Path:
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame)
    pq.write_table(table, path)
    return path


@pytest.mark.parametrize("id_type", [pa.string(), pa.int32(), pa.int64(), pa.float64()])
def test_location_id_types_are_normalized(tmp_path: Path, id_type: pa.DataType):
    table = pa.Table.from_pandas(trip_rows())
    for column in ("PULocationID", "DOLocationID"):
        index = table.schema.get_field_index(column)
        values = table[column].cast(pa.string()) if id_type == pa.string() else table[column]
        table = table.set_column(index, column, values.cast(id_type))
    frame = read_trips(write(table, tmp_path / "trips.parquet"))
    assert str(frame["PULocationID"].dtype) == "Int64"
    assert frame["PULocationID"].tolist() == [74, 75, 41]


def test_extra_and_null_typed_columns_are_ignored(tmp_path: Path):
    table = pa.Table.from_pandas(trip_rows().assign(duration=1.0, fare_amount=9.5))
    table = table.append_column("ehail_fee", pa.nulls(3, pa.null()))
    frame = read_trips(write(table, tmp_path / "trips.parquet"))
    assert set(frame.columns) == set(TRAINING_COLUMNS)


def test_every_row_is_accounted_for_on_the_bundled_sample():
    frame = read_trips(SAMPLE)
    clean = clean_for_training(frame, DataSettings(), "sample")
    account = clean.account
    assert account.read == len(frame) == 4000
    assert account.balanced
    assert account.used == len(clean.trips)
    assert account.quarantined_total == len(clean.quarantined)
    assert clean.trips[DURATION].between(1, 60).all()
    assert account.filtered_by_duration > 0


def test_invalid_rows_are_quarantined_with_a_reason():
    frame = read_trips_frame(
        trip_rows(
            PULocationID=[74, 0, 41],
            DOLocationID=[42, 74, 300],
            trip_distance=[-1.0, 2.0, 3.0],
        )
    )
    clean = clean_for_training(frame, DataSettings(), "test")
    assert clean.account.used == 0
    assert clean.quarantined["reason"].tolist() == [
        "trip_distance missing or outside 0..100 miles",
        "PULocationID missing or outside 1..265",
        "DOLocationID missing or outside 1..265",
    ]
    assert clean.account.balanced


def test_duration_rule_filters_but_does_not_quarantine():
    clean = clean_for_training(read_trips_frame(trip_rows()), DataSettings(), "test")
    assert clean.account.used == 1  # 12 minutes kept
    assert clean.account.filtered_by_duration == 2  # 30 seconds and 2 hours
    assert clean.account.quarantined_total == 0
    assert clean.trips[DURATION].tolist() == [12.0]


def test_dropoff_before_pickup_is_quarantined():
    rows = trip_rows(lpep_dropoff_datetime=pd.to_datetime(["2023-01-01 09:00"] * 3))
    clean = clean_for_training(read_trips_frame(rows), DataSettings(), "test")
    assert set(clean.quarantined["reason"]) == {"dropoff before pickup"}


def test_unusable_files_fail_with_one_clear_message(tmp_path: Path):
    not_parquet = tmp_path / "notes.parquet"
    not_parquet.write_text("hello", encoding="utf-8")
    with pytest.raises(DataError, match=r"notes\.parquet: not a readable parquet file"):
        read_trips(not_parquet)
    missing = write(trip_rows().drop(columns=["trip_distance"]), tmp_path / "no_distance.parquet")
    with pytest.raises(DataError, match=r"missing required column.*trip_distance"):
        read_trips(missing)
    empty = write(trip_rows().iloc[:0], tmp_path / "empty.parquet")
    with pytest.raises(DataError, match=r"empty\.parquet: the file has no rows"):
        read_trips(empty)
    with pytest.raises(DataError, match="file not found"):
        read_trips(tmp_path / "absent.parquet")


def test_load_month_writes_quarantined_rows(tmp_path: Path):
    real = pd.read_parquet(SAMPLE)
    broken = real.head(3).assign(PULocationID=[0, 266, None], trip_distance=[1.0, 1.0, -5.0])
    month_file = tmp_path / "data" / "green_tripdata_2030-01.parquet"
    month_file.parent.mkdir()
    write(pd.concat([real, broken], ignore_index=True), month_file)
    settings = DataSettings(data_dir=month_file.parent, quarantine_dir=tmp_path / "quarantine")

    clean = load_month(settings, "2030-01")

    assert clean.account.read == len(real) + 3
    assert clean.account.quarantined_total == 3
    assert clean.account.balanced
    written = pd.read_parquet(tmp_path / "quarantine" / month_file.name)
    assert written["reason"].tolist() == ["PULocationID missing or outside 1..265"] * 3


def test_several_months_are_read_with_one_account_each(tmp_path: Path):
    settings = DataSettings(data_dir=SAMPLE_DIR, quarantine_dir=tmp_path, batch_rows=1000)
    months = settings.model_copy(update={"train_month": "2023-01..2023-02"}).train_months

    clean = load_months(settings, months)

    assert list(clean.by_month) == ["2023-01", "2023-02"]
    singles = [load_month(settings, month) for month in months]
    for month, single in zip(months, singles, strict=True):
        account = clean.by_month[month]
        assert account.balanced
        assert account.read == len(pd.read_parquet(settings.month_file(month)))
        assert account.as_dict() == single.account.as_dict() == single.by_month[month].as_dict()
    assert clean.account.source == "2023-01..2023-02"
    assert clean.account.balanced
    assert clean.account.read == sum(single.account.read for single in singles)
    assert clean.account.used == len(clean.trips)
    expected = pd.concat([single.trips for single in singles], ignore_index=True)
    pd.testing.assert_frame_equal(clean.trips, expected)


def test_batch_size_does_not_change_what_is_read(tmp_path: Path):
    whole = load_month(DataSettings(data_dir=SAMPLE_DIR, quarantine_dir=tmp_path), "2023-01")
    small = DataSettings(data_dir=SAMPLE_DIR, quarantine_dir=tmp_path, batch_rows=333)
    streamed = load_month(small, "2023-01")
    pd.testing.assert_frame_equal(streamed.trips, whole.trips)
    pd.testing.assert_frame_equal(streamed.quarantined, whole.quarantined)
    assert streamed.account.as_dict() == whole.account.as_dict()


def test_pickups_outside_the_month_are_skipped_in_the_reader_and_counted(tmp_path: Path):
    real = pd.read_parquet(SAMPLE)
    real = real[real["lpep_pickup_datetime"].between("2023-01-01", "2023-01-31 23:59:59")]
    early = real.head(4).assign(
        lpep_pickup_datetime=pd.Timestamp("2022-12-31 23:00"),
        lpep_dropoff_datetime=pd.Timestamp("2022-12-31 23:20"),
    )
    month_file = write(
        pd.concat([real, early], ignore_index=True), tmp_path / "green_tripdata_2023-01.parquet"
    )
    keep_all = DataSettings(data_dir=tmp_path, quarantine_dir=tmp_path / "q")
    in_month = keep_all.model_copy(update={"pickups_in_month_only": True})

    everything = load_month(keep_all, "2023-01").account
    filtered = load_month(in_month, "2023-01").account

    assert everything.outside_month == 0
    assert (pd.read_parquet(month_file)["lpep_pickup_datetime"] < "2023-01-01").sum() == 4
    assert filtered.outside_month == 4
    assert filtered.read == everything.read
    assert filtered.balanced
    assert filtered.used == everything.used - 4
