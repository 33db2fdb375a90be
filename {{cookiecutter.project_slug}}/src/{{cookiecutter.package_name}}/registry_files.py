"""A file-backed model registry: one folder per version and a JSON index of versions and aliases.

The index is replaced atomically, so a crash while registering never leaves a half-written
index that the service would then fail to read.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import pandas as pd

from .model import TripDurationModel
from .versions import ModelVersion

INDEX_FILE = "registry.json"
MODEL_FILE = "model.joblib"


class FileRegistry:
    """Versioned folders under ``root/<name>/`` with ``registry.json`` as the source of truth."""

    def __init__(self, root: Path, name: str) -> None:
        self.name = name
        self.home = root / name

    def _read_index(self) -> dict[str, Any]:
        path = self.home / INDEX_FILE
        if not path.exists():
            return {"name": self.name, "versions": [], "aliases": {}}
        return json.loads(path.read_text(encoding="utf-8"))

    def _write_index(self, index: dict[str, Any]) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", dir=self.home, suffix=".tmp", delete=False, encoding="utf-8"
        ) as handle:
            json.dump(index, handle, indent=2, sort_keys=True)
        os.replace(handle.name, self.home / INDEX_FILE)

    def version_dir(self, version: int) -> Path:
        return self.home / f"v{version:04d}"

    def register(
        self,
        model: TripDurationModel,
        metrics: dict[str, float],
        metadata: dict[str, object],
        attachments: dict[str, Path],
        input_example: pd.DataFrame | None = None,
    ) -> ModelVersion:
        index = self._read_index()
        number = max((entry["version"] for entry in index["versions"]), default=0) + 1
        folder = self.version_dir(number)
        folder.mkdir(parents=True, exist_ok=False)
        joblib.dump(model, folder / MODEL_FILE)
        (folder / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
        for name, source in attachments.items():
            shutil.copyfile(source, folder / name)
        if input_example is not None:
            # A few raw input rows: shows a caller what the model expects.
            input_example.to_json(
                folder / "input_example.json", orient="records", date_format="iso", indent=2
            )
        entry = ModelVersion(
            name=self.name,
            version=number,
            metrics=metrics,
            metadata=metadata,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        index["versions"].append(asdict(entry))
        self._write_index(index)
        return entry

    def set_alias(self, alias: str, version: int) -> None:
        index = self._read_index()
        if not any(entry["version"] == version for entry in index["versions"]):
            raise LookupError(f"{self.name} has no version {version}")
        index["aliases"][alias] = version
        self._write_index(index)

    def get_version(self, alias: str) -> ModelVersion | None:
        index = self._read_index()
        number = index["aliases"].get(alias)
        if number is None:
            return None
        entry = next(entry for entry in index["versions"] if entry["version"] == number)
        return ModelVersion(**entry)

    def load(self, version: int) -> TripDurationModel:
        return joblib.load(self.version_dir(version) / MODEL_FILE)

    def versions(self) -> list[ModelVersion]:
        return [ModelVersion(**entry) for entry in self._read_index()["versions"]]
