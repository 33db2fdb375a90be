"""MLflow wiring shared by the registry and the jobs: which store, which experiment, what to log.

By default everything stays inside the project and needs no server: runs and the model registry in
``mlflow.db`` (SQLite) and artifacts in ``mlartifacts/`` beside it. With ``MLFLOW_TRACKING_URI``
(or ``REGISTRY__TRACKING_URI``) pointing at a tracking server, the server decides where artifacts
go.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from .config import RegistrySettings
from .logs import strip_credentials

ARTIFACTS_FOLDER = "mlartifacts"
SQLITE_PREFIX = "sqlite:///"
# MLflow refuses longer parameter values; such values are still in the run's run_record.json.
MAX_PARAM_LENGTH = 6000
# Characters MLflow refuses in parameter names (a quarantine reason such as "missing, unparseable"
# becomes part of a name).
NOT_IN_NAMES = re.compile(r"[^\w./\- :]")
# Progress bars for local artifact copies only clutter the jobs' logs; an explicit setting wins.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def local_artifact_location(tracking_uri: str) -> str | None:
    """``mlartifacts/`` beside an SQLite store, as a file URI; None lets a server choose."""
    if not tracking_uri.startswith(SQLITE_PREFIX):
        return None
    database = Path(tracking_uri.removeprefix(SQLITE_PREFIX))
    return (database.resolve().parent / ARTIFACTS_FOLDER).as_uri()


def client_for(settings: RegistrySettings) -> MlflowClient:
    """A client for these settings; also points MLflow's process-wide URIs at them.

    MLflow's fluent API (runs, ``log_model``, ``models:/`` URIs) reads process-wide URIs, so they
    are set on every use: two registries with different stores in one process (as in the tests)
    then never write into each other's store.
    """
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)


def experiment_id(settings: RegistrySettings) -> str:
    """The project's experiment, created on first use with the project-local artifact folder."""
    client = client_for(settings)
    experiment = client.get_experiment_by_name(settings.experiment_name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(
            settings.experiment_name,
            artifact_location=local_artifact_location(settings.tracking_uri),
        )
    except MlflowException as error:
        # Another job created it between the look-up and here (concurrent first trainings).
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        existing = client.get_experiment_by_name(settings.experiment_name)
        if existing is None:
            raise
        return existing.experiment_id


@contextmanager
def start_run(
    settings: RegistrySettings, run_name: str, *, nested: bool = False
) -> Iterator[mlflow.ActiveRun]:
    """A run in the project's experiment (nested under the active run when ``nested``)."""
    experiment = experiment_id(settings)
    with mlflow.start_run(experiment_id=experiment, run_name=run_name, nested=nested) as run:
        yield run


def flatten(values: dict[str, object], prefix: str = "") -> dict[str, str]:
    """Nested facts as dotted parameter names with string values (lists and numbers as JSON)."""
    flat: dict[str, str] = {}
    for key, value in values.items():
        name = f"{prefix}{NOT_IN_NAMES.sub('_', str(key))}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            text = value if isinstance(value, str) else json.dumps(value)
            flat[name] = text[:MAX_PARAM_LENGTH]
    return flat


class CredentialFilter(logging.Filter):
    """Strips credentials from URIs in MLflow's own log lines (it prints run and server URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = strip_credentials(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def filter_standard_logging() -> None:
    """Attach the filter to every handler of MLflow's and the root logger, and the last resort."""
    handlers = [*logging.getLogger("mlflow").handlers, *logging.getLogger().handlers]
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    for handler in handlers:
        if not any(isinstance(existing, CredentialFilter) for existing in handler.filters):
            handler.addFilter(CredentialFilter())


filter_standard_logging()
