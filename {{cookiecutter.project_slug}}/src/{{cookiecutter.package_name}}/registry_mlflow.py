"""The MLflow model registry behind the project's ``ModelRegistry`` interface.

``register`` is also the training run's record in MLflow: one run with the model's parameters, the
metrics, the data facts (paths, sha256, months, rows at each cleaning step), the git commit, the
package versions, the attachments (the model card) and the model itself, which becomes a new
version of the registered model. ``champion`` and ``challenger`` are MLflow model-version aliases,
so ``models:/<name>@champion`` is the model the service and batch prediction use. Every alias move
(the training gate, ``promote``, ``rollback``) is kept as a registered-model tag
``history.<time>.<id>`` holding the event as JSON (one tag per event: appending never rewrites
another writer's entry, even against a server without locks), and as tags on the version it moved
to (``<action>_at``, ``<action>_reason``), which the MLflow UI shows beside the version.

The model is logged with MLflow's LightGBM flavour, which stores the booster in LightGBM's own
text format (``model.lgb``), and the feature contract beside it in the run (``contract.json``).
Neither is a pickle; their sha256 are version tags, checked before the files are parsed. Any
MLflow error (an unreachable server, a refused request) becomes a one-line RegistryError without
credentials.
"""

from __future__ import annotations

import functools
import json
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from filelock import FileLock
from mlflow.entities.model_registry import ModelVersion as MlflowModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, infer_signature

from .artifacts import checksums, load_checked
from .config import RegistrySettings
from .features import FEATURE_NAMES, feature_matrix
from .logs import strip_credentials
from .model import CONTRACT_FILE, TripDurationModel
from .tracking import SQLITE_PREFIX, client_for, flatten, start_run
from .versions import (
    AliasConflictError,
    AliasEvent,
    ModelLoadError,
    ModelVersion,
    RegistryError,
    RegistryUnavailableError,
)

MODEL_ARTIFACT = "model"
# The file the LightGBM flavour writes the booster to (LightGBM's text format).
FLAVOR_MODEL_FILE = "model.lgb"
METADATA_ARTIFACT = "metadata.json"
SHA256_TAG = "sha256."
HISTORY_TAG = "history."
# MLflow refuses longer tag values (5,000 characters on older servers): reasons are cut to fit.
MAX_TAG_TEXT = 1000
# What MLflow's LightGBM flavour needs to load the model elsewhere (MLflow's model server).
RUNTIME_PACKAGES = ("lightgbm", "numpy", "pandas", "scikit-learn")
# Signs of a server that cannot be reached, in MLflow's and requests' messages.
UNREACHABLE = ("Max retries exceeded", "Connection refused", "Failed to establish", "timed out")


def run_of(registered: MlflowModelVersion) -> str:
    """The run that logged a version (every version this project registers comes from one)."""
    if registered.run_id is None:
        raise RegistryError(f"model version {registered.version} has no run to read it from")
    return str(registered.run_id)


# Without type variables: Python 3.12+ bakes' ruff wants PEP 695 syntax, which 3.11 lacks.
def mlflow_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """MLflow and connection errors as one-line RegistryErrors, without credentials."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except (RegistryError, LookupError):
            raise
        # The boundary to MLflow and its store (HTTP, SQLAlchemy, files): whatever fails there
        # stops the command in one line rather than in a traceback with the store's URI.
        except Exception as error:
            registry = args[0]
            uri = strip_credentials(registry.settings.tracking_uri)
            reason = strip_credentials((str(error).strip().splitlines() or [""])[0])
            if is_connection_error(error):
                raise RegistryUnavailableError(
                    f"cannot reach the MLflow tracking server {uri}: {reason[:300]}"
                ) from None
            kind = type(error).__name__
            raise RegistryError(f"MLflow registry {uri}: {kind}: {reason[:300]}") from None

    return wrapper


def is_connection_error(error: BaseException) -> bool:
    text = str(error)
    return isinstance(error, ConnectionError) or any(sign in text for sign in UNREACHABLE)


def pip_requirements() -> list[str]:
    """The installed versions of the runtime packages, pinned for MLflow's model environment.

    Given explicitly, because MLflow would otherwise infer them by loading the model in a
    subprocess, which costs seconds on every training run.
    """
    pinned = []
    for name in RUNTIME_PACKAGES:
        try:
            pinned.append(f"{name}=={package_metadata.version(name)}")
        except package_metadata.PackageNotFoundError:
            continue
    return pinned


def feature_example(trips: pd.DataFrame) -> pd.DataFrame:
    """Raw trips as the booster's input: the feature matrix with its column names."""
    return pd.DataFrame(feature_matrix(trips), columns=list(FEATURE_NAMES))


