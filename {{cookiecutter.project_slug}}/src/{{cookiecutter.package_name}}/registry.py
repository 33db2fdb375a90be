"""One registry interface for the jobs and the service, whatever stores the models behind it."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

import pandas as pd

from .config import Settings
from .model import TripDurationModel
{%- if cookiecutter.experiment_tracking == "none" %}
from .registry_files import FileRegistry
{%- endif %}
from .versions import CHAMPION, AliasEvent, ModelLoadError, ModelVersion, NoModelError


class ModelRegistry(Protocol):
    """What jobs and the service need from a registry; see the implementations beside this file."""

    def register(
        self,
        model: TripDurationModel,
        metrics: dict[str, float],
        metadata: dict[str, object],
        attachments: dict[str, Path],
        input_example: pd.DataFrame | None = None,
    ) -> ModelVersion: ...

    def set_alias(self, alias: str, version: int) -> None: ...

    def delete_alias(self, alias: str) -> None:
        """Remove an alias (no error when it names no version)."""
        ...

    def record(self, event: AliasEvent) -> None:
        """Append an alias move to the registry's history (never rewritten)."""
        ...

    def history(self) -> list[AliasEvent]:
        """Every recorded alias move, oldest first."""
        ...

    def lock(self) -> AbstractContextManager[None]:
        """Held by the training job from comparing with the champion to moving the alias."""
        ...

    def get_version(self, alias: str) -> ModelVersion | None: ...

    def load(self, version: int) -> TripDurationModel: ...

    def versions(self) -> list[ModelVersion]: ...


def open_registry(settings: Settings) -> ModelRegistry:
    """The registry this project was generated with, configured from the settings."""
{%- if cookiecutter.experiment_tracking == "mlflow" %}
    # Imported here: mlflow takes seconds to import, and commands that never open the registry
    # (data, --help) should not wait for it.
    from .registry_mlflow import MlflowRegistry  # noqa: PLC0415

    return MlflowRegistry(settings.registry, settings.training.model_name)
{%- else %}
    return FileRegistry(settings.registry.models_dir, settings.training.model_name)
{%- endif %}


def load_model(settings: Settings, alias: str = CHAMPION) -> tuple[TripDurationModel, ModelVersion]:
    """The model behind an alias, with its version.

    Raises NoModelError when there is none, and a RegistryError (one line naming the alias, the
    version and the file) when the registry or the model's files cannot be read or were changed.
    """
    registry = open_registry(settings)
    version = registry.get_version(alias)
    if version is None:
        raise NoModelError(
            f"no model has the alias {alias!r} in the registry yet: run `train` first"
        )
    try:
        return registry.load(version.version), version
    except ModelLoadError as error:
        error.alias = alias
        raise
