"""Corrupted inputs made here: bad rows are quarantined and counted, unusable files stop cleanly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import TOO_FEW_ROWS_EXIT_CODE, app
from {{ cookiecutter.package_name }}.config import ENV_PREFIX, DataSettings
from {{ cookiecutter.package_name }}.data import (
    TRAINING_COLUMNS,
    DataError,
    TooFewRowsError,
    clean_for_training,
    load_month,
    normalize,
    read_trips,
)
from {{ cookiecutter.package_name }}.trip import (
    EARLIEST_TIME,
    END_OF_TIME,
    MAX_TRIP_DISTANCE_MILES,
    PICKUP,
)
from {{ cookiecutter.package_name }}.validation import (
    INFERENCE_RULES,
    TRAINING_RULES,
    SchemaMismatchError,
    first_violation,
)

from .conftest import SAMPLE_DIR

SAMPLE = SAMPLE_DIR / "green_tripdata_2023-01.parquet"
MONTH = "2030-01"
PICKUP_REASON = TRAINING_RULES.reasons[0]
PU_REASON, DO_REASON, DISTANCE_REASON = TRAINING_RULES.reasons[1:4]
DROPOFF_REASON, ORDER_REASON = TRAINING_RULES.reasons[4:6]


def good_rows(count: int = 4) -> pd.DataFrame:
    """Valid TLC-named rows with 10-minute trips, as the TLC files have them."""
    pickup = pd.date_range("2030-01-05 08:00", periods=count, freq="17min")
    return pd.DataFrame(
        {
            "VendorID": np.ones(count, dtype="int64"),
            "lpep_pickup_datetime": pickup,
            "lpep_dropoff_datetime": pickup + pd.Timedelta(minutes=10),
            "PULocationID": np.full(count, 74, dtype="int64"),
            "DOLocationID": np.full(count, 75, dtype="int64"),
            "trip_distance": np.linspace(0.5, 3.0, count),
            "fare_amount": np.full(count, 12.5),
        }
    )


def write(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return path


def month_settings(tmp_path: Path) -> DataSettings:
    return DataSettings(data_dir=tmp_path / "data", quarantine_dir=tmp_path / "quarantine")


def month_path(tmp_path: Path) -> Path:
    return month_settings(tmp_path).month_file(MONTH)


def clean(frame: pd.DataFrame):
    renames = {
        "lpep_pickup_datetime": "pickup_datetime",
        "lpep_dropoff_datetime": "dropoff_datetime",
    }
    trips = normalize(frame.rename(columns=renames)[list(TRAINING_COLUMNS)])
    return clean_for_training(trips, DataSettings(), "test")


# --- files that cannot be used at all: one clear message naming the file and the problem ---


def not_parquet(path: Path) -> None:
    path.write_text("VendorID,trip_distance\n1,2.5\n", encoding="utf-8")


def empty_file(path: Path) -> None:
    path.write_bytes(b"")


def no_rows(path: Path) -> None:
    write(good_rows().iloc[:0], path)


def truncated(path: Path) -> None:
    write(pd.concat([good_rows(500)] * 4, ignore_index=True), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def corrupt_column_chunk(path: Path) -> None:
    """Footer intact, data pages overwritten: the schema reads, the data does not."""
    write(good_rows(2000), path)
    data = bytearray(path.read_bytes())
    footer_start = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
    data[4:footer_start] = b"\xff" * (footer_start - 4)
    path.write_bytes(bytes(data))


def missing_column(path: Path) -> None:
    write(good_rows().drop(columns=["DOLocationID"]), path)


def a_folder(path: Path) -> None:
    path.mkdir(parents=True)


def all_rows_bad(path: Path) -> None:
    write(good_rows().assign(trip_distance=-1.0), path)


def text_everywhere(path: Path) -> None:
    write(good_rows().map(lambda _: "n/a"), path)


UNUSABLE: dict[str, tuple[Callable[[Path], None], str]] = {
    "not parquet": (not_parquet, "not a readable parquet file"),
    "empty file": (empty_file, "not a readable parquet file"),
    "no rows": (no_rows, "the file has no rows"),
    "truncated": (truncated, "not a readable parquet file"),
    "corrupt data pages": (corrupt_column_chunk, "cannot read the parquet data"),
    "missing column": (missing_column, "missing required column(s) DOLocationID"),
    "a folder": (a_folder, "not a readable parquet file"),
    "all rows bad": (all_rows_bad, "no usable rows left"),
    "text in every column": (text_everywhere, "no usable rows left"),
}


@pytest.mark.filterwarnings("ignore:Could not infer format")
@pytest.mark.parametrize("case", UNUSABLE)
def test_unusable_file_raises_one_data_error(tmp_path: Path, case: str):
    make, problem = UNUSABLE[case]
    path = month_path(tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    make(path)
    with pytest.raises(DataError) as raised:
        load_month(month_settings(tmp_path), MONTH)
    message = str(raised.value)
    assert message.startswith(f"{path}: ")
    assert problem in message


@pytest.mark.parametrize("case", ["not parquet", "truncated", "missing column", "all rows bad"])
def test_cli_names_the_file_and_problem_without_a_traceback(
    tmp_path: Path, isolated_env: Path, monkeypatch: pytest.MonkeyPatch, case: str
):
    make, problem = UNUSABLE[case]
    path = month_path(tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    make(path)
    monkeypatch.setenv(f"{ENV_PREFIX}DATA__DATA_DIR", str(path.parent))
    result = CliRunner().invoke(app, ["train", "--train-month", MONTH, "--val-month", MONTH])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # the CLI exited; nothing escaped it
    assert f"error: {path}: " in result.output
    assert problem in result.output
    assert "Traceback" not in result.output


def test_a_month_with_fewer_rows_than_the_minimum_is_refused(tmp_path: Path):
    write(good_rows(10), month_path(tmp_path))
    enough = month_settings(tmp_path).model_copy(update={"min_rows": 10})
    assert load_month(enough, MONTH).account.used == 10
    with pytest.raises(TooFewRowsError, match=r"10 usable row\(s\) left .*fewer than 11"):
        load_month(enough.model_copy(update={"min_rows": 11}), MONTH)


@pytest.mark.parametrize("rows", [1, 99])
def test_train_on_too_few_rows_exits_5_with_one_line(
    tmp_path: Path, isolated_env: Path, monkeypatch: pytest.MonkeyPatch, rows: int
):
    """One usable row once reached sklearn and ended in its ValueError."""
    path = write(good_rows(rows), month_path(tmp_path))
    monkeypatch.setenv(f"{ENV_PREFIX}DATA__DATA_DIR", str(path.parent))
    result = CliRunner().invoke(app, ["train", "--train-month", MONTH, "--val-month", MONTH])
    assert result.exit_code == TOO_FEW_ROWS_EXIT_CODE == 5
    assert isinstance(result.exception, SystemExit)
    assert f"error: {path}: {rows} usable row(s) left" in result.output
    assert f"{ENV_PREFIX}DATA__MIN_ROWS" in result.output
    assert "Traceback" not in result.output


def test_values_of_a_type_that_cannot_convert_become_missing(tmp_path: Path):
    rows = good_rows().assign(
        trip_distance=[{"miles": 1.0}] * 4,  # a struct column
        PULocationID=[74.5, 1e12, 74.0, float("nan")],  # fractions and absurd IDs
    )
    frame = read_trips(write(rows, tmp_path / "odd_types.parquet"))
    assert frame["trip_distance"].isna().all()
    assert frame["PULocationID"].tolist()[:3] == [pd.NA, pd.NA, 74]
    assert str(frame["PULocationID"].dtype) == "Int64"


# --- rows that break a rule: quarantined with one reason each, and counted ---


def test_every_column_as_parseable_text_is_accepted(tmp_path: Path):
    path = write(good_rows().astype(str), tmp_path / "text.parquet")
    result = clean_for_training(read_trips(path), DataSettings(), str(path))
    assert result.account.used == 4


def test_text_in_distance_quarantines_only_the_text_rows():
    rows = good_rows().astype({"trip_distance": object})
    rows.loc[[1, 3], "trip_distance"] = ["two miles", ""]
    result = clean(rows.astype({"trip_distance": str}))
    assert result.quarantined["reason"].tolist() == [DISTANCE_REASON] * 2
    assert result.account.used == 2


def test_negative_and_huge_distances_are_quarantined():
    rows = good_rows().assign(trip_distance=[-0.1, 0.0, MAX_TRIP_DISTANCE_MILES, 1e4])
    result = clean(rows)
    assert result.account.quarantined == {DISTANCE_REASON: 2}
    assert sorted(result.trips["trip_distance"]) == [0.0, MAX_TRIP_DISTANCE_MILES]


def test_location_ids_outside_the_zones_are_quarantined():
    rows = good_rows(6).assign(
        PULocationID=pd.array([0, 1, 265, 266, -5, None], dtype="Int64"),
    )
    result = clean(rows)
    assert result.account.quarantined == {PU_REASON: 4}
    assert sorted(result.trips["PULocationID"]) == [1, 265]


def test_location_ids_as_text_are_normalized_or_quarantined():
    rows = good_rows().assign(DOLocationID=["74", "75.0", "zone 9", None])
    result = clean(rows)
    assert result.account.quarantined == {DO_REASON: 2}
    assert result.trips["DOLocationID"].tolist() == [74, 75]


def test_dropoff_before_pickup_is_quarantined():
    rows = good_rows()
    rows.loc[0, "lpep_dropoff_datetime"] = rows.loc[0, "lpep_pickup_datetime"] - pd.Timedelta(
        minutes=1
    )
    result = clean(rows)
    assert result.account.quarantined == {ORDER_REASON: 1}


# pandas says that it parses such text element by element: expected for garbage.
@pytest.mark.filterwarnings("ignore:Could not infer format")
def test_null_unparseable_and_impossible_times_are_quarantined():
    rows = good_rows(5).astype({"lpep_pickup_datetime": object, "lpep_dropoff_datetime": object})
    rows.loc[0, "lpep_pickup_datetime"] = None
    rows.loc[1, "lpep_pickup_datetime"] = "yesterday"
    rows.loc[2, "lpep_pickup_datetime"] = pd.Timestamp("1970-01-01 00:00:01")
    rows.loc[3, "lpep_dropoff_datetime"] = None
    result = clean(rows)
    assert result.quarantined["reason"].tolist() == [PICKUP_REASON] * 3 + [DROPOFF_REASON]
    assert result.account.used == 1


def test_every_moment_of_the_first_and_last_year_is_a_valid_pickup():
    moment = pd.Timedelta(microseconds=1)
    pickups = [EARLIEST_TIME - moment, EARLIEST_TIME, END_OF_TIME - moment, END_OF_TIME]
    trips = normalize(
        pd.DataFrame(
            {PICKUP: pickups, "PULocationID": 74, "DOLocationID": 75, "trip_distance": 1.0}
        )
    )
    assert first_violation(trips, INFERENCE_RULES).isna().tolist() == [False, True, True, False]


def test_a_row_breaking_several_rules_is_counted_once_under_the_first():
    rows = good_rows(2).assign(
        PULocationID=[0, 74], DOLocationID=[999, 75], trip_distance=[-1.0, 1.0]
    )
    result = clean(rows)
    assert result.account.quarantined == {PU_REASON: 1}
    assert result.account.balanced


def test_every_row_is_accounted_for_in_a_mixed_file(tmp_path: Path):
    real = pd.read_parquet(SAMPLE)
    # Location IDs as text, as some TLC months have them.
    real = real.astype({"PULocationID": str})
    broken = real.sample(60, random_state=0).reset_index(drop=True)
    broken.loc[0:19, "PULocationID"] = "0"
    broken.loc[20:39, "trip_distance"] = -3.0
    broken.loc[40:59, "lpep_dropoff_datetime"] = broken.loc[40:59, "lpep_pickup_datetime"] - (
        pd.Timedelta(minutes=5)
    )
    mixed = pd.concat([real, broken], ignore_index=True)
    write(mixed, month_path(tmp_path))

    result = load_month(month_settings(tmp_path), MONTH)
    account = result.account

    assert account.read == len(mixed)
    assert account.read == account.used + account.quarantined_total + account.filtered_by_duration
    assert account.quarantined[PU_REASON] >= 20
    assert account.quarantined[DISTANCE_REASON] >= 20
    assert account.quarantined[ORDER_REASON] >= 20
    assert account.used == len(result.trips)
    written = pd.read_parquet(tmp_path / "quarantine" / month_path(tmp_path).name)
    assert len(written) == account.quarantined_total
    assert written["reason"].value_counts().to_dict() == account.quarantined


def test_schema_rejects_a_frame_that_was_not_normalized():
    raw = pd.read_parquet(SAMPLE).rename(
        columns={"lpep_pickup_datetime": "pickup_datetime", "PULocationID": "pu"}
    )
    with pytest.raises(SchemaMismatchError, match="PULocationID"):
        first_violation(raw, INFERENCE_RULES)


def test_validation_gives_one_reason_per_row_of_a_month_sized_frame():
    """72k rows (a month): one reason, or none, per row. Its speed is a benchmark's business."""
    trips = read_trips(SAMPLE)
    month = pd.concat([trips] * 18, ignore_index=True)
    reasons = first_violation(month, TRAINING_RULES)
    assert len(reasons) == len(month) == 72_000
    pd.testing.assert_series_equal(
        reasons, pd.concat([first_violation(trips, TRAINING_RULES)] * 18, ignore_index=True)
    )
