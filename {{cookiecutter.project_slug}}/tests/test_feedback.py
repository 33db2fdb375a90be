"""The feedback loop: logged predictions joined with the sample's real durations, RMSE by model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.config import ENV_PREFIX, Settings, TrainingSettings
from {{ cookiecutter.package_name }}.data import (
    DURATION,
    INFERENCE_COLUMNS,
    TRAINING_COLUMNS,
    duration_minutes,
    read_trips,
    split_for_inference,
)
from {{ cookiecutter.package_name }}.feedback import (
    AMBIGUOUS,
    DEGRADED_EXIT_CODE,
    MATCHED,
    MODEL_VERSION,
    PREDICTION,
    ROLE,
    UNMATCHED,
    latest_report,
    run_feedback,
)
from {{ cookiecutter.package_name }}.model import TripDurationModel
from {{ cookiecutter.package_name }}.registry import load_model
from {{ cookiecutter.package_name }}.train import TrainingResult
from {{ cookiecutter.package_name }}.trip import DISTANCE
from {{ cookiecutter.package_name }}.versions import CHALLENGER, CHAMPION

from .conftest import SAMPLE_DIR

pytestmark = pytest.mark.slow
runner = CliRunner()
MONTH = "2024-01"
MONTH_FILE = SAMPLE_DIR / f"green_tripdata_{MONTH}.parquet"
KEY = ["PULocationID", "DOLocationID", DISTANCE, "pickup_datetime"]
UNMATCHABLE = 7  # logged trips the TLC never recorded


def write_log(folder: Path, frames: list[pd.DataFrame]) -> Path:
    """A prediction log folder as the service writes it: one parquet file per batch."""
    folder.mkdir(parents=True, exist_ok=True)
    for number, frame in enumerate(frames):
        frame.to_parquet(folder / f"predictions-test-{number:06d}.parquet", index=False)
    return folder


def logged(trips: pd.DataFrame, predictions: np.ndarray, version: str, role: str) -> pd.DataFrame:
    return trips.assign(**{PREDICTION: predictions, MODEL_VERSION: version, ROLE: role})


def weak_model(trips: pd.DataFrame) -> TripDurationModel:
    """A second model, visibly different from the champion (few trees)."""
    params = TrainingSettings(n_estimators=5)
    return TripDurationModel.fit(trips, trips[DURATION], params, seed=1)


def direct_rmse(log: pd.DataFrame, version: str) -> tuple[int, float]:
    """RMSE of one version computed without the module: a join on the raw month's unique keys."""
    raw = read_trips(MONTH_FILE, TRAINING_COLUMNS)
    raw = raw.assign(**{DURATION: duration_minutes(raw)}).dropna(subset=KEY)
    unique = raw[~raw.duplicated(subset=KEY, keep=False)]
    joined = log[log[MODEL_VERSION] == version].merge(unique[[*KEY, DURATION]], on=KEY)
    joined = joined[joined[DURATION].between(1.0, 60.0)]
    errors = joined[PREDICTION].to_numpy() - joined[DURATION].to_numpy()
    return len(joined), float(np.sqrt(np.mean(errors**2)))


@pytest.fixture
def shadow_log(trained: tuple[Settings, TrainingResult], tmp_path: Path) -> pd.DataFrame:
    """The champion and a challenger both scored every trip of the month (shadow mode)."""
    settings, result = trained
    model, _ = load_model(settings)
    trips = split_for_inference(read_trips(MONTH_FILE, INFERENCE_COLUMNS))[0]
    trips = trips.reset_index(drop=True)
    train = read_trips(SAMPLE_DIR / "green_tripdata_2023-01.parquet", TRAINING_COLUMNS)
    train = train.assign(**{DURATION: duration_minutes(train)})
    train = train[train[DURATION].between(1.0, 60.0)].reset_index(drop=True)
    champion = str(result.version.version)
    strangers = trips.head(UNMATCHABLE).assign(**{DISTANCE: 99.5})
    frames = [
        logged(trips, model.predict(trips), champion, CHAMPION),
        logged(trips, weak_model(train).predict(trips), "99", CHALLENGER),
        logged(strangers, np.full(UNMATCHABLE, 10.0), champion, CHAMPION),
    ]
    return pd.concat(frames, ignore_index=True)


