"""The prediction log: batched files off the request path, nothing lost at close, off by default."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from loguru import logger

from {{ cookiecutter.package_name }}.config import PredictionLogSettings, Settings
from {{ cookiecutter.package_name }}.data import INFERENCE_COLUMNS, read_folder, read_trips, to_trips
from {{ cookiecutter.package_name }}.prediction_log import (
    LOGGED_AT,
    MODEL_VERSION,
    PREDICTION,
    DisabledPredictionLog,
    PredictionLog,
    open_prediction_log,
)

from .conftest import SAMPLE_DIR

TRIPS = read_trips(SAMPLE_DIR / "green_tripdata_2023-01.parquet", INFERENCE_COLUMNS)


def log_settings(folder: Path, **overrides: object) -> PredictionLogSettings:
    values = {"enabled": True, "dir": folder, "max_rows": 1000, "max_seconds": 60.0}
    return PredictionLogSettings(**{**values, **overrides})


def wait_for_files(folder: Path, count: int, timeout: float = 10.0) -> list[Path]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = sorted(folder.glob("predictions-*"))
        if len(files) >= count:
            return files
        time.sleep(0.02)
    raise AssertionError(f"expected {count} files in {folder}, found {list(folder.iterdir())}")


def test_off_by_default(tmp_path: Path):
    settings = Settings(_env_file=None)
    assert settings.prediction_log.enabled is False
    sink = open_prediction_log(settings.prediction_log.model_copy(update={"dir": tmp_path / "x"}))
    assert isinstance(sink, DisabledPredictionLog)
    assert sink.record(TRIPS.head(3), np.ones(3), 1) is False
    sink.close()
    assert not (tmp_path / "x").exists()


def test_rows_are_written_once_a_batch_is_full(tmp_path: Path):
    log = PredictionLog(log_settings(tmp_path, max_rows=10))
    for start in range(0, 12, 3):
        assert log.record(TRIPS.iloc[start : start + 3], np.full(3, 7.5), model_version=4)
    first = pd.read_parquet(wait_for_files(tmp_path, 1)[0])  # 12 rows waiting >= 10: written
    assert len(first) == 12
    log.close()
    assert log.written_rows == 12
    assert log.dropped_rows == 0


def test_waiting_rows_are_written_after_max_seconds(tmp_path: Path):
    with PredictionLog(log_settings(tmp_path, max_seconds=0.2)) as log:
        log.record(TRIPS.head(1), [3.0], model_version=1)
        files = wait_for_files(tmp_path, 1, timeout=5.0)
        assert len(pd.read_parquet(files[0])) == 1


def test_close_writes_everything_in_order_with_the_model_version(tmp_path: Path):
    predictions = np.arange(50, dtype=float)
    with PredictionLog(log_settings(tmp_path)) as log:
        for start in range(0, 50, 5):
            log.record(TRIPS.iloc[start : start + 5], predictions[start : start + 5], 7)
    logged = read_folder(tmp_path)
    assert logged[PREDICTION].tolist() == predictions.tolist()
    assert set(logged[MODEL_VERSION]) == {"7"}
    assert logged[LOGGED_AT].notna().all()
    pd.testing.assert_frame_equal(logged[list(INFERENCE_COLUMNS)], TRIPS.head(50))


@pytest.mark.parametrize("file_format", ["parquet", "jsonl"])
def test_a_log_reads_back_as_trips_for_monitoring(tmp_path: Path, file_format: str):
    with PredictionLog(log_settings(tmp_path, file_format=file_format)) as log:
        log.record(TRIPS.head(20), np.full(20, 12.0), 2)
    trips = to_trips(read_folder(tmp_path), INFERENCE_COLUMNS, tmp_path)
    pd.testing.assert_frame_equal(trips, TRIPS.head(20))


def test_a_log_far_behind_drops_and_counts_instead_of_blocking(tmp_path: Path):
    log = PredictionLog(log_settings(tmp_path, max_pending=30))
    assert log.record(TRIPS.head(20), np.zeros(20))
    assert not log.record(TRIPS.head(20), np.zeros(20))
    log.close()
    assert (log.written_rows, log.dropped_rows) == (20, 20)
    assert not log.record(TRIPS.head(1), [0.0])  # closed: dropped too


def test_a_write_error_is_counted_and_does_not_stop_the_log(tmp_path: Path):
    folder = tmp_path / "log"
    log = PredictionLog(log_settings(folder, max_rows=1))
    shutil.rmtree(folder)
    folder.write_text("a file where the folder was", encoding="utf-8")
    log.record(TRIPS.head(2), [1.0, 2.0])
    deadline = time.monotonic() + 10
    while log.dropped_rows < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert log.dropped_rows == 2
    folder.unlink()
    folder.mkdir()
    log.record(TRIPS.head(3), [1.0, 2.0, 3.0])
    log.close()
    assert log.written_rows == 3


def test_mismatched_lengths_are_refused(tmp_path: Path):
    with PredictionLog(log_settings(tmp_path)) as log, pytest.raises(ValueError, match="3 trips"):
        log.record(TRIPS.head(3), [1.0])


def test_record_returns_while_the_writer_is_blocked(tmp_path: Path, monkeypatch):
    """The caller only queues: a writer stuck on a slow disk never holds up ``record``."""
    writing, release, gave_up = threading.Event(), threading.Event(), threading.Event()
    write = PredictionLog._write

    def slow_write(self: PredictionLog, batches: list, rows: int) -> None:
        writing.set()
        if not release.wait(timeout=60):  # only if record() waited for the writer
            gave_up.set()
        write(self, batches, rows)

    monkeypatch.setattr(PredictionLog, "_write", slow_write)
    one_trip = TRIPS.head(1)
    log = PredictionLog(log_settings(tmp_path, max_rows=1))
    try:
        assert log.record(one_trip, [10.0], 1)
        assert writing.wait(timeout=60)  # the writer now holds the first row
        log.settings = log.settings.model_copy(update={"max_rows": 10_000})  # one more file
        recorded = [log.record(one_trip, [10.0], 1) for _ in range(2000)]
        assert all(recorded)
        assert not gave_up.is_set()  # the writer was still stuck when they all returned
    finally:
        release.set()
        log.close()
    assert log.written_rows == 2001
    assert len(read_folder(tmp_path)) == 2001


def test_a_folder_that_cannot_be_created_disables_the_log_with_a_warning(tmp_path: Path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a parent folder should be", encoding="utf-8")
    warnings: list[str] = []
    sink_id = logger.add(warnings.append, level="WARNING", format="{message}")
    try:
        sink = open_prediction_log(log_settings(blocker / "log"))
    finally:
        logger.remove(sink_id)
    assert isinstance(sink, DisabledPredictionLog)
    assert str(blocker / "log") in str(sink.problem)
    assert any("prediction log disabled" in warning for warning in warnings)
    assert sink.record(TRIPS.head(3), np.ones(3), 1) is False
    assert (sink.written_rows, sink.dropped_rows) == (0, 3)  # the loss is counted
