"""Drift monitoring with Evidently: no drift between sample months, drift on a shifted batch."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import TOO_FEW_ROWS_EXIT_CODE, app
from {{ cookiecutter.package_name }}.config import ENV_PREFIX, Settings
from {{ cookiecutter.package_name }}.data import read_trips
from {{ cookiecutter.package_name }}.features import FEATURE_NAMES
from {{ cookiecutter.package_name }}.monitor import DRIFT_EXIT_CODE, run_monitor
from {{ cookiecutter.package_name }}.train import TrainingResult, run_training
from {{ cookiecutter.package_name }}.trip import INFERENCE_COLUMNS, MODEL_VERSION, PREDICTION, ROLE
from {{ cookiecutter.package_name }}.versions import CHALLENGER, CHAMPION

from .helpers import SAMPLE_DIR

pytestmark = pytest.mark.slow
runner = CliRunner()


def shifted(source: Path, target: Path) -> Path:
    """The same trips, three times longer, seven hours later, from and to other zones."""
    raw = pd.read_parquet(source)
    raw["trip_distance"] = raw["trip_distance"] * 3
    for column in ("lpep_pickup_datetime", "lpep_dropoff_datetime"):
        raw[column] = raw[column] + pd.Timedelta(hours=7)
    for column in ("PULocationID", "DOLocationID"):
        raw[column] = pd.to_numeric(raw[column]) % 265 + 1
    raw.to_parquet(target, index=False)
    return target


def with_reports(settings: Settings, folder: Path) -> Settings:
    monitoring = settings.monitoring.model_copy(update={"reports_dir": folder})
    return settings.model_copy(update={"monitoring": monitoring})


def test_no_drift_between_the_sample_months(
    trained: tuple[Settings, TrainingResult], tmp_path: Path
):
    settings, result = trained
    summary = run_monitor(with_reports(settings, tmp_path), current="2023-02")

    assert summary.reference["source"].endswith("green_tripdata_2023-01.parquet")  # train month
    assert summary.model_version == result.version.version
    assert summary.drift_detected is False
    assert summary.share_of_drifted_columns < settings.monitoring.drift_share
    assert set(summary.columns) == {*FEATURE_NAMES, PREDICTION}
    assert summary.columns[PREDICTION].kind == "prediction"
    written = json.loads(Path(summary.json_summary).read_text(encoding="utf-8"))
    assert written["drift_detected"] is False
    assert written["current"]["rows_read"] == 4000
    current = written["current"]
    assert current["rows_compared"] + sum(current["rows_rejected"].values()) == current["rows_read"]
    assert Path(summary.html_report).stat().st_size > 10_000


def test_a_model_of_several_months_is_compared_with_its_last_month(settings: Settings):
    months = {"train_month": "2023-01..2023-02", "val_month": "2024-01"}
    data = settings.data.model_copy(update=months)
    several = settings.model_copy(update={"data": data})
    run_training(several)
    summary = run_monitor(settings, current="2024-01")  # the settings' months are not the model's

    assert summary.reference["source"].endswith("green_tripdata_2023-02.parquet")


def test_a_shifted_batch_drifts_and_the_cli_exits_with_the_drift_code(
    trained: tuple[Settings, TrainingResult], tmp_path: Path, isolated_env: Path
):
    settings, _ = trained
    batch = shifted(SAMPLE_DIR / "green_tripdata_2023-02.parquet", tmp_path / "shifted.parquet")
    env = {
        f"{ENV_PREFIX}REGISTRY__MODELS_DIR": str(settings.registry.models_dir),
{%- if cookiecutter.experiment_tracking == "mlflow" %}
        f"{ENV_PREFIX}REGISTRY__TRACKING_URI": settings.registry.tracking_uri,
{%- endif %}
        f"{ENV_PREFIX}MONITORING__REPORTS_DIR": str(tmp_path / "reports"),
    }
    result = runner.invoke(app, ["monitor", "--current", str(batch)], env=env)

    assert result.exit_code == DRIFT_EXIT_CODE, result.output
    headline = json.loads(result.stdout)
    assert headline["drift_detected"] is True
    assert headline["prediction_drifted"] is True
    assert {"trip_distance", "pickup_hour", "PULocationID"} <= set(headline["drifted"])
    written = json.loads(Path(headline["json_summary"]).read_text(encoding="utf-8"))
    assert written["share_of_drifted_columns"] >= written["drift_share_threshold"]


def test_a_folder_of_logged_predictions_is_a_current_batch(
    trained: tuple[Settings, TrainingResult], tmp_path: Path
):
    """Files as a prediction log writes them: canonical columns plus the prediction, in parts."""
    settings, _ = trained
    trips = read_trips(SAMPLE_DIR / "green_tripdata_2023-02.parquet", INFERENCE_COLUMNS)
    folder = tmp_path / "log"
    folder.mkdir()
    for part, start in enumerate(range(0, 2000, 500)):
        rows = trips.iloc[start : start + 500].assign(**{PREDICTION: 10.0})
        if part % 2:
            rows.to_json(folder / f"part-{part}.jsonl", orient="records", lines=True)
        else:
            rows.to_parquet(folder / f"part-{part}.parquet", index=False)
    (folder / ".part-9.parquet.part").write_bytes(b"half a file")  # still being written

    summary = run_monitor(
        with_reports(settings, tmp_path), current=str(tmp_path / "log"), reference="2023-01"
    )
    assert summary.current["rows_read"] == 2000
    assert summary.drift_detected is False


def test_a_shadow_log_compares_each_trip_once(
    trained: tuple[Settings, TrainingResult], tmp_path: Path
):
    """In shadow mode both models log every trip: the challenger's copies are set aside."""
    settings, _ = trained
    trips = read_trips(SAMPLE_DIR / "green_tripdata_2023-02.parquet", INFERENCE_COLUMNS).head(1500)
    folder = tmp_path / "shadow-log"
    folder.mkdir()
    for role, version, minutes in ((CHAMPION, "1", 10.0), (CHALLENGER, "2", 11.0)):
        logged = trips.assign(**{PREDICTION: minutes, MODEL_VERSION: version, ROLE: role})
        logged.to_parquet(folder / f"predictions-{role}.parquet", index=False)

    reports = with_reports(settings, tmp_path)
    summary = run_monitor(reports, current=str(folder), reference="2023-01")
    current = summary.current
    assert current["rows_of_other_models_set_aside"] == 1500
    assert current["rows_read"] == 3000
    assert current["rows_compared"] + sum(current["rows_rejected"].values()) == 1500


