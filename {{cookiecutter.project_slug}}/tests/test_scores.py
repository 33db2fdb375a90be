"""The validation-score cache: a score is reused only for the same version on the same rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }} import scores
from {{ cookiecutter.package_name }}.config import DataSettings
from {{ cookiecutter.package_name }}.scores import SCORES_FILE, ScoreCache, validation_fingerprint
from {{ cookiecutter.package_name }}.versions import ModelVersion

CHECKSUMS = {"2023-01": "a" * 64, "2023-02": "b" * 64, "2024-01": "c" * 64}


def version(number: int, created_at: str = "2026-11-27T10:00:00") -> ModelVersion:
    return ModelVersion(name="trips", version=number, metrics={}, created_at=created_at)


def test_the_fingerprint_follows_the_validation_files_and_the_cleaning_settings():
    data = DataSettings(train_month="2023-01", val_month="2023-02")
    fingerprint = validation_fingerprint(data, CHECKSUMS)
    assert validation_fingerprint(data, dict(CHECKSUMS)) == fingerprint
    # The training months do not decide the validation rows.
    other_train = data.model_copy(update={"train_month": "2024-01"})
    assert validation_fingerprint(other_train, CHECKSUMS) == fingerprint
    in_month_only = {"pickups_in_month_only": not data.pickups_in_month_only}
    changed = [
        validation_fingerprint(data, {**CHECKSUMS, "2023-02": "d" * 64}),
        validation_fingerprint(data.model_copy(update={"val_month": "2024-01"}), CHECKSUMS),
        validation_fingerprint(data.model_copy(update={"min_duration_minutes": 2.0}), CHECKSUMS),
        validation_fingerprint(data.model_copy(update={"max_duration_minutes": 90.0}), CHECKSUMS),
        validation_fingerprint(data.model_copy(update=in_month_only), CHECKSUMS),
    ]
    assert len({fingerprint, *changed}) == 1 + len(changed)


def test_a_score_is_found_again_by_another_run_on_the_same_rows(tmp_path: Path):
    path = tmp_path / SCORES_FILE
    ScoreCache(path, "rows-1").put(version(1), 6.25)
    assert ScoreCache(path, "rows-1").get(version(1)) == 6.25
    assert ScoreCache(path, "rows-2").get(version(1)) is None  # other validation rows
    assert ScoreCache(path, "rows-1").get(version(2)) is None
    # The same number in a wiped and refilled registry is another model.
    assert ScoreCache(path, "rows-1").get(version(1, created_at="2026-12-01T08:00:00")) is None


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b"[6.25]", b"\xff\xfe"],
    ids=["empty", "not json", "a list", "not utf-8"],
)
def test_a_missing_or_damaged_file_is_a_miss_then_rewritten(tmp_path: Path, content: bytes):
    path = tmp_path / SCORES_FILE
    cache = ScoreCache(path, "rows")
    assert cache.get(version(1)) is None  # no file yet
    path.write_bytes(content)
    assert cache.get(version(1)) is None
    cache.put(version(1), 5.5)
    assert json.loads(path.read_text(encoding="utf-8")) == {cache.key(version(1)): 5.5}


def test_the_oldest_scores_are_dropped_beyond_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(scores, "MAX_CACHED_SCORES", 3)
    cache = ScoreCache(tmp_path / SCORES_FILE, "rows")
    for number in (1, 2, 3):
        cache.put(version(number), float(number))
    cache.put(version(1), 1.5)  # scored again: now the newest
    cache.put(version(4), 4.0)
    assert [cache.get(version(number)) for number in (1, 2, 3, 4)] == [1.5, None, 3.0, 4.0]
    assert sorted(path.name for path in tmp_path.iterdir()) == [SCORES_FILE]
