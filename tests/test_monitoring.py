"""Slow tier: drift monitoring and unusable inputs, through the installed default project's CLI."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from .baking import InstalledProject, tool

pytestmark = pytest.mark.slow

DRIFT_EXIT_CODE = 4
MONTH = "2030-01"
FEATURES = {
    "PULocationID",
    "DOLocationID",
    "trip_distance",
    "log_trip_distance",
    "same_zone",
    "pickup_hour",
    "is_holiday",
    "pickup_weekday",
    "is_weekend",
}


class Workspace:
    """The installed default project, with every output of these tests in a temporary folder."""

    def __init__(self, project: InstalledProject, root: Path) -> None:
        self.project = project
        self.root = root
        prefix = f"{project.package.upper()}_"
        self.env = {
            f"{prefix}REGISTRY__MODELS_DIR": str(root / "models"),
            f"{prefix}REGISTRY__TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
            f"{prefix}MONITORING__REPORTS_DIR": str(root / "reports"),
            f"{prefix}DATA__QUARANTINE_DIR": str(root / "quarantine"),
            f"{prefix}LOGGING__FILE": "",
        }
        self.prefix = prefix

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """The project's CLI in this workspace; a failure is returned, not raised."""
        return self.project.attempt(*args, **{**self.env, **env})


@pytest.fixture(scope="module")
def workspace(default_project: InstalledProject, tmp_path_factory) -> Workspace:
    assert default_project.answers.get("monitoring", "evidently") == "evidently"
    space = Workspace(default_project, tmp_path_factory.mktemp("monitoring"))
    trained = space.cli("train")
    assert trained.returncode == 0, trained.stderr[-3000:]
    return space


@pytest.fixture(scope="module")
def shifted_batch(workspace: Workspace) -> Path:
    sample = workspace.project.root / "data" / "sample" / "green_tripdata_2023-02.parquet"
    return shifted_month(sample, workspace.root / "shifted.parquet")


def summary_of(result: subprocess.CompletedProcess[str]) -> dict:
    headline = json.loads(result.stdout)
    return json.loads(Path(headline["json_summary"]).read_text(encoding="utf-8"))


def shifted_month(source: Path, target: Path) -> Path:
    """Trips three times longer, seven hours later, between other zones: a changed world."""
    raw = pd.read_parquet(source)
    raw["trip_distance"] = raw["trip_distance"] * 3
    for column in ("lpep_pickup_datetime", "lpep_dropoff_datetime"):
        raw[column] = raw[column] + pd.Timedelta(hours=7)
    for column in ("PULocationID", "DOLocationID"):
        raw[column] = pd.to_numeric(raw[column]) % 265 + 1
    raw.to_parquet(target, index=False)
    return target


def test_no_drift_between_the_bundled_sample_months(workspace: Workspace):
    result = workspace.cli("monitor", "--current", "2023-02")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = summary_of(result)
    assert summary["drift_detected"] is False
    assert summary["share_of_drifted_columns"] < summary["drift_share_threshold"] == 0.5
    assert summary["reference"]["source"].endswith("green_tripdata_2023-01.parquet")
    assert summary["current"]["rows_read"] == 4000
    assert set(summary["columns"]) == {*FEATURES, "predicted_duration"}
    assert summary["columns"]["predicted_duration"]["drifted"] is False
    assert Path(summary["html_report"]).stat().st_size > 10_000


def test_a_shifted_batch_drifts_with_its_own_exit_code(workspace: Workspace, shifted_batch: Path):
    result = workspace.cli("monitor", "--reference", "2023-01", "--current", str(shifted_batch))
    assert result.returncode == DRIFT_EXIT_CODE, result.stderr[-3000:]
    summary = summary_of(result)
    assert summary["drift_detected"] is True
    assert summary["share_of_drifted_columns"] >= summary["drift_share_threshold"]
    drifted = {name for name, column in summary["columns"].items() if column["drifted"]}
    assert {"trip_distance", "pickup_hour", "PULocationID", "predicted_duration"} <= drifted
    assert summary["prediction_drifted"] is True


