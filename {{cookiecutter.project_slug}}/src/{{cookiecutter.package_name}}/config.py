"""Typed settings, layered: defaults in code < ``.env`` < environment variables < CLI flags.

Every setting has an environment variable named ``{{ cookiecutter.package_name | upper }}_<GROUP>__<NAME>``
(for example ``{{ cookiecutter.package_name | upper }}_DATA__TRAIN_MONTH=2023-01``). Invalid values
fail at start with a message that names the setting, instead of deep inside a job.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
{%- if cookiecutter.serving == "fastapi" %}
    SecretStr,
{%- endif %}
    ValidationError,
    field_validator,
{%- if cookiecutter.serving == "fastapi" or cookiecutter.hyperparameter_tuning == "optuna" %}
    model_validator,
{%- endif %}
)
{%- if cookiecutter.data_versioning == "dvc" %}
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)
{%- else %}
from pydantic_settings import BaseSettings, SettingsConfigDict
{%- endif %}

from .months import parse_months

ENV_PREFIX = "{{ cookiecutter.package_name | upper }}_"
{%- if cookiecutter.data_versioning == "dvc" %}
# The DVC pipeline's parameters (dvc.yaml): read as settings, so the pipeline and the CLI agree.
PARAMS_FILE = Path("params.yaml")
{%- endif %}


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity where the OS tells), not all of the host's.

    A fixed property of the process, not of the moment: a default that followed the load would
    make two runs of the same command differ in their recorded settings.
    """
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class DataSettings(BaseModel):
    """Where the monthly trip files live and which months the jobs use."""

    taxi_color: Literal["green", "yellow"] = "green"
    data_dir: Path = Field(Path("data/sample"), description="Folder of monthly parquet files.")
    raw_dir: Path = Field(Path("data/raw"), description="Where `data` downloads TLC months.")
    quarantine_dir: Path = Field(Path("data/quarantine"), description="Rows that failed checks.")
    zone_lookup: Path = Field(
        Path("data/taxi_zone_lookup.csv"), description="TLC zone numbers, boroughs and names."
    )
    train_month: str = Field(
        "2023-01",
        description="Month(s) to fit on: YYYY-MM, a range YYYY-MM..YYYY-MM, or a comma list.",
    )
    val_month: str = Field(
        "2023-02", description="Month(s) to evaluate on, written like `train_month`."
    )
    min_duration_minutes: float = Field(1.0, ge=0)
    max_duration_minutes: float = Field(60.0, gt=0)
    min_rows: int = Field(
        100,
        ge=1,
        description="Fewest usable rows a month must keep to be trained or evaluated on.",
    )
    pickups_in_month_only: bool = Field(
        False,
        description="Skip rows whose pickup is outside their file's month, inside the parquet "
        "reader (counted as outside_month in the row account).",
    )
    batch_rows: int = Field(
        500_000,
        ge=1,
        description="Rows read, validated and predicted at a time: bounds the memory of reading "
        "many months and of batch prediction.",
    )
    base_url: str = "https://d37ci6vzurychx.cloudfront.net/trip-data"

    @field_validator("train_month", "val_month", mode="before")
    @classmethod
    def _is_months(cls, value: object) -> str:
        # A list (from code or a JSON environment value) is kept as the equivalent comma spec.
        if isinstance(value, list | tuple):
            value = ",".join(str(item) for item in value)
        if not isinstance(value, str):
            raise ValueError(f"expected months as text or a list, got {value!r}")
        spec = value
        parse_months(spec)
        return spec.strip()

    @property
    def train_months(self) -> tuple[str, ...]:
        return parse_months(self.train_month)

    @property
    def val_months(self) -> tuple[str, ...]:
        return parse_months(self.val_month)

    def month_file(self, month: str, folder: Path | None = None) -> Path:
        """The local path of one month's file, named as the TLC names it."""
        return (folder or self.data_dir) / f"{self.taxi_color}_tripdata_{month}.parquet"

    def month_url(self, month: str) -> str:
        return f"{self.base_url}/{self.taxi_color}_tripdata_{month}.parquet"


