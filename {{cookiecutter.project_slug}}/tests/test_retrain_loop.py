"""The scheduled loop: a healthy champion is kept, a degraded one is retrained."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.config import ENV_PREFIX
from {{ cookiecutter.package_name }}.feedback import PREDICTION
from {{ cookiecutter.package_name }}.retrain_loop import default_month, month_before
from {{ cookiecutter.package_name }}.versions import CHAMPION, TRAIN

from .conftest import SAMPLE_DIR

pytestmark = pytest.mark.slow
runner = CliRunner()
LOOP = ["retrain-loop", "--month", "2024-01", "--previous", "2023-02"]
# The sample's January 2024 is a harder month than the validation month: allow for it.
TOLERANT = {f"{ENV_PREFIX}FEEDBACK__MAX_RMSE_INCREASE": "1.0"}


def test_the_default_month_is_two_months_back():
    assert month_before("2024-01") == "2023-12"
    assert month_before("2024-11") == "2024-10"
    assert default_month(date(2026, 3, 31)) == "2026-01"
    assert default_month(date(2026, 1, 5)) == "2025-11"


def test_a_healthy_champion_is_kept_and_a_degraded_one_retrained(isolated_env: Path):
    assert runner.invoke(app, ["train"]).exit_code == 0
    predicted = isolated_env / "predictions" / "batch.parquet"
    batch = ["predict", str(SAMPLE_DIR / "green_tripdata_2024-01.parquet"), str(predicted)]
    assert runner.invoke(app, batch).exit_code == 0

    healthy = runner.invoke(app, [*LOOP, "--predictions", str(predicted)], env=TOLERANT)
    assert healthy.exit_code == 0, healthy.output
    kept = json.loads(healthy.stdout)
    assert kept["degraded"] is False
    assert kept["retrained"] is False
    assert kept["steps"][-1] == "nothing to retrain"

    broken = isolated_env / "broken" / "batch.parquet"
    broken.parent.mkdir()
    pd.read_parquet(predicted).assign(**{PREDICTION: 0.0}).to_parquet(broken)
    degraded = runner.invoke(app, [*LOOP, "--predictions", str(broken)], env=TOLERANT)
    assert degraded.exit_code == 0, degraded.output
    retrained = json.loads(degraded.stdout)
    assert retrained["degraded"] is True
    assert retrained["retrained"] is True
    assert retrained["version"] == 2

    history = runner.invoke(app, ["history"])
    last = json.loads(history.stdout.splitlines()[-1])
    assert (last["action"], last["version"]) == (TRAIN, 2)
    # The gate decided: champion only if the new model beat the old one on 2024-01.
    assert (last["alias"] == CHAMPION) is retrained["promoted"]
