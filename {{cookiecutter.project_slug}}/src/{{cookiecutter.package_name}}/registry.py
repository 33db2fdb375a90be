"""One registry interface for the jobs and the service, whatever stores the models behind it."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from .config import Settings
from .model import TripDurationModel
from .registry_files import FileRegistry
from .versions import CHAMPION, ModelVersion


class ModelRegistry(Protocol):
    """What jobs and the service need from a registry; see the implementations beside this file."""

    def register(
        self,
        model: TripDurationModel,
        metrics: dict[str, float],
        metadata: dict[str, object],
        attachments: dict[str, Path],
    ) -> ModelVersion: ...

    def set_alias(self, alias: str, version: int) -> None: ...

    def get_version(self, alias: str) -> ModelVersion | None: ...

    def load(self, version: int) -> TripDurationModel: ...

    def versions(self) -> list[ModelVersion]: ...


def open_registry(settings: Settings) -> ModelRegistry:
    """The registry this project was generated with, configured from the settings."""
    return FileRegistry(settings.registry.models_dir, settings.training.model_name)


def load_model(settings: Settings, alias: str = CHAMPION) -> tuple[TripDurationModel, ModelVersion]:
    """The model behind an alias, with its version; raises LookupError when there is none."""
    registry = open_registry(settings)
    version = registry.get_version(alias)
    if version is None:
        raise LookupError(
            f"no model has the alias {alias!r} in the registry yet: run `train` first"
        )
    return registry.load(version.version), version