def test_the_column_threshold_is_a_setting(
    trained: tuple[Settings, TrainingResult], tmp_path: Path
):
    settings, _ = trained
    strict = with_reports(settings, tmp_path)
    strict = strict.model_copy(
        update={"monitoring": strict.monitoring.model_copy(update={"column_threshold": 1e-6})}
    )
    summary = run_monitor(strict, current="2023-02")
    assert summary.drift_detected is True  # every column moves a little between two months
    assert all(column.threshold == 1e-6 for column in summary.columns.values())


def test_monitor_errors_are_one_line_with_their_own_codes(isolated_env: Path, tmp_path: Path):
    no_model = runner.invoke(app, ["monitor", "--current", "2023-02"])
    assert no_model.exit_code == 1
    assert "run `train` first" in no_model.output

    bad_setting = runner.invoke(
        app,
        ["monitor", "--current", "2023-02"],
        env={f"{ENV_PREFIX}MONITORING__DRIFT_SHARE": "2"},
    )
    assert bad_setting.exit_code == 2
    assert f"{ENV_PREFIX}MONITORING__DRIFT_SHARE" in bad_setting.output


def test_an_unusable_current_batch_names_the_file(
    trained: tuple[Settings, TrainingResult], isolated_env: Path, tmp_path: Path
):
    settings, _ = trained
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    env = {
        f"{ENV_PREFIX}REGISTRY__MODELS_DIR": str(settings.registry.models_dir),
{%- if cookiecutter.experiment_tracking == "mlflow" %}
        f"{ENV_PREFIX}REGISTRY__TRACKING_URI": settings.registry.tracking_uri,
{%- endif %}
    }
    result = runner.invoke(app, ["monitor", "--current", str(broken)], env=env)
    assert result.exit_code == 1
    assert f"{broken}: not a readable parquet file" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("rows", [1, 99])
def test_a_batch_too_small_to_judge_gets_no_verdict(
    trained: tuple[Settings, TrainingResult], isolated_env: Path, tmp_path: Path, rows: int
):
    """A verdict from one trip was once printed as drift; now it is refused, with its own code."""
    settings, _ = trained
    trips = read_trips(SAMPLE_DIR / "green_tripdata_2023-02.parquet", INFERENCE_COLUMNS)
    small = tmp_path / "small.parquet"
    trips.head(rows).to_parquet(small, index=False)
    reports = tmp_path / "reports"
    env = {
        f"{ENV_PREFIX}REGISTRY__MODELS_DIR": str(settings.registry.models_dir),
{%- if cookiecutter.experiment_tracking == "mlflow" %}
        f"{ENV_PREFIX}REGISTRY__TRACKING_URI": settings.registry.tracking_uri,
{%- endif %}
        f"{ENV_PREFIX}MONITORING__REPORTS_DIR": str(reports),
    }
    result = runner.invoke(app, ["monitor", "--current", str(small)], env=env)
    assert result.exit_code == TOO_FEW_ROWS_EXIT_CODE == 5, result.output
    assert f"error: {small}: {rows} row(s) can be compared" in result.output
    assert f"{ENV_PREFIX}MONITORING__MIN_ROWS" in result.output
    assert "Traceback" not in result.output
    assert not reports.exists() or not any(reports.iterdir())


def test_monitor_on_a_full_disk_is_one_line_and_leaves_no_half_report(
    trained: tuple[Settings, TrainingResult],
    isolated_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    from evidently.core.report import Snapshot  # noqa: PLC0415 - as monitor.py, only here

    def full_disk(self: Snapshot, filename: str) -> None:
        Path(filename).write_text("<html><body>half a rep", encoding="utf-8")
        raise OSError(errno.ENOSPC, "No space left on device")

    settings, _ = trained
    reports = tmp_path / "reports"
    env = {
        f"{ENV_PREFIX}REGISTRY__MODELS_DIR": str(settings.registry.models_dir),
{%- if cookiecutter.experiment_tracking == "mlflow" %}
        f"{ENV_PREFIX}REGISTRY__TRACKING_URI": settings.registry.tracking_uri,
{%- endif %}
        f"{ENV_PREFIX}MONITORING__REPORTS_DIR": str(reports),
    }
    monkeypatch.setattr(Snapshot, "save_html", full_disk)
    result = runner.invoke(app, ["monitor", "--current", "2023-02"], env=env)
    assert result.exit_code == 1
    [line] = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert line.startswith(f"error: {reports}/drift_")
    assert line.endswith(
        ".html: not written (No space left on device); a previous file there is unchanged"
    )
    assert "Traceback" not in result.output
    assert list(reports.iterdir()) == []
