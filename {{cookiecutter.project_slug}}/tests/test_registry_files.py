"""The file registry's own bookkeeping: numbered folders, the JSON index, aliases and their
history, and the leftovers of an interrupted writer (crashes under load are in test_registry.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.config import DataSettings, TrainingSettings
from {{ cookiecutter.package_name }}.data import load_month
from {{ cookiecutter.package_name }}.features import FEATURE_NAMES
from {{ cookiecutter.package_name }}.model import CONTRACT_FILE, MODEL_FILE, TripDurationModel
from {{ cookiecutter.package_name }}.registry_files import (
    INDEX_FILE,
    STAGING_PREFIX,
    FileRegistry,
)
from {{ cookiecutter.package_name }}.run_record import RECORD_FILE, RunRecord
from {{ cookiecutter.package_name }}.trip import DURATION
from {{ cookiecutter.package_name }}.versions import (
    CHALLENGER,
    CHAMPION,
    PROMOTE,
    AliasEvent,
    ModelLoadError,
    RegistryError,
)

from .helpers import SAMPLE_DIR

RECORD = RunRecord(
    trained_at="2026-11-27T10:00:00+00:00",
    train_month="2023-01",
    val_month="2023-02",
    train_months=["2023-01"],
    val_months=["2023-02"],
    inputs={},
    rows={},
    features=list(FEATURE_NAMES),
    params={},
    seed=42,
    git_commit=None,
    environment={},
    champion_rmse_before=None,
    promotion="registered by a test",
)


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[TripDurationModel, pd.DataFrame]:
    """A model of a few trees and the trips it was fitted on (registries here only store it)."""
    quarantine = tmp_path_factory.mktemp("quarantine")
    data = DataSettings(data_dir=SAMPLE_DIR, quarantine_dir=quarantine)
    trips = load_month(data, data.train_month).trips
    model = TripDurationModel.fit(trips, trips[DURATION], TrainingSettings(n_estimators=5), 42)
    return model, trips


@pytest.fixture
def registry(tmp_path: Path) -> FileRegistry:
    return FileRegistry(tmp_path / "models", "trips")


def index_of(registry: FileRegistry) -> dict:
    return json.loads((registry.home / INDEX_FILE).read_text(encoding="utf-8"))


def test_versions_are_numbered_folders_with_checksummed_files(registry: FileRegistry, small_model):
    model, trips = small_model
    first = registry.register(model, {"rmse": 6.0}, RECORD, attachments={})
    card = registry.home.parent / "model_card.md"
    card.write_text("# Card\n", encoding="utf-8")
    second = registry.register(model, {"rmse": 5.5}, RECORD, {"model_card.md": card}, trips[:2])
    assert (first.version, second.version) == (1, 2)
    stored = {MODEL_FILE, CONTRACT_FILE, RECORD_FILE, "metrics.json", "input_example.json"}
    assert {path.name for path in registry.version_dir(2).iterdir()} == stored | {"model_card.md"}
    entries = index_of(registry)["versions"]
    assert [entry["version"] for entry in entries] == [1, 2]
    assert set(entries[1]["sha256"]) == {MODEL_FILE, CONTRACT_FILE, RECORD_FILE}
    assert [version.metrics["rmse"] for version in registry.versions()] == [6.0, 5.5]
    assert registry.versions()[1].record == RECORD
    np.testing.assert_array_equal(registry.load(2).predict(trips), model.predict(trips))


def test_aliases_point_at_known_versions_only(registry: FileRegistry, small_model):
    model, _ = small_model
    assert registry.get_version(CHAMPION) is None  # a fresh registry: no index yet
    registry.register(model, {"rmse": 6.0}, RECORD, attachments={})
    registry.set_alias(CHAMPION, 1)
    registry.set_alias(CHALLENGER, 1)
    with pytest.raises(LookupError, match="trips has no version 7"):
        registry.set_alias(CHAMPION, 7)
    registry.delete_alias(CHALLENGER)
    registry.delete_alias(CHALLENGER)  # deleting an absent alias is no error
    assert index_of(registry)["aliases"] == {CHAMPION: 1}
    assert registry.get_version(CHAMPION).version == 1


def test_an_alias_to_a_version_the_index_lost_names_the_alias(registry: FileRegistry, small_model):
    model, _ = small_model
    registry.register(model, {"rmse": 6.0}, RECORD, attachments={})
    registry.set_alias(CHAMPION, 1)
    index = index_of(registry)
    index["versions"] = []
    (registry.home / INDEX_FILE).write_text(json.dumps(index), encoding="utf-8")
    with pytest.raises(ModelLoadError) as raised:
        registry.get_version(CHAMPION)
    assert str(raised.value).startswith("model 'champion' (version 1) cannot be loaded:")
    assert "trips has no version 1 in the index" in str(raised.value)


def test_the_history_is_appended_and_read_back(registry: FileRegistry):
    events = [
        AliasEvent(PROMOTE, CHAMPION, 2, 1, "by hand", "2026-11-27T10:00:00+00:00", {"by": "ops"}),
        AliasEvent(PROMOTE, CHAMPION, 3, 2, "again", "2026-11-27T11:00:00+00:00"),
    ]
    assert registry.history() == []
    for event in events:
        registry.record(event)
    assert registry.history() == events
    index = index_of(registry)
    index["history"].append({"alias": CHAMPION})
    (registry.home / INDEX_FILE).write_text(json.dumps(index), encoding="utf-8")
    with pytest.raises(RegistryError, match="has an unreadable history"):
        registry.history()


@pytest.mark.parametrize(
    ("content", "reason"),
    [("{not json", "is unreadable"), ('{"versions": {}}', "has no versions list and aliases map")],
)
def test_a_damaged_index_is_a_registry_error_naming_it(
    registry: FileRegistry, content: str, reason: str
):
    registry.home.mkdir(parents=True)
    (registry.home / INDEX_FILE).write_text(content, encoding="utf-8")
    with pytest.raises(RegistryError, match=f"registry index .*{INDEX_FILE} {reason}"):
        registry.versions()


def test_the_next_writer_removes_what_an_interrupted_one_left(registry: FileRegistry, small_model):
    model, _ = small_model
    registry.register(model, {"rmse": 6.0}, RECORD, attachments={})
    leftovers = [
        registry.home / f"{STAGING_PREFIX}0002-abc",  # died while writing the version
        registry.version_dir(2),  # died after the rename, before the index
    ]
    for folder in leftovers:
        folder.mkdir()
        (folder / MODEL_FILE).write_text("partial", encoding="utf-8")
    (registry.home / "tmpindex.tmp").write_text("{", encoding="utf-8")  # died writing the index
    version = registry.register(model, {"rmse": 5.0}, RECORD, attachments={})
    assert version.version == 2
    assert sorted(path.name for path in registry.home.iterdir()) == [
        ".lock",
        INDEX_FILE,
        "v0001",
        "v0002",
    ]
    assert registry.load(2).booster.num_trees() == model.booster.num_trees()
