"""Integration: train on the bundled sample, check the metric, the artifacts and the gate."""

from __future__ import annotations

import json

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.data import load_month
from {{ cookiecutter.package_name }}.registry import load_model, open_registry
from {{ cookiecutter.package_name }}.train import TrainingResult, run_training
from {{ cookiecutter.package_name }}.versions import CHALLENGER, CHAMPION

# The bundled sample is 4,000 real rows a month; on it the model reaches about 6 minutes of RMSE
# (full months reach far less). A model that learned nothing scores about 12 (the target's spread).
SAMPLE_RMSE_BOUND = 7.5

pytestmark = pytest.mark.slow


def test_metrics_are_within_bound(trained: tuple[Settings, TrainingResult]):
    _, result = trained
    assert result.metrics["rmse"] < SAMPLE_RMSE_BOUND
    assert 0 < result.metrics["mae"] < result.metrics["rmse"]
    assert result.metrics["r2"] > 0.5
    assert result.metrics["train_rmse"] <= result.metrics["rmse"]


def test_first_model_becomes_champion_and_artifacts_exist(trained):
    settings, result = trained
    assert result.decision.promote
    registry = open_registry(settings)
    assert registry.get_version(CHAMPION).version == result.version.version
    summary = json.loads((settings.registry.models_dir / "metrics.json").read_text())
    assert summary["version"] == result.version.version
    assert summary["rmse"] == pytest.approx(result.metrics["rmse"])


def test_every_row_is_accounted_for(trained):
    _, result = trained
    for account in result.accounts.values():
        quarantined = sum(account["quarantined"].values())
        assert account["read"] == account["used"] + quarantined + account["filtered_by_duration"]


def test_reloaded_model_predicts_the_same(trained):
    settings, result = trained
    model, version = load_model(settings)
    trips = load_month(settings.data, settings.data.val_month).trips
    reloaded = model.predict(trips)
    assert version.version == result.version.version
    assert np.isfinite(reloaded).all()
    rmse = float(np.sqrt(np.mean((reloaded - trips["duration_minutes"].to_numpy()) ** 2)))
    assert rmse == pytest.approx(result.metrics["rmse"], abs=1e-9)


def test_same_inputs_give_same_metrics_and_no_promotion(settings: Settings):
    first = run_training(settings)
    second = run_training(settings)
    for metric in ("rmse", "mae", "r2", "train_rmse"):
        assert second.metrics[metric] == first.metrics[metric]
    assert not second.decision.promote
    assert "kept as challenger" in second.decision.reason
    registry = open_registry(settings)
    assert registry.get_version(CHAMPION).version == first.version.version
    assert registry.get_version(CHALLENGER).version == second.version.version


def test_a_worse_model_is_not_promoted(settings: Settings):
    run_training(settings)
    weak = settings.model_copy(
        update={"training": settings.training.model_copy(update={"n_estimators": 2})}
    )
    result = run_training(weak)
    assert not result.decision.promote
    assert open_registry(settings).get_version(CHAMPION).version == 1