class TrainingSettings(BaseModel):
    """The estimator's parameters{% if cookiecutter.hyperparameter_tuning == "optuna" %}; ``tune`` writes better ones to ``params_file``{% else %}, overridden by those in ``params_file`` if it exists{% endif %}."""

    model_name: str = "{{ cookiecutter.project_slug }}"
    # Defaults chosen for accuracy within a serving budget: docs/benchmarks.md ("Model size").
    n_estimators: int = Field(150, ge=1)
    learning_rate: float = Field(0.12, gt=0, le=1)
    num_leaves: int = Field(31, ge=2)
    min_child_samples: int = Field(50, ge=1)
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    reg_lambda: float = Field(0.0, ge=0)
    n_jobs: int = Field(
        default_factory=usable_cpus,
        ge=1,
        description="LightGBM threads (default: the CPUs this process may use); the model does "
        "not depend on it. On a machine busy with other jobs, 1 can be much faster.",
    )
    params_file: Path = Field(Path("models/best_params.json"), description="Tuned parameters.")
    promotion_margin: float = Field(
        0.0, ge=0, description="RMSE a new model must gain over the champion to replace it."
    )


class DaskSettings(BaseModel):
    """Where `train` and `predict` compute: here (no address) or on a Dask cluster."""

    scheduler_address: str | None = Field(
        None,
        description="Dask scheduler, e.g. tcp://10.0.0.5:8786; empty: everything runs locally.",
    )
    connect_timeout: float = Field(30.0, gt=0, description="Seconds to wait for the scheduler.")

    @field_validator("scheduler_address", mode="before")
    @classmethod
    def _empty_means_local(cls, value: object) -> object:
        return None if value in ("", "none", "None") else value


class LoggingSettings(BaseModel):
    level: Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    json_lines: bool = Field(False, description="Write JSON lines (for log collectors).")
    file: Path | None = Field(Path("logs/{{ cookiecutter.package_name }}.log"))
    rotation: str = "10 MB"
    retention: int = Field(5, ge=1, description="How many rotated files to keep.")
    file_per_process: bool = Field(
        False,
        description="Name the file after each process (app.<pid>.log), so that processes writing "
        "at once never rotate one shared file; set for several workers.",
    )

    @field_validator("file", mode="before")
    @classmethod
    def _empty_means_no_file(cls, value: object) -> object:
        return None if value in ("", "none", "None") else value


class RegistrySettings(BaseModel):
    models_dir: Path = Field(Path("models"), description="Local registry and model artifacts.")
{%- if cookiecutter.experiment_tracking == "mlflow" %}
    # MLflow's own variable replaces the embedded default, so a remote server needs no project
    # setting; an explicit REGISTRY__TRACKING_URI (or a test's settings) is more specific and wins.
    tracking_uri: str = Field(
        default_factory=lambda: os.environ.get("MLFLOW_TRACKING_URI") or "sqlite:///mlflow.db",
        description="MLflow tracking URI; default MLFLOW_TRACKING_URI, else sqlite:///mlflow.db.",
    )
    experiment_name: str = "{{ cookiecutter.project_slug }}"
{%- endif %}
{%- if cookiecutter.hyperparameter_tuning == "optuna" %}


