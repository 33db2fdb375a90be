"""The facts of one training run, typed: what the registry stores with a version, read back as is.

Training creates a ``RunRecord``, and the registry stores it with the version it registers:
{% if cookiecutter.experiment_tracking == "mlflow" -%}
the run's ``run_record.json`` artifact, with its sha256 as a version tag.
{% else -%}
``run_record.json`` in the version's folder, with its sha256 in the index.
{% endif -%}
Readers get it back typed, never as a dict read by string keys: the model card,
{% if cookiecutter.serving == "fastapi" -%}
the service's ``/model``,
{% endif -%}
{% if cookiecutter.monitoring == "evidently" -%}
``monitor``,
{% endif -%}
and whoever lists the registry's versions.

A version registered without a record has none: ``ModelVersion.record`` is then ``None``, and
readers fall back:
{% if cookiecutter.serving == "fastapi" -%}
``/model`` answers nulls for the months and the training time;
{% endif -%}
{% if cookiecutter.monitoring == "evidently" -%}
``monitor`` compares with the configured training month;
{% endif -%}
the model itself loads as before. Versions registered by earlier releases of this
project stored the same facts untyped (``metadata``); ``legacy_record`` reads those when they fit.
A record file that exists but does not parse, or was changed since registration, is an error that
names the version, like a changed model file.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

RECORD_FILE = "run_record.json"
# The file (artifact) earlier versions of this project stored the same facts in, untyped.
LEGACY_RECORD_FILE = "metadata.json"


class InputFile(BaseModel):
    """A data file a run read, and its sha256 at the time."""

    model_config = ConfigDict(frozen=True)

    path: str
    sha256: str


class RowCounts(BaseModel):
    """Where every row of one input went (``data.RowAccount``)."""

    model_config = ConfigDict(frozen=True)

    source: str
    read: int
    quarantined: dict[str, int]
    quarantined_total: int
    filtered_by_duration: int
    used: int
    # Rows the reader skipped: pickup outside the file's month (runs before that setting: 0).
    outside_month: int = 0


class RunRecord(BaseModel):
    """The facts of a training run (the metrics travel beside it, in ``ModelVersion.metrics``)."""

    model_config = ConfigDict(frozen=True)

    trained_at: str = Field(description="When training finished (ISO 8601, UTC).")
    train_month: str = Field(description="The training months as configured (a month or a spec).")
    val_month: str = Field(description="The validation months as configured.")
    train_months: list[str] = Field(description="Every training month, in order.")
    val_months: list[str] = Field(description="Every validation month, in order.")
    inputs: dict[str, InputFile] = Field(description="Month -> the file read for it.")
    rows: dict[str, RowCounts] = Field(description="'train' and 'validation' row accounts.")
    rows_by_month: dict[str, dict[str, RowCounts]] = Field(
        default_factory=dict, description="'train' and 'validation' -> month -> its account."
    )
    threads: int | None = Field(None, description="LightGBM's threads (TRAINING__N_JOBS).")
    compute: str = Field("local", description="Where it was fitted: 'local' or the Dask cluster.")
    stage_seconds: dict[str, float] = Field(
        default_factory=dict, description="Seconds per stage up to the registration."
    )
    features: list[str]
    params: dict[str, float | int] = Field(description="The estimator's tunable parameters.")
    seed: int
    git_commit: str | None
    environment: dict[str, str]
    champion_rmse_before: float | None
    promotion: str

    @model_validator(mode="before")
    @classmethod
    def one_month_each(cls, facts: Any) -> Any:
        """Runs before multi-month training recorded one month per role: it is the whole list."""
        if isinstance(facts, dict):
            for role in ("train", "val"):
                if f"{role}_months" not in facts and f"{role}_month" in facts:
                    facts = {**facts, f"{role}_months": [facts[f"{role}_month"]]}
        return facts


class RunRecordError(ValueError):
    """A stored record that is not a valid ``RunRecord``."""


def parse_record(text: str | bytes, origin: object) -> RunRecord:
    """A record from its JSON; ``RunRecordError`` (naming ``origin``) when it is not one."""
    try:
        return RunRecord.model_validate_json(text)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the record"
        raise RunRecordError(f"{origin}: not a run record ({where}: {first['msg']})") from error


def legacy_record(facts: object) -> RunRecord | None:
    """The untyped facts an earlier release stored, as a record when they fit, else ``None``."""
    try:
        return RunRecord.model_validate(facts)
    except ValidationError:
        return None
