"""The command line, as a user runs it: train, evaluate, predict, and bad input."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.config import ENV_PREFIX, Settings
from {{ cookiecutter.package_name }}.model import TripDurationModel
from {{ cookiecutter.package_name }}.predict import REJECTION
from {{ cookiecutter.package_name }}.train import TrainingResult
from {{ cookiecutter.package_name }}.trip import PREDICTION

from .helpers import SAMPLE_DIR, isolated_environment

SAMPLE = SAMPLE_DIR / "green_tripdata_2024-01.parquet"
# Runs `cli` in a child process whose parquet writer stops after its header, until killed.
KILLED_WHILE_WRITING = """
import sys, time
from pathlib import Path
import pyarrow.parquet as pq
from {{ cookiecutter.package_name }}.cli import app

def write_then_hang(self, table, *args, **kwargs):
    Path(sys.argv[1]).touch()  # the writer has opened its file and written the header
    time.sleep(600)

pq.ParquetWriter.write_table = write_then_hang
app(sys.argv[2:])
"""

runner = CliRunner()
pytestmark = pytest.mark.slow


def test_train_evaluate_predict(isolated_env: Path):
    trained = runner.invoke(app, ["train"])
    assert trained.exit_code == 0, trained.output
    assert "no champion yet" in trained.output

    evaluated = runner.invoke(app, ["evaluate", "--month", "2023-02"])
    assert evaluated.exit_code == 0, evaluated.output
    metrics = json.loads(evaluated.stdout)
    assert metrics["version"] == 1
    assert metrics["rmse"] > 0

    source = SAMPLE_DIR / "green_tripdata_2024-01.parquet"
    target = isolated_env / "predictions.parquet"
    predicted = runner.invoke(app, ["predict", str(source), str(target)])
    assert predicted.exit_code == 0, predicted.output
    scored = pd.read_parquet(target)
    assert len(scored) == len(pd.read_parquet(source))
    assert scored[PREDICTION].notna().sum() > 0.9 * len(scored)
    assert scored.loc[scored[PREDICTION].isna(), REJECTION].notna().all()
    assert (scored[PREDICTION].dropna() >= 0).all()


def test_predict_without_a_model_says_what_to_do(isolated_env: Path):
    source = SAMPLE_DIR / "green_tripdata_2024-01.parquet"
    result = runner.invoke(app, ["predict", str(source), "out.parquet"])
    assert result.exit_code == 1
    assert "run `train` first" in result.output


def test_bad_setting_exits_with_a_named_error(isolated_env: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(f"{ENV_PREFIX}DATA__VAL_MONTH", "February")
    result = runner.invoke(app, ["train"])
    assert result.exit_code == 2
    assert f"{ENV_PREFIX}DATA__VAL_MONTH" in result.output


def test_missing_month_is_a_clear_error(isolated_env: Path):
    result = runner.invoke(app, ["train", "--train-month", "1999-01"])
    assert result.exit_code == 1
    assert "green_tripdata_1999-01.parquet: file not found" in result.output


def test_a_missing_zone_lookup_stops_train_in_one_line_before_the_fit(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
):
    """The model card needs the lookup; it is read first, so no fit is wasted on a lost file."""
    missing = isolated_env / "no" / "taxi_zone_lookup.csv"
    monkeypatch.setenv(f"{ENV_PREFIX}DATA__ZONE_LOOKUP", str(missing))

    def no_fit(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was fitted before the zone lookup was read")

    monkeypatch.setattr(TripDurationModel, "fit_features", no_fit)
    result = runner.invoke(app, ["train"])
    assert result.exit_code == 1, result.output
    assert error_lines(result.output) == [
        f"error: cannot read the zone lookup {missing}: No such file or directory"
    ]
    assert "Traceback" not in result.output


def trained_environment(trained: tuple[Settings, TrainingResult]) -> dict[str, str]:
    """Environment settings that point the CLI at the session's trained model."""
    settings, _ = trained
    return isolated_environment(settings.registry.models_dir.parent)


def error_lines(output: str) -> list[str]:
    """What the CLI says to the user (the rest of its output is log lines)."""
    return [line for line in output.splitlines() if line.startswith("error:")]


def full_disk(self: pq.ParquetWriter, *args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left")


def test_predict_on_a_full_disk_is_one_line_and_keeps_the_previous_file(
    trained: tuple[Settings, TrainingResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    target = tmp_path / "predictions.parquet"
    target.write_bytes(b"previous predictions")
    monkeypatch.setattr(pq.ParquetWriter, "write_table", full_disk)
    result = runner.invoke(
        app, ["predict", str(SAMPLE), str(target)], env=trained_environment(trained)
    )
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert error_lines(result.output) == [
        f"error: {target}: not written (No space left on device); "
        "a previous file there is unchanged"
    ]
    assert "Traceback" not in result.output
    assert target.read_bytes() == b"previous predictions"
    assert list(tmp_path.iterdir()) == [target]


def test_predict_into_a_folder_that_cannot_be_made_is_one_line(
    trained: tuple[Settings, TrainingResult], tmp_path: Path
):
    blocker = tmp_path / "predictions"
    blocker.write_text("a file where the folder should be", encoding="utf-8")
    target = blocker / "out.parquet"
    result = runner.invoke(
        app, ["predict", str(SAMPLE), str(target)], env=trained_environment(trained)
    )
    assert result.exit_code == 1
    [line] = error_lines(result.output)
    assert line.startswith(f"error: {target}: cannot create its folder (")
    assert "Traceback" not in result.output


def test_a_predict_killed_while_writing_leaves_the_previous_file(
    trained: tuple[Settings, TrainingResult], tmp_path: Path
):
    """SIGKILL mid-write: the target is the old file, whole; never the first bytes of a new one."""
    target, writing = tmp_path / "predictions.parquet", tmp_path / "writing"
    previous = pd.DataFrame({PREDICTION: [12.5, 7.0]})
    previous.to_parquet(target)
    command = [sys.executable, "-c", KILLED_WHILE_WRITING, str(writing)]
    child = subprocess.Popen(
        [*command, "predict", str(SAMPLE), str(target)],
        env={**os.environ, **trained_environment(trained)},
        cwd=tmp_path,
    )
    try:
        # Not a timing assertion: a bound on waiting for a child that failed some other way.
        for _ in range(3000):
            if writing.exists() or child.poll() is not None:
                break
            time.sleep(0.1)
        assert writing.exists(), f"the child never started writing (exit {child.poll()})"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert pd.read_parquet(target).equals(previous)
    leftovers = [path.name for path in tmp_path.iterdir() if path not in (target, writing)]
    assert all(name.startswith(".predictions.parquet.") for name in leftovers), leftovers