class TuningSettings(BaseModel):
    """How `tune` searches: trial budget, seed, and the (low, high) range of each parameter."""

    n_trials: int = Field(30, ge=1)
    timeout_seconds: float | None = Field(
        None, gt=0, description="Start no trial after this long (results then depend on speed)."
    )
    seed: int | None = Field(None, description="Sampler seed; defaults to the global seed.")
    max_estimators: int = Field(2000, ge=1, description="Most trees; early stopping picks fewer.")
    early_stopping_rounds: int = Field(50, ge=1)
    learning_rate: tuple[float, float] = (0.02, 0.3)
    num_leaves: tuple[int, int] = (16, 512)
    min_child_samples: tuple[int, int] = (5, 300)
    subsample: tuple[float, float] = (0.5, 1.0)
    colsample_bytree: tuple[float, float] = (0.5, 1.0)
    reg_lambda: tuple[float, float] = (1e-3, 30.0)
    storage: str | None = Field(
        None,
        description="Optuna RDB storage that parallel workers share, e.g. "
        "postgresql://tuner@db-host/optuna (default: in memory, one process).",
    )
    study_name: str | None = Field(
        None, description="Study that workers on this storage join (default: from the months)."
    )
    workers: int = Field(1, ge=1, description="Tuning processes on this machine (>1: `storage`).")
    heartbeat_seconds: int = Field(
        30, ge=1, description="A worker's trials silent for twice this long are marked failed."
    )

    @field_validator("storage", "study_name", mode="before")
    @classmethod
    def _empty_means_none(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _parallel_needs_storage(self) -> TuningSettings:
        if self.workers > 1 and self.storage is None:
            raise ValueError(
                "workers > 1 share one study, which needs a storage: set TUNING__STORAGE to an "
                "RDB URL (postgresql://... or sqlite:///optuna.db)"
            )
        return self

    @field_validator(
        "learning_rate",
        "num_leaves",
        "min_child_samples",
        "subsample",
        "colsample_bytree",
        "reg_lambda",
    )
    @classmethod
    def _is_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not 0 < low < high:
            raise ValueError(f"expected a range 0 < low < high, got {list(value)}")
        return value
{%- endif %}
{%- if cookiecutter.serving == "fastapi" %}


class ServingSettings(BaseModel):
    """The prediction service (`serve`): where it listens and what it accepts."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1)
    max_batch_size: int = Field(10_000, ge=1, description="Most trips per /predict/batch call.")
    max_explained_trips: int | None = Field(
        None,
        ge=1,
        description="Most trips per /predict/batch?explain=true call (default: the batch limit). "
        "An explanation costs about 40 predictions; a lower limit answers larger batches 422.",
    )
    batch_threads: int = Field(
        default_factory=usable_cpus,
        ge=1,
        description="Threads that predict one large batch (default: the CPUs this process may "
        "use); with several workers, divide the CPUs between them.",
    )
    model_alias: str = Field("champion", description="Registry alias of the model to serve.")
    worker_healthcheck_timeout: int = Field(
        120,
        ge=1,
        description="Seconds a worker may take to start (imports, model loading) or to answer "
        "uvicorn's health check before it is restarted; only used with several workers.",
    )
    header_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds a connection may take to send a request's headers (from its first "
        "byte, or from connecting); then it is answered 408 and closed.",
    )
    body_timeout: float = Field(
        30.0,
        gt=0,
        description="Seconds a request may take to send its whole body; then 408 and closed.",
    )
    keep_alive_timeout: int = Field(
        5, ge=1, description="Seconds an idle keep-alive connection is kept open."
    )
    limit_concurrency: int | None = Field(
        None,
        ge=1,
        description="Most connections and requests at once per worker; beyond, 503 (default: no "
        "limit).",
    )
    mode: Literal["basic", "shadow", "canary"] = Field(
        "basic",
        description="basic: the champion answers; shadow: the champion answers and the "
        "challenger scores every request off the response path; canary: `canary_share` of the "
        "routing keys go to the challenger.",
    )
    challenger_alias: str = Field(
        "challenger", description="Registry alias of the second model (shadow and canary)."
    )
    canary_share: float = Field(
        0.1, ge=0, le=1, description="Share of routing keys the challenger answers in canary mode."
    )
    shadow_max_pending: int = Field(
        10_000,
        ge=1,
        description="Trips allowed to wait for the shadow model; beyond, they are dropped and "
        "counted (never waited for).",
    )
    reload_enabled: bool = Field(
        False, description="Offer POST /admin/reload (reloads the models by alias); needs a token."
    )
    reload_token: SecretStr | None = Field(
        None,
        min_length=16,
        description="Bearer token of POST /admin/reload (set it from a secret, never in a file).",
    )

    @model_validator(mode="after")
    def _reload_needs_a_token(self) -> ServingSettings:
        if self.reload_enabled and self.reload_token is None:
            raise ValueError("reload_enabled needs a reload_token (SERVING__RELOAD_TOKEN)")
        return self


class PredictionLogSettings(BaseModel):
    """Where the service appends the trips it was asked about and its predictions."""

    enabled: bool = Field(False, description="Append every prediction to files in `dir`.")
    dir: Path = Field(Path("data/prediction_log"), description="Folder of the log files.")
    file_format: Literal["parquet", "jsonl"] = "parquet"
    max_rows: int = Field(1000, ge=1, description="Write a file once this many rows are waiting.")
    max_seconds: float = Field(30.0, gt=0, description="Write waiting rows at least this often.")
    max_pending: int = Field(
        100_000, ge=1, description="Rows allowed to wait; beyond, new rows are dropped and counted."
    )
{%- endif %}


class FeedbackSettings(BaseModel):
    """How `feedback` matches logged predictions with actual trips and judges the live error."""

    reports_dir: Path = Field(Path("reports"), description="JSON and HTML feedback reports.")
    window: Literal["day", "week", "month"] = Field(
        "week", description="Time window of the per-window error table."
    )
    distance_decimals: int = Field(
        2, ge=0, le=6, description="Decimals of the trip distance (miles) that must agree."
    )
    min_rows: int = Field(
        100, ge=1, description="Fewest scored rows of a model for a verdict on its live error."
    )
    max_rmse_increase: float = Field(
        0.2,
        ge=0,
        description="Share by which the champion's live RMSE may exceed its validation RMSE "
        "before `feedback` exits with code 8.",
    )
{%- if cookiecutter.monitoring == "evidently" %}


class MonitoringSettings(BaseModel):
    """How `monitor` decides that the current batch drifted from the reference batch."""

    reports_dir: Path = Field(Path("reports"), description="HTML reports and JSON summaries.")
    drift_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Share of drifted columns at or above which `monitor` exits with code 4.",
    )
    column_method: str | None = Field(
        None, description="Evidently drift method for every column (default: by type and size)."
    )
    column_threshold: float | None = Field(
        None, gt=0, description="Evidently per-column threshold (default: the method's own)."
    )
    min_rows: int = Field(
        100, ge=1, description="Fewest comparable rows in each batch for a drift verdict."
    )
{%- endif %}


class Settings(BaseSettings):
    """All settings of the project, grouped by the job that uses them."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    seed: int = Field(42, description="Seed for every random choice.")
    data: DataSettings = DataSettings()
    training: TrainingSettings = TrainingSettings()
{%- if cookiecutter.experiment_tracking == "mlflow" %}
    # A factory, so that MLFLOW_TRACKING_URI is read when settings are loaded, not at import.
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
{%- else %}
    registry: RegistrySettings = RegistrySettings()
{%- endif %}
    logging: LoggingSettings = LoggingSettings()
    dask: DaskSettings = DaskSettings()
{%- if cookiecutter.hyperparameter_tuning == "optuna" %}
    tuning: TuningSettings = TuningSettings()
{%- endif %}
{%- if cookiecutter.serving == "fastapi" %}
    serving: ServingSettings = ServingSettings()
    prediction_log: PredictionLogSettings = PredictionLogSettings()
{%- endif %}
{%- if cookiecutter.monitoring == "evidently" %}
    monitoring: MonitoringSettings = MonitoringSettings()
{%- endif %}
    feedback: FeedbackSettings = FeedbackSettings()
{%- if cookiecutter.data_versioning == "dvc" %}

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """``params.yaml`` below ``.env`` and the environment, above the defaults in code."""
        params = YamlConfigSettingsSource(settings_cls, yaml_file=PARAMS_FILE)
        return (init_settings, env_settings, dotenv_settings, params, file_secret_settings)
{%- endif %}


class SettingsError(ValueError):
    """Raised when the configuration is invalid; the message names each bad setting."""


def load_settings(**overrides: Any) -> Settings:
    """Read settings once from defaults, ``.env`` and the environment, with explicit overrides."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        problems = "; ".join(
            f"{ENV_PREFIX}{'__'.join(str(part) for part in issue['loc']).upper()}: {issue['msg']}"
            for issue in error.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from error