def test_the_threshold_is_a_setting(workspace: Workspace, shifted_batch: Path):
    lenient = workspace.cli(
        "monitor",
        "--current",
        str(shifted_batch),
        **{f"{workspace.prefix}MONITORING__DRIFT_SHARE": "1.0"},
    )
    assert lenient.returncode == 0, lenient.stderr[-3000:]
    assert summary_of(lenient)["drift_detected"] is False

    invalid = workspace.cli(
        "monitor", "--current", "2023-02", **{f"{workspace.prefix}MONITORING__DRIFT_SHARE": "0"}
    )
    assert invalid.returncode == 2
    assert f"{workspace.prefix}MONITORING__DRIFT_SHARE" in invalid.stderr


def test_make_monitor_runs_on_the_sample(workspace: Workspace):
    result = workspace.project.run("make", "monitor", f"POETRY={tool('poetry')}", **workspace.env)
    headline = json.loads(result.stdout[result.stdout.index("{") :])
    assert headline["json_summary"].endswith(
        "drift_green_tripdata_2023-01_vs_green_tripdata_2024-01.json"
    )


def write_good_month(path: Path, sample: Path) -> pd.DataFrame:
    frame = pd.read_parquet(sample).head(200)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return frame


def truncate(path: Path, sample: Path) -> None:
    write_good_month(path, sample)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def drop_column(path: Path, sample: Path) -> None:
    write_good_month(path, sample)
    pd.read_parquet(path).drop(columns=["trip_distance"]).to_parquet(path, index=False)


def empty(path: Path, _: Path) -> None:
    path.write_bytes(b"")


def text_file(path: Path, _: Path) -> None:
    path.write_text("lpep_pickup_datetime,trip_distance\n2030-01-01 10:00,2.5\n", encoding="utf-8")


def all_rows_bad(path: Path, sample: Path) -> None:
    write_good_month(path, sample)
    pd.read_parquet(path).assign(PULocationID=999).to_parquet(path, index=False)


UNUSABLE = {
    "truncated": (truncate, "not a readable parquet file"),
    "missing column": (drop_column, "missing required column(s) trip_distance"),
    "empty": (empty, "not a readable parquet file"),
    "not parquet": (text_file, "not a readable parquet file"),
    "all rows bad": (all_rows_bad, "no usable rows left"),
}


@pytest.mark.parametrize("case", UNUSABLE)
def test_an_unusable_month_stops_train_with_one_clear_line(workspace: Workspace, case: str):
    make, problem = UNUSABLE[case]
    data_dir = workspace.root / "corrupt" / case.replace(" ", "_")
    month_file = data_dir / f"green_tripdata_{MONTH}.parquet"
    data_dir.mkdir(parents=True)
    make(month_file, workspace.project.root / "data" / "sample" / "green_tripdata_2023-01.parquet")

    result = workspace.cli(
        "train",
        "--train-month",
        MONTH,
        "--val-month",
        MONTH,
        **{f"{workspace.prefix}DATA__DATA_DIR": str(data_dir)},
    )
    assert result.returncode == 1
    assert f"error: {month_file}: " in result.stderr
    assert problem in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_an_unusable_batch_stops_monitor_and_predict_with_one_clear_line(workspace: Workspace):
    broken = workspace.root / "broken.parquet"
    truncate(broken, workspace.project.root / "data" / "sample" / "green_tripdata_2023-02.parquet")
    for args in (
        ("monitor", "--current", str(broken)),
        ("predict", str(broken), str(workspace.root / "out.parquet")),
    ):
        result = workspace.cli(*args)
        assert result.returncode == 1, args
        assert f"error: {broken}: not a readable parquet file" in result.stderr
        assert "Traceback" not in result.stderr + result.stdout
