"""The MLflow registry: what a training run logs, aliases, and loading by ``models:/`` URI."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from {{ cookiecutter.package_name }}.config import ENV_PREFIX, RegistrySettings, Settings, load_settings
from {{ cookiecutter.package_name }}.data import INFERENCE_COLUMNS, load_month
from {{ cookiecutter.package_name }}.provenance import sha256_of
from {{ cookiecutter.package_name }}.registry import open_registry
from {{ cookiecutter.package_name }}.registry_mlflow import MlflowRegistry
from {{ cookiecutter.package_name }}.tracking import client_for, flatten, local_artifact_location
from {{ cookiecutter.package_name }}.train import TrainingResult
from {{ cookiecutter.package_name }}.versions import CHALLENGER, CHAMPION

from .conftest import mlflow_store


def test_mlflow_tracking_uri_replaces_the_embedded_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example.com:5000")
    assert load_settings().registry.tracking_uri == "http://mlflow.example.com:5000"
    monkeypatch.setenv(f"{ENV_PREFIX}REGISTRY__TRACKING_URI", "sqlite:///project.db")
    assert load_settings().registry.tracking_uri == "sqlite:///project.db"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.delenv(f"{ENV_PREFIX}REGISTRY__TRACKING_URI")
    assert load_settings().registry.tracking_uri == "sqlite:///mlflow.db"


def test_nested_facts_become_valid_parameter_names():
    flat = flatten({"rows": {"quarantined": {"time missing, or (bad)": 3}}, "months": ["a", "b"]})
    assert flat == {"rows.quarantined.time missing_ or _bad_": "3", "months": '["a", "b"]'}


def test_artifacts_stay_beside_an_embedded_store(tmp_path: Path):
    location = local_artifact_location(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert location == (tmp_path / "mlartifacts").as_uri()
    assert local_artifact_location("http://mlflow.example.com") is None


@pytest.mark.slow
def test_a_training_run_logs_params_metrics_data_and_card(trained: tuple[Settings, TrainingResult]):
    settings, result = trained
    client = MlflowClient(settings.registry.tracking_uri)
    run = client.get_run(result.version.metadata["run_id"])
    params, metrics = run.data.params, run.data.metrics
    for name in ("rmse", "mae", "r2", "train_rmse", "baseline_rmse"):
        assert metrics[name] == pytest.approx(result.metrics[name])
    assert params["n_estimators"] == str(result.version.metadata["params"]["n_estimators"])
    assert params["seed"] == str(settings.seed)
    assert (params["train_month"], params["val_month"]) == ("2023-01", "2023-02")
    for month in ("2023-01", "2023-02"):
        path = settings.data.month_file(month)
        assert params[f"inputs.{month}.sha256"] == sha256_of(path)
        assert params[f"inputs.{month}.path"] == str(path)
    assert params["rows.train.used"] == str(result.accounts["train"]["used"])
    assert params["rows.validation.read"] == str(result.accounts["validation"]["read"])
    assert "environment.lightgbm" in params
    logged = {artifact.path for artifact in client.list_artifacts(run.info.run_id)}
    assert {"model_card.md", "metadata.json"} <= logged
    # Tests write only below their temporary folder, artifacts included.
    root = Path(settings.registry.tracking_uri.removeprefix("sqlite:///")).parent
    assert run.info.artifact_uri.startswith((root / "mlartifacts").as_uri())


@pytest.mark.slow
def test_model_has_a_signature_and_an_input_example(trained: tuple[Settings, TrainingResult]):
    settings, result = trained
    client_for(settings.registry)  # models:/ URIs resolve against the process-wide store
    info = mlflow.models.get_model_info(
        f"models:/{settings.training.model_name}/{result.version.version}"
    )
    assert info.signature.inputs.input_names() == list(INFERENCE_COLUMNS)
    assert info.saved_input_example_info is not None


@pytest.mark.slow
def test_champion_uri_serves_the_trained_model(trained: tuple[Settings, TrainingResult]):
    settings, result = trained
    client_for(settings.registry)
    served = mlflow.pyfunc.load_model(f"models:/{settings.training.model_name}@{CHAMPION}")
    trips = load_month(settings.data, settings.data.val_month).trips
    predicted = served.predict(trips[list(INFERENCE_COLUMNS)])
    rmse = float(np.sqrt(np.mean((predicted - trips["duration_minutes"].to_numpy()) ** 2)))
    assert rmse == pytest.approx(result.metrics["rmse"], abs=1e-9)


@pytest.mark.slow
def test_aliases_move_between_versions(trained: tuple[Settings, TrainingResult], tmp_path: Path):
    settings, result = trained
    model = open_registry(settings).load(result.version.version)
    registry = MlflowRegistry(RegistrySettings(tracking_uri=mlflow_store(tmp_path)), "aliases")
    assert registry.get_version(CHAMPION) is None
    assert registry.versions() == []
    first = registry.register(model, {"rmse": 5.0}, {"note": "first"}, attachments={})
    second = registry.register(model, {"rmse": 4.0}, {"note": "second"}, attachments={})
    registry.set_alias(CHAMPION, first.version)
    registry.set_alias(CHALLENGER, second.version)
    registry.set_alias(CHAMPION, second.version)
    champion = registry.get_version(CHAMPION)
    assert (champion.version, champion.metrics["rmse"]) == (2, 4.0)
    assert champion.metadata["note"] == "second"
    assert registry.get_version(CHALLENGER).version == 2
    assert [v.version for v in registry.versions()] == [1, 2]
    with pytest.raises(LookupError, match="no version 9"):
        registry.set_alias(CHAMPION, 9)
