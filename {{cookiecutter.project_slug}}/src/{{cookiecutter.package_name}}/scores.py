"""Validation scores of registered versions, kept by version and validation-data fingerprint.

Scoring the champion means predicting every validation row again; on month-scale data that pass
costs as much as the fit. A retraining on unchanged validation data reuses the score instead. A
miss (no file, a damaged file, a score dropped as too old) only costs that one prediction pass.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from .config import DataSettings
from .outputs import atomic_write
from .versions import ModelVersion

SCORES_FILE = "validation_scores.json"
# Scores of older versions are dropped beyond this many.
MAX_CACHED_SCORES = 200


def validation_fingerprint(data: DataSettings, sha256_by_month: dict[str, str]) -> str:
    """What decides the validation rows: the files' checksums and the cleaning settings."""
    facts = {
        "files": [sha256_by_month[month] for month in data.val_months],
        "min_duration_minutes": data.min_duration_minutes,
        "max_duration_minutes": data.max_duration_minutes,
        "pickups_in_month_only": data.pickups_in_month_only,
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class ScoreCache:
    """RMSEs on one validation set (``fingerprint``), in a JSON file shared by runs."""

    path: Path
    fingerprint: str

    def key(self, version: ModelVersion) -> str:
        # created_at tells apart two registries that reuse version numbers (a wiped store).
        return f"{version.name}/{version.version}/{version.created_at}/{self.fingerprint}"

    def get(self, version: ModelVersion) -> float | None:
        known = self._read().get(self.key(version))
        return None if known is None else float(known)

    def put(self, version: ModelVersion, rmse: float) -> None:
        """Add one score, written atomically (temp name, then rename)."""
        scores = self._read()
        key = self.key(version)
        scores.pop(key, None)
        scores[key] = rmse
        kept = dict(list(scores.items())[-MAX_CACHED_SCORES:])
        with atomic_write(self.path) as partial:
            partial.write_text(json.dumps(kept, indent=2), encoding="utf-8")

    def _read(self) -> dict[str, float]:
        try:
            scores = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # no cache yet, or a damaged one: scoring again is always correct
        return scores if isinstance(scores, dict) else {}