def signature_of(model: TripDurationModel, example: pd.DataFrame) -> ModelSignature:
    with warnings.catch_warnings():
        # MLflow hints that integer columns cannot hold missing values; ours must not have any.
        warnings.filterwarnings("ignore", message=".*integer column", category=UserWarning)
        return infer_signature(example, model.predict_features(example.to_numpy()))


def is_conflict(error: MlflowException) -> bool:
    """Two writers inserted the same key at once (PostgreSQL, MySQL or SQLite wording)."""
    text = str(error).lower()
    return any(sign in text for sign in ("unique constraint", "uniqueviolation", "duplicate"))


def is_missing(error: MlflowException) -> bool:
    return error.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}


class MlflowRegistry:
    """Registered model ``name`` in the MLflow store that ``settings.tracking_uri`` points at."""

    def __init__(self, settings: RegistrySettings, name: str) -> None:
        self.settings = settings
        self.name = name
        self._lock: FileLock | None = None

    @property
    def client(self) -> mlflow.MlflowClient:
        return client_for(self.settings)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """A lock file beside an embedded SQLite store; a server offers none (see ``promote``)."""
        uri = self.settings.tracking_uri
        if not uri.startswith(SQLITE_PREFIX):
            yield
            return
        database = Path(uri.removeprefix(SQLITE_PREFIX))
        if self._lock is None:
            self._lock = FileLock(database.with_name(database.name + ".lock"))
        with self._lock:
            yield

    @mlflow_errors
    def register(
        self,
        model: TripDurationModel,
        metrics: dict[str, float],
        metadata: dict[str, object],
        attachments: dict[str, Path],
        input_example: pd.DataFrame | None = None,
    ) -> ModelVersion:
        with (
            start_run(self.settings, run_name=f"train-{self.name}") as run,
            tempfile.TemporaryDirectory() as scratch,
        ):
            mlflow.log_params(model.params)
            mlflow.log_params(
                flatten({key: value for key, value in metadata.items() if key != "params"})
            )
            mlflow.log_metrics(metrics)
            if commit := metadata.get("git_commit"):
                mlflow.set_tag("mlflow.source.git.commit", str(commit))
            mlflow.log_dict(metadata, METADATA_ARTIFACT)
            for name, source in attachments.items():
                copy = Path(scratch, name)
                shutil.copyfile(source, copy)
                mlflow.log_artifact(str(copy))
            saved = model.save(Path(scratch))
            mlflow.log_artifact(str(saved[CONTRACT_FILE]))
            example = None if input_example is None else feature_example(input_example)
            signature = None if example is None else signature_of(model, example)
            info = mlflow.lightgbm.log_model(
                model.booster,
                name=MODEL_ARTIFACT,
                signature=signature,
                input_example=example,
                pip_requirements=pip_requirements(),
            )
            # The checksums of the files as the store holds them, read back from it.
            stored = Path(
                mlflow.artifacts.download_artifacts(
                    info.model_uri, dst_path=str(Path(scratch, "stored"))
                )
            )
            sums = checksums(stored / FLAVOR_MODEL_FILE, saved[CONTRACT_FILE])
            registered = mlflow.register_model(info.model_uri, self.name)
            client = self.client
            for name, digest in sums.items():
                client.set_model_version_tag(
                    self.name, registered.version, SHA256_TAG + name, digest
                )
            client.set_model_version_tag(
                self.name, registered.version, "rmse", f"{metrics.get('rmse', float('nan')):.6f}"
            )
        return ModelVersion(
            name=self.name,
            version=int(registered.version),
            metrics=dict(metrics),
            metadata={**metadata, "run_id": run.info.run_id},
            created_at=created_at(registered),
        )

    @mlflow_errors
    def set_alias(self, alias: str, version: int) -> None:
        try:
            self.client.set_registered_model_alias(self.name, alias, str(version))
        except MlflowException as error:
            if is_missing(error):
                raise LookupError(f"{self.name} has no version {version}") from error
            if is_conflict(error):
                raise AliasConflictError(f"{self.name}@{alias} moved by another job") from error
            raise

    @mlflow_errors
    def delete_alias(self, alias: str) -> None:
        try:
            self.client.delete_registered_model_alias(self.name, alias)
        except MlflowException as error:
            if not is_missing(error):
                raise

    @mlflow_errors
    def record(self, event: AliasEvent) -> None:
        entry = event.as_dict()
        entry["reason"] = event.reason[:MAX_TAG_TEXT]
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        key = f"{HISTORY_TAG}{stamp}.{uuid.uuid4().hex[:8]}"
        client = self.client
        client.set_registered_model_tag(self.name, key, json.dumps(entry, sort_keys=True))
        version = str(event.version)
        client.set_model_version_tag(self.name, version, f"{event.action}_at", event.at)
        client.set_model_version_tag(self.name, version, f"{event.action}_reason", entry["reason"])

    @mlflow_errors
    def history(self) -> list[AliasEvent]:
        try:
            tags = self.client.get_registered_model(self.name).tags
        except MlflowException as error:
            if is_missing(error):
                return []
            raise
        keys = sorted(key for key in tags if key.startswith(HISTORY_TAG))
        try:
            return [AliasEvent.from_dict(json.loads(tags[key])) for key in keys]
        except (KeyError, TypeError, ValueError) as error:
            raise RegistryError(f"{self.name}: a history tag is unreadable: {error}") from error

    @mlflow_errors
    def get_version(self, alias: str) -> ModelVersion | None:
        client = self.client
        try:
            found = client.get_model_version_by_alias(self.name, alias)
        except MlflowException as error:
            if is_missing(error):
                return None
            raise
        return self._describe(found)

    @mlflow_errors
    def load(self, version: int) -> TripDurationModel:
        client = self.client  # also points models:/ URIs at this store
        registered = client.get_model_version(self.name, str(version))
        recorded = {
            key.removeprefix(SHA256_TAG): value
            for key, value in registered.tags.items()
            if key.startswith(SHA256_TAG)
        }
        shown = {
            FLAVOR_MODEL_FILE: f"models:/{self.name}/{version}/{FLAVOR_MODEL_FILE}",
            CONTRACT_FILE: f"runs:/{registered.run_id}/{CONTRACT_FILE}",
        }
        # Downloaded to a copy: from a local store MLflow would otherwise read in place and write
        # a registered_model_meta file into the run's artifacts, which fails on a read-only mount.
        with tempfile.TemporaryDirectory() as scratch, self._named(shown, version):
            folder = Path(
                mlflow.artifacts.download_artifacts(
                    f"models:/{self.name}/{version}", dst_path=str(Path(scratch, "model"))
                )
            )
            contract = Path(client.download_artifacts(run_of(registered), CONTRACT_FILE, scratch))
            return load_checked(folder / FLAVOR_MODEL_FILE, contract, recorded, version)

    @staticmethod
    @contextmanager
    def _named(shown: dict[str, str], version: int) -> Iterator[None]:
        """Errors name the artifact in the store, not the temporary copy; a missing one too."""
        try:
            yield
        except ModelLoadError as error:
            error.path = shown.get(Path(str(error.path)).name, error.path)
            raise
        except (MlflowException, OSError) as error:
            if is_connection_error(error):
                raise
            folder = shown[FLAVOR_MODEL_FILE].rsplit("/", 1)[0]
            raise ModelLoadError(version, folder, "artifacts unreadable or missing") from error

    @mlflow_errors
    def versions(self) -> list[ModelVersion]:
        try:
            found = self.client.search_model_versions(f"name = '{self.name}'")
        except MlflowException as error:
            if is_missing(error):
                return []
            raise
        return [self._describe(entry) for entry in sorted(found, key=lambda v: int(v.version))]

    def _describe(self, registered: MlflowModelVersion) -> ModelVersion:
        """The version with its run's metrics and the metadata the run recorded."""
        client = self.client
        run = client.get_run(run_of(registered))
        with tempfile.TemporaryDirectory() as scratch:
            path = client.download_artifacts(run_of(registered), METADATA_ARTIFACT, scratch)
            recorded = json.loads(Path(path).read_text(encoding="utf-8"))
        return ModelVersion(
            name=self.name,
            version=int(registered.version),
            metrics=dict(run.data.metrics),
            metadata={**recorded, "run_id": registered.run_id},
            created_at=created_at(registered),
        )


def created_at(registered: MlflowModelVersion) -> str:
    moment = datetime.fromtimestamp(registered.creation_timestamp / 1000, UTC)
    return moment.isoformat(timespec="seconds")
