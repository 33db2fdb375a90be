"""The MLflow model registry behind the project's ``ModelRegistry`` interface.

``register`` is also the training run's record in MLflow: one run with the model's parameters, the
metrics, the data facts (paths, sha256, months, rows at each cleaning step), the git commit, the
package versions, the attachments (the model card) and the model itself, which becomes a new
version of the registered model. ``champion`` and ``challenger`` are MLflow model-version aliases,
so ``models:/<name>@champion`` is the model the service and batch prediction use.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from datetime import UTC, datetime
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

import joblib
import mlflow
import numpy as np
import pandas as pd
from mlflow.entities.model_registry import ModelVersion as MlflowModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, infer_signature
from mlflow.pyfunc.model import PythonModel, PythonModelContext

from .config import RegistrySettings
from .model import TripDurationModel
from .provenance import TRACKED_PACKAGES
from .tracking import client_for, flatten, start_run
from .versions import ModelVersion

MODEL_ARTIFACT = "model"
METADATA_ARTIFACT = "metadata.json"
# What a python_function loader needs besides this project's own package (which must be installed
# where the model is loaded, as it is in the service and the batch job).
RUNTIME_PACKAGES = ("cloudpickle", "joblib", *TRACKED_PACKAGES)


class TripDurationPyfunc(PythonModel):
    """Lets MLflow's tools load and call the shipped ``TripDurationModel`` (raw trips in)."""

    def load_context(self, context: PythonModelContext) -> None:
        self.model: TripDurationModel = joblib.load(context.artifacts[MODEL_ARTIFACT])

    def predict(
        self,
        context: PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> np.ndarray:
        return self.model.predict(model_input)


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


def plain_types(frame: pd.DataFrame) -> pd.DataFrame:
    """Nullable integer columns as int64, so the signature says ``long`` rather than ``object``."""
    nullable = [name for name in frame.columns if isinstance(frame[name].dtype, pd.Int64Dtype)]
    return frame.astype(dict.fromkeys(nullable, "int64"))


def signature_of(model: TripDurationModel, example: pd.DataFrame) -> ModelSignature:
    with warnings.catch_warnings():
        # MLflow hints that integer columns cannot hold missing values; ours must not have any.
        warnings.filterwarnings("ignore", message=".*integer column", category=UserWarning)
        return infer_signature(example, model.predict(example))


def is_missing(error: MlflowException) -> bool:
    return error.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}


class MlflowRegistry:
    """Registered model ``name`` in the MLflow store that ``settings.tracking_uri`` points at."""

    def __init__(self, settings: RegistrySettings, name: str) -> None:
        self.settings = settings
        self.name = name

    @property
    def client(self) -> mlflow.MlflowClient:
        return client_for(self.settings)

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
            model_file = Path(scratch, "model.joblib")
            joblib.dump(model, model_file)
            example = None if input_example is None else plain_types(input_example)
            signature = None if example is None else signature_of(model, example)
            info = mlflow.pyfunc.log_model(
                name=MODEL_ARTIFACT,
                python_model=TripDurationPyfunc(),
                artifacts={MODEL_ARTIFACT: str(model_file)},
                signature=signature,
                input_example=example,
                pip_requirements=pip_requirements(),
            )
            registered = mlflow.register_model(info.model_uri, self.name)
            self.client.set_model_version_tag(
                self.name, registered.version, "rmse", f"{metrics.get('rmse', float('nan')):.6f}"
            )
        return ModelVersion(
            name=self.name,
            version=int(registered.version),
            metrics=dict(metrics),
            metadata={**metadata, "run_id": run.info.run_id},
            created_at=created_at(registered),
        )

    def set_alias(self, alias: str, version: int) -> None:
        try:
            self.client.set_registered_model_alias(self.name, alias, str(version))
        except MlflowException as error:
            if is_missing(error):
                raise LookupError(f"{self.name} has no version {version}") from error
            raise

    def get_version(self, alias: str) -> ModelVersion | None:
        client = self.client
        try:
            found = client.get_model_version_by_alias(self.name, alias)
        except MlflowException as error:
            if is_missing(error):
                return None
            raise
        return self._describe(found)

    def load(self, version: int) -> TripDurationModel:
        client_for(self.settings)  # the models:/ URI resolves against the process-wide store
        # Loaded from a copy: from a local store MLflow would otherwise load in place and write a
        # registered_model_meta file into the run's artifacts, which fails on a read-only mount
        # (the service's container) and changes the store on every load.
        with tempfile.TemporaryDirectory() as scratch:
            loaded = mlflow.pyfunc.load_model(f"models:/{self.name}/{version}", dst_path=scratch)
            return loaded.unwrap_python_model().model

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
        run_id = registered.run_id
        if run_id is None:  # registered by hand, outside a training run: nothing to describe it
            raise MlflowException(f"{self.name} version {registered.version} has no run")
        run = client.get_run(run_id)
        with tempfile.TemporaryDirectory() as scratch:
            path = client.download_artifacts(run_id, METADATA_ARTIFACT, scratch)
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
