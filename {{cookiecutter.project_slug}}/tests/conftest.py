"""Shared fixtures: settings that write only into temporary folders, and one trained model."""

from __future__ import annotations

{% if cookiecutter.experiment_tracking == "mlflow" -%}
import atexit
import shutil
import tempfile
{% endif -%}
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.config import (
    ENV_PREFIX,
    DataSettings,
    FeedbackSettings,
    LoggingSettings,
    RegistrySettings,
    Settings,
    TrainingSettings,
)
from {{ cookiecutter.package_name }}.train import TrainingResult, run_training

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = PROJECT_ROOT / "data" / "sample"
{%- if cookiecutter.experiment_tracking == "mlflow" %}
# Creating MLflow's tables in a new SQLite file takes seconds; tests copy one store made once.
EMPTY_STORE = Path(tempfile.mkdtemp(prefix="mlflow-empty-")) / "mlflow.db"
atexit.register(shutil.rmtree, EMPTY_STORE.parent, ignore_errors=True)


def mlflow_store(root: Path) -> str:
    """The tracking URI of an empty, ready MLflow store of its own, below ``root``."""
    if not EMPTY_STORE.exists():
        from mlflow.tracking import MlflowClient  # noqa: PLC0415 - mlflow loads when first needed

        MlflowClient(f"sqlite:///{EMPTY_STORE}").search_experiments()
    database = root / "mlflow.db"
    if not database.exists():
        root.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(EMPTY_STORE, database)
    return f"sqlite:///{database}"
{%- endif %}


def isolated_settings(root: Path) -> Settings:
    """Settings that read the bundled sample and write only below ``root``."""
    return Settings(
        _env_file=None,
        data=DataSettings(
            data_dir=SAMPLE_DIR, raw_dir=root / "raw", quarantine_dir=root / "quarantine"
        ),
        training=TrainingSettings(params_file=root / "best_params.json"),
        registry=RegistrySettings(
            models_dir=root / "models",
{%- if cookiecutter.experiment_tracking == "mlflow" %}
            tracking_uri=mlflow_store(root),
{%- endif %}
        ),
        logging=LoggingSettings(file=None),
        feedback=FeedbackSettings(reports_dir=root / "reports"),
    )


def isolated_environment(root: Path) -> dict[str, str]:
    """The same isolation for code that reads settings from the environment (the CLI, the app)."""
    return {
        f"{ENV_PREFIX}DATA__DATA_DIR": str(SAMPLE_DIR),
        f"{ENV_PREFIX}DATA__RAW_DIR": str(root / "raw"),
        f"{ENV_PREFIX}DATA__QUARANTINE_DIR": str(root / "quarantine"),
        f"{ENV_PREFIX}TRAINING__PARAMS_FILE": str(root / "best_params.json"),
        f"{ENV_PREFIX}REGISTRY__MODELS_DIR": str(root / "models"),
{%- if cookiecutter.experiment_tracking == "mlflow" %}
        f"{ENV_PREFIX}REGISTRY__TRACKING_URI": mlflow_store(root),
{%- endif %}
        f"{ENV_PREFIX}LOGGING__FILE": "",
        f"{ENV_PREFIX}FEEDBACK__REPORTS_DIR": str(root / "reports"),
    }


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return isolated_settings(tmp_path)


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the environment-read settings at ``tmp_path``, away from any ``.env``."""
    monkeypatch.chdir(tmp_path)
    for name, value in isolated_environment(tmp_path).items():
        monkeypatch.setenv(name, value)
    return tmp_path


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, TrainingResult]:
    """One model trained on the bundled sample, shared by the tests that only read it."""
    settings = isolated_settings(tmp_path_factory.mktemp("trained"))
    return settings, run_training(settings)
