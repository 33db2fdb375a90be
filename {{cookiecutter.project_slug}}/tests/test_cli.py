"""The command line, as a user runs it: train, evaluate, predict, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.config import ENV_PREFIX
from {{ cookiecutter.package_name }}.predict import PREDICTION, REJECTION

from .conftest import SAMPLE_DIR

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
