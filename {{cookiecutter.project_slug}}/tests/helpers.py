"""Isolation for tests: settings and environments that read the bundled sample and write only
below a temporary folder. A plain module: tests import it; ``conftest.py`` holds the fixtures."""

from __future__ import annotations

{% if cookiecutter.experiment_tracking == "mlflow" -%}
import atexit
import shutil
import tempfile
{% endif -%}
from pathlib import Path

from {{ cookiecutter.package_name }}.config import (
    ENV_PREFIX,
    DataSettings,
    FeedbackSettings,
    LoggingSettings,
{%- if cookiecutter.monitoring == "evidently" %}
    MonitoringSettings,
{%- endif %}
    RegistrySettings,
    Settings,
    TrainingSettings,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = PROJECT_ROOT / "data" / "sample"
ZONE_LOOKUP = PROJECT_ROOT / "data" / "taxi_zone_lookup.csv"
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
            data_dir=SAMPLE_DIR,
            raw_dir=root / "raw",
            quarantine_dir=root / "quarantine",
            zone_lookup=ZONE_LOOKUP,
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
{%- if cookiecutter.monitoring == "evidently" %}
        monitoring=MonitoringSettings(reports_dir=root / "reports"),
{%- endif %}
    )


def isolated_environment(root: Path) -> dict[str, str]:
    """The same isolation for code that reads settings from the environment (the CLI, the app)."""
    return {
        f"{ENV_PREFIX}DATA__DATA_DIR": str(SAMPLE_DIR),
        f"{ENV_PREFIX}DATA__RAW_DIR": str(root / "raw"),
        f"{ENV_PREFIX}DATA__QUARANTINE_DIR": str(root / "quarantine"),
        f"{ENV_PREFIX}DATA__ZONE_LOOKUP": str(ZONE_LOOKUP),
        f"{ENV_PREFIX}TRAINING__PARAMS_FILE": str(root / "best_params.json"),
        f"{ENV_PREFIX}REGISTRY__MODELS_DIR": str(root / "models"),
{%- if cookiecutter.experiment_tracking == "mlflow" %}
        f"{ENV_PREFIX}REGISTRY__TRACKING_URI": mlflow_store(root),
{%- endif %}
        f"{ENV_PREFIX}LOGGING__FILE": "",
        f"{ENV_PREFIX}FEEDBACK__REPORTS_DIR": str(root / "reports"),
{%- if cookiecutter.monitoring == "evidently" %}
        f"{ENV_PREFIX}MONITORING__REPORTS_DIR": str(root / "reports"),
{%- endif %}
    }