def test_per_version_rmse_matches_a_direct_computation(
    trained: tuple[Settings, TrainingResult], shadow_log: pd.DataFrame, tmp_path: Path
):
    settings, result = trained
    source = write_log(tmp_path / "log", [shadow_log.iloc[:2000], shadow_log.iloc[2000:]])
    report = run_feedback(settings, MONTH, source, result.version, output_dir=tmp_path / "out")

    by_version = {group.model_version: group for group in report.versions}
    assert set(by_version) == {str(result.version.version), "99"}
    for version, group in by_version.items():
        rows, rmse = direct_rmse(shadow_log, version)
        assert group.rows == rows
        assert group.rmse == pytest.approx(rmse, rel=1e-9)
    assert by_version["99"].rmse > by_version[str(result.version.version)].rmse  # 5 trees
    roles = {(group.model_version, group.role) for group in report.models}
    assert roles == {(str(result.version.version), CHAMPION), ("99", CHALLENGER)}

    matching = report.matching
    assert matching["considered"] == len(shadow_log)
    # The month has one pair of trips with the same key: each model's row for it is ambiguous.
    assert matching[AMBIGUOUS] == 2 * 2
    assert matching[UNMATCHED] == UNMATCHABLE
    assert matching[MATCHED] + matching[AMBIGUOUS] + matching[UNMATCHED] == len(shadow_log)
    assert matching["match_rate"] == pytest.approx(matching[MATCHED] / len(shadow_log), abs=1e-4)
    assert matching["scored"] == sum(group.rows for group in report.versions)

    left_out = pd.read_parquet(report.unmatched_rows)
    assert len(left_out) == matching[AMBIGUOUS] + matching[UNMATCHED]
    assert (left_out[DISTANCE] == 99.5).sum() == UNMATCHABLE

    windows = [group for group in report.windows if group.model_version == "99"]
    assert len(windows) >= 4  # weeks of January
    assert sum(group.rows for group in windows) == by_version["99"].rows
    written = json.loads(Path(report.json_summary).read_text(encoding="utf-8"))
    assert written["versions"][0]["rmse"] == pytest.approx(report.versions[0].rmse)
    assert latest_report(tmp_path / "out")["month"] == MONTH
    page = Path(report.html_report).read_text(encoding="utf-8")
    assert "By model" in page
    assert CHALLENGER in page


def test_a_log_without_versions_or_roles_is_the_champion(
    trained: tuple[Settings, TrainingResult], shadow_log: pd.DataFrame, tmp_path: Path
):
    settings, result = trained
    champion = shadow_log[shadow_log[ROLE] == CHAMPION].drop(columns=[MODEL_VERSION, ROLE])
    source = write_log(tmp_path / "log", [champion])
    report = run_feedback(settings, MONTH, source, result.version, output_dir=tmp_path)

    assert [(group.model_version, group.role) for group in report.models] == [("unknown", CHAMPION)]
    assert report.champion.rows == report.versions[0].rows > 1000
    assert report.champion.live_rmse == pytest.approx(report.versions[0].rmse)


def test_feedback_exits_8_when_the_champion_degrades(
    isolated_env: Path, trained: tuple[Settings, TrainingResult], shadow_log: pd.DataFrame
):
    trained_run = runner.invoke(app, ["train"])
    assert trained_run.exit_code == 0, trained_run.output
    champion = shadow_log[shadow_log[ROLE] == CHAMPION].drop(columns=[MODEL_VERSION, ROLE])
    good = write_log(isolated_env / "good", [champion])
    broken = write_log(isolated_env / "broken", [champion.assign(**{PREDICTION: 0.0})])
    # The sample's January 2024 is a harder month than the validation month: allow for it.
    env = {f"{ENV_PREFIX}FEEDBACK__MAX_RMSE_INCREASE": "1.0"}

    healthy = runner.invoke(
        app, ["feedback", "--month", MONTH, "--predictions", str(good)], env=env
    )
    assert healthy.exit_code == 0, healthy.output
    assert json.loads(healthy.stdout)["champion"]["degraded"] is False

    degraded = runner.invoke(
        app, ["feedback", "--month", MONTH, "--predictions", str(broken)], env=env
    )
    assert degraded.exit_code == DEGRADED_EXIT_CODE, degraded.output
    verdict = json.loads(degraded.stdout)["champion"]
    assert verdict["degraded"] is True
    assert (
        verdict["live_rmse"]
        > verdict["rmse_limit"]
        == pytest.approx(2 * verdict["validation_rmse"])
    )
    assert (isolated_env / "reports" / f"feedback_{MONTH}.html").exists()


def test_a_missing_month_or_log_is_one_line(isolated_env: Path):
    missing_log = runner.invoke(
        app, ["feedback", "--month", MONTH, "--predictions", str(isolated_env / "nothing")]
    )
    assert missing_log.exit_code == 1
    assert "error:" in missing_log.output
    assert "Traceback" not in missing_log.output
    missing_month = runner.invoke(
        app, ["feedback", "--month", "2031-05", "--predictions", str(MONTH_FILE)]
    )
    assert missing_month.exit_code == 1
    assert "file not found" in missing_month.output
    not_a_month = runner.invoke(app, ["feedback", "--month", "2024-13"])
    assert not_a_month.exit_code == 2
    assert "expected a month as YYYY-MM" in not_a_month.output
