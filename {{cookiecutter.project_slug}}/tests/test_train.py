"""Integration: train on the bundled sample, check the metric, the artifacts and the gate."""

from __future__ import annotations

import json

import numpy as np
import pytest

from {{ cookiecutter.package_name }} import train as train_module
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.data import DURATION, load_month
from {{ cookiecutter.package_name }}.model import TripDurationModel
from {{ cookiecutter.package_name }}.registry import load_model, open_registry
from {{ cookiecutter.package_name }}.scores import SCORES_FILE
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


def test_no_validation_row_is_predicted_twice(settings: Settings, monkeypatch: pytest.MonkeyPatch):
    """The metrics and the model card's pictures share one prediction of the validation rows."""
    predicted_rows: list[int] = []
    predict_features = TripDurationModel.predict_features

    def counted(self: TripDurationModel, matrix: np.ndarray, num_threads: int | None = None):
        predicted_rows.append(len(matrix))
        return predict_features(self, matrix, num_threads)

    monkeypatch.setattr(TripDurationModel, "predict_features", counted)
    result = run_training(settings)
    validation_rows = result.accounts["validation"]["used"]
    assert predicted_rows.count(validation_rows) == 1, predicted_rows
    assert (settings.registry.models_dir / "card_residuals_hour.png").exists()


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


def test_two_threaded_runs_give_identical_predictions(settings: Settings):
    train = load_month(settings.data, settings.data.train_month)
    val = load_month(settings.data, settings.data.val_month)
    threaded = settings.training.model_copy(update={"n_jobs": 2})
    first = TripDurationModel.fit(train.trips, train.trips[DURATION], threaded, settings.seed)
    second = TripDurationModel.fit(train.trips, train.trips[DURATION], threaded, settings.seed)
    assert first.num_threads == 2
    assert first.booster.params["num_threads"] == 2
    np.testing.assert_array_equal(first.predict(val.trips), second.predict(val.trips))
    assert first.booster.model_to_string() == second.booster.model_to_string()
    # Column-wise histograms sum each feature on one thread: the thread count changes nothing.
    single = settings.training.model_copy(update={"n_jobs": 1})
    alone = TripDurationModel.fit(train.trips, train.trips[DURATION], single, settings.seed)
    np.testing.assert_array_equal(alone.predict(val.trips), first.predict(val.trips))


def test_several_months_train_with_an_account_per_month(settings: Settings):
    data = settings.data.model_copy(
        update={"train_month": "2023-01..2023-02", "val_month": "2024-01"}
    )
    result = run_training(settings.model_copy(update={"data": data}))
    by_month = result.accounts_by_month
    assert list(by_month["train"]) == ["2023-01", "2023-02"]
    assert list(by_month["validation"]) == ["2024-01"]
    assert result.accounts["train"]["used"] == sum(
        account["used"] for account in by_month["train"].values()
    )
    record = result.version.record
    assert record is not None
    assert record.train_months == ["2023-01", "2023-02"]
    assert set(record.inputs) == {"2023-01", "2023-02", "2024-01"}
    assert set(record.rows_by_month["train"]) == {"2023-01", "2023-02"}
    assert record.rows_by_month["train"]["2023-02"].used == by_month["train"]["2023-02"]["used"]
    assert result.metrics["rmse"] < SAMPLE_RMSE_BOUND


def test_the_champion_is_not_scored_again_on_the_same_validation_data(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    first = run_training(settings)
    scores = json.loads((settings.registry.models_dir / SCORES_FILE).read_text())
    assert list(scores.values()) == [first.metrics["rmse"]]

    def no_scoring(val):
        def score(model):
            raise AssertionError("a registered model was scored again on the validation rows")

        return score

    monkeypatch.setattr(train_module, "rmse_on", no_scoring)
    second = run_training(settings)
    assert second.version.record is not None
    assert second.version.record.champion_rmse_before == first.metrics["rmse"]
    assert not second.decision.promote

    monkeypatch.undo()
    other_val = settings.data.model_copy(update={"val_month": "2024-01"})
    third = run_training(settings.model_copy(update={"data": other_val}))
    # Other validation rows: the champion was loaded and scored on them, not looked up.
    assert third.version.record is not None
    assert third.version.record.champion_rmse_before != first.metrics["rmse"]
