"""The MLflow registry: what a training run logs, aliases, and loading by ``models:/`` URI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
from loguru import logger
from mlflow.tracking import MlflowClient

from {{ cookiecutter.package_name }}.config import (
    ENV_PREFIX,
    LoggingSettings,
    RegistrySettings,
    Settings,
    load_settings,
)
from {{ cookiecutter.package_name }}.data import load_month
from {{ cookiecutter.package_name }}.features import FEATURE_NAMES
from {{ cookiecutter.package_name }}.logs import setup_logging, strip_credentials
from {{ cookiecutter.package_name }}.provenance import sha256_of
from {{ cookiecutter.package_name }}.registry import open_registry
from {{ cookiecutter.package_name }}.registry_mlflow import (
    FLAVOR_MODEL_FILE,
    SHA256_TAG,
    MlflowRegistry,
    feature_example,
)
from {{ cookiecutter.package_name }}.run_record import RECORD_FILE
from {{ cookiecutter.package_name }}.tracking import client_for
from {{ cookiecutter.package_name }}.train import TrainingResult
from {{ cookiecutter.package_name }}.versions import CHALLENGER, CHAMPION

from .helpers import isolated_environment, mlflow_store


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


@pytest.mark.slow
def test_a_training_run_logs_params_metrics_data_and_card(trained: tuple[Settings, TrainingResult]):
    settings, result = trained
    client = MlflowClient(settings.registry.tracking_uri)
    run = client.get_run(result.version.run_id)
    params, metrics = run.data.params, run.data.metrics
    for name in ("rmse", "mae", "r2", "train_rmse", "baseline_rmse"):
        assert metrics[name] == pytest.approx(result.metrics[name])
    assert params["n_estimators"] == str(result.version.record.params["n_estimators"])
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
    assert {"model_card.md", RECORD_FILE} <= logged
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
    assert info.signature.inputs.input_names() == list(FEATURE_NAMES)
    assert info.saved_input_example_info is not None


@pytest.mark.slow
def test_the_model_is_lightgbm_text_with_recorded_checksums(
    trained: tuple[Settings, TrainingResult], tmp_path: Path
):
    settings, result = trained
    client_for(settings.registry)
    uri = f"models:/{settings.training.model_name}/{result.version.version}"
    assert "lightgbm" in mlflow.models.get_model_info(uri).flavors
    stored = Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path)))
    assert not [path for path in stored.rglob("*") if path.suffix in {".pkl", ".pickle"}]
    assert (stored / FLAVOR_MODEL_FILE).read_text(encoding="utf-8").startswith("tree\n")
    client = MlflowClient(settings.registry.tracking_uri)
    tags = client.get_model_version(settings.training.model_name, str(result.version.version)).tags
    assert tags[SHA256_TAG + FLAVOR_MODEL_FILE] == sha256_of(stored / FLAVOR_MODEL_FILE)
    assert SHA256_TAG + "contract.json" in tags


@pytest.mark.slow
def test_champion_uri_serves_the_trained_model(trained: tuple[Settings, TrainingResult]):
    settings, result = trained
    client_for(settings.registry)
    # MLflow's own loader reads the LightGBM flavour (no pickle); it takes the feature matrix.
    served = mlflow.pyfunc.load_model(f"models:/{settings.training.model_name}@{CHAMPION}")
    trips = load_month(settings.data, settings.data.val_month).trips
    predicted = np.clip(served.predict(feature_example(trips)), 0.0, None)
    rmse = float(np.sqrt(np.mean((predicted - trips["duration_minutes"].to_numpy()) ** 2)))
    assert rmse == pytest.approx(result.metrics["rmse"], abs=1e-9)


@pytest.mark.slow
def test_aliases_move_between_versions(trained: tuple[Settings, TrainingResult], tmp_path: Path):
    settings, result = trained
    model = open_registry(settings).load(result.version.version)
    registry = MlflowRegistry(RegistrySettings(tracking_uri=mlflow_store(tmp_path)), "aliases")
    assert registry.get_version(CHAMPION) is None
    assert registry.versions() == []
    record = result.version.record
    first = registry.register(
        model, {"rmse": 5.0}, record.model_copy(update={"promotion": "first"}), attachments={}
    )
    second = registry.register(
        model, {"rmse": 4.0}, record.model_copy(update={"promotion": "second"}), attachments={}
    )
    registry.set_alias(CHAMPION, first.version)
    registry.set_alias(CHALLENGER, second.version)
    registry.set_alias(CHAMPION, second.version)
    champion = registry.get_version(CHAMPION)
    assert (champion.version, champion.metrics["rmse"]) == (2, 4.0)
    assert champion.record.promotion == "second"
    assert registry.get_version(CHALLENGER).version == 2
    assert [v.version for v in registry.versions()] == [1, 2]
    with pytest.raises(LookupError, match="no version 9"):
        registry.set_alias(CHAMPION, 9)


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        ["train"],
        ["evaluate"],
        ["predict", "data/sample/green_tripdata_2024-01.parquet", "out.parquet"],
{%- if cookiecutter.serving == "fastapi" %}
        ["serve", "--port", "PORT"],
{%- endif %}
    ],
    ids=lambda command: command[0],
)
def test_an_unreachable_server_is_one_line_without_credentials(tmp_path: Path, command: list[str]):
    uri = f"http://user:secret@127.0.0.1:{closed_port()}"  # pragma: allowlist secret
    environment = {
        **os.environ,
        **isolated_environment(tmp_path),
        f"{ENV_PREFIX}REGISTRY__TRACKING_URI": uri,
        # No retries with back-off: the server is down for good in this test.
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    }
    if command[0] == "predict":
        command = [command[0], str(Path(__file__).parents[1] / command[1]), command[2]]
{%- if cookiecutter.serving == "fastapi" %}
    if command[0] == "serve":  # it must stop before it binds; if not, it finds no client either
        command = [command[0], "--port", str(closed_port())]
{%- endif %}
    result = subprocess.run(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}.cli", *command],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 7, result.stderr
    assert "secret" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: cannot reach the MLflow tracking server http://***@127.0.0.1:")


def test_no_log_line_shows_the_credentials_of_a_uri(capsys: pytest.CaptureFixture[str]):
    text = "at https://u:p%40ss@host:5000/x and s3://k@b/"  # pragma: allowlist secret
    assert strip_credentials(text) == "at https://***@host:5000/x and s3://***@b/"
    setup_logging(LoggingSettings(file=None))
    uri = "http://user:secret@127.0.0.1:5000/api"  # pragma: allowlist secret
    logger.error("cannot reach {}", uri)
    assert "secret" not in capsys.readouterr().err
