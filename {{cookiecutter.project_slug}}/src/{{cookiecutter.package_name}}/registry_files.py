"""A file-backed model registry: one folder per version and a JSON index of versions and aliases.

Safe against crashes and concurrent jobs:

- writers (``register``, ``set_alias`` and the training job's compare-and-promote, through
  ``lock``) hold one lock file, so two trainings never take the same number or promote on a
  stale comparison; the lock is released by the OS when its process dies;
- a version is written into a staging folder and renamed into place, then added to the index,
  which is replaced atomically: a crash at any step leaves either nothing or a folder that the
  index does not know, and the next writer removes it;
- every alias move (the training gate, ``promote``, ``rollback``) is appended to the index's
  ``history`` list with when and why; entries are never rewritten;
- readers (the service, batch jobs) never lock: they read the index, which is always whole, and
  check each file against the sha256 the index recorded for it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from filelock import FileLock
from loguru import logger

from .artifacts import checksums, load_checked
from .model import CONTRACT_FILE, MODEL_FILE, TripDurationModel
from .versions import AliasEvent, ModelLoadError, ModelVersion, RegistryError

INDEX_FILE = "registry.json"
LOCK_FILE = ".lock"
STAGING_PREFIX = ".staging-"
VERSION_FOLDER = re.compile(r"v(\d{4,})")
VERSION_FIELDS = {item.name for item in fields(ModelVersion)}


class FileRegistry:
    """Versioned folders under ``root/<name>/`` with ``registry.json`` as the source of truth."""

    def __init__(self, root: Path, name: str) -> None:
        self.name = name
        self.home = root / name
        # One lock object per registry: it is reentrant, so `register` inside `lock()` works.
        self._lock = FileLock(self.home / LOCK_FILE)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive write access across processes, for as long as the block runs."""
        self.home.mkdir(parents=True, exist_ok=True)
        with self._lock:
            yield

    def _read_index(self) -> dict[str, Any]:
        path = self.home / INDEX_FILE
        try:
            index = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"name": self.name, "versions": [], "aliases": {}}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise RegistryError(f"registry index {path} is unreadable: {error}") from error
        if not (
            isinstance(index, dict)
            and isinstance(index.get("versions"), list)
            and isinstance(index.get("aliases"), dict)
        ):
            raise RegistryError(f"registry index {path} has no versions list and aliases map")
        return index

    def _write_index(self, index: dict[str, Any]) -> None:
        with tempfile.NamedTemporaryFile(
            "w", dir=self.home, suffix=".tmp", delete=False, encoding="utf-8"
        ) as handle:
            json.dump(index, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, self.home / INDEX_FILE)

    def _remove_leftovers(self, index: dict[str, Any]) -> None:
        """Folders a crashed writer left: staging folders and versions the index never got.

        Called with the lock held, so no live writer can own them.
        """
        known = {entry["version"] for entry in index["versions"]}
        for child in self.home.iterdir():
            numbered = VERSION_FOLDER.fullmatch(child.name)
            stale = child.name.startswith(STAGING_PREFIX) or (
                numbered is not None and int(numbered.group(1)) not in known
            )
            if stale and child.is_dir():
                logger.warning("removing {}, left by an interrupted registration", child)
                shutil.rmtree(child)
            elif child.suffix == ".tmp" and child.is_file():
                child.unlink()

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
        with self.lock():
            index = self._read_index()
            self._remove_leftovers(index)
            number = max((entry["version"] for entry in index["versions"]), default=0) + 1
            staging = self.home / f"{STAGING_PREFIX}{number:04d}-{uuid.uuid4().hex}"
            staging.mkdir()
            files = model.save(staging)
            (staging / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
            for name, source in attachments.items():
                shutil.copyfile(source, staging / name)
            if input_example is not None:
                # A few raw input rows: shows a caller what the model expects.
                input_example.to_json(
                    staging / "input_example.json", orient="records", date_format="iso", indent=2
                )
            entry = ModelVersion(
                name=self.name,
                version=number,
                metrics=metrics,
                metadata=metadata,
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            )
            sums = checksums(*files.values())
            staging.rename(self.version_dir(number))
            index["versions"].append({**asdict(entry), "sha256": sums})
            self._write_index(index)
        return entry

    def set_alias(self, alias: str, version: int) -> None:
        with self.lock():
            index = self._read_index()
            if not any(entry["version"] == version for entry in index["versions"]):
                raise LookupError(f"{self.name} has no version {version}")
            index["aliases"][alias] = version
            self._write_index(index)

    def delete_alias(self, alias: str) -> None:
        with self.lock():
            index = self._read_index()
            if index["aliases"].pop(alias, None) is not None:
                self._write_index(index)

    def record(self, event: AliasEvent) -> None:
        """Append to the index's ``history`` list, under the lock like every other write."""
        with self.lock():
            index = self._read_index()
            index.setdefault("history", []).append(event.as_dict())
            self._write_index(index)

    def history(self) -> list[AliasEvent]:
        entries = self._read_index().get("history", [])
        try:
            return [AliasEvent.from_dict(entry) for entry in entries]
        except (KeyError, TypeError, ValueError) as error:
            problem = f"registry index {self.home / INDEX_FILE} has an unreadable history: {error}"
            raise RegistryError(problem) from error

    def _entry(self, index: dict[str, Any], version: int) -> dict[str, Any]:
        for entry in index["versions"]:
            if entry.get("version") == version:
                return entry
        raise ModelLoadError(
            version, self.home / INDEX_FILE, f"{self.name} has no version {version} in the index"
        )

    def get_version(self, alias: str) -> ModelVersion | None:
        index = self._read_index()
        number = index["aliases"].get(alias)
        if number is None:
            return None
        try:
            return as_version(self._entry(index, number))
        except ModelLoadError as error:
            error.alias = alias
            raise

    def load(self, version: int) -> TripDurationModel:
        entry = self._entry(self._read_index(), version)
        folder = self.version_dir(version)
        return load_checked(
            folder / MODEL_FILE, folder / CONTRACT_FILE, entry.get("sha256") or {}, version
        )

    def versions(self) -> list[ModelVersion]:
        return [as_version(entry) for entry in self._read_index()["versions"]]


def as_version(entry: dict[str, Any]) -> ModelVersion:
    """An index entry as a ModelVersion (the index also keeps the files' checksums)."""
    return ModelVersion(**{key: value for key, value in entry.items() if key in VERSION_FIELDS})
