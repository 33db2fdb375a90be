"""The run record: created by training, stored with the version, read back typed and checked.

A version registered without a record (by an earlier release of the project) has none, or the
record its untyped facts make; a record changed after registration is refused like a model file.
"""

from __future__ import annotations

{% if cookiecutter.experiment_tracking == "none" -%}
import json
{% endif -%}
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.registry import ModelRegistry, open_registry
{%- if cookiecutter.experiment_tracking == "mlflow" %}
from {{ cookiecutter.package_name }}.registry_mlflow import SHA256_TAG
{%- else %}
from {{ cookiecutter.package_name }}.registry_files import INDEX_FILE, FileRegistry
{%- endif %}
from {{ cookiecutter.package_name }}.run_record import (
{%- if cookiecutter.experiment_tracking == "mlflow" %}
    LEGACY_RECORD_FILE,
{%- endif %}
    RECORD_FILE,
    RunRecord,
    RunRecordError,
    legacy_record,
    parse_record,
)
from {{ cookiecutter.package_name }}.train import TrainingResult
from {{ cookiecutter.package_name }}.versions import CHAMPION, ModelLoadError, ModelVersion


def test_a_stored_record_that_is_not_one_names_its_origin_and_field():
    expected = r"somewhere: not a run record \(trained_at: Field required\)"
    with pytest.raises(RunRecordError, match=expected):
        parse_record('{"seed": "many"}', "somewhere")
    assert legacy_record({"note": "hand-made"}) is None
    assert legacy_record(None) is None


@pytest.fixture
def registered(
    trained: tuple[Settings, TrainingResult], settings: Settings
) -> tuple[ModelRegistry, ModelVersion, RunRecord]:
    """A fresh registry (not the shared one) with the trained model registered as version 1."""
    trained_settings, result = trained
    assert result.version.record is not None
    model = open_registry(trained_settings).load(result.version.version)
    registry = open_registry(settings)
    record = result.version.record.model_copy(update={"promotion": "registered by a test"})
    version = registry.register(model, {"rmse": 5.0}, record, attachments={})
    registry.set_alias(CHAMPION, version.version)
    return registry, version, record


def stored_record(registry: ModelRegistry, version: ModelVersion) -> Path:
    """Where the registry keeps the version's record on disk."""
{%- if cookiecutter.experiment_tracking == "mlflow" %}
    from urllib.parse import urlparse  # noqa: PLC0415

    run = registry.client.get_run(version.run_id)  # type: ignore[attr-defined]
    return Path(urlparse(run.info.artifact_uri).path) / RECORD_FILE
{%- else %}
    assert isinstance(registry, FileRegistry)
    return registry.version_dir(version.version) / RECORD_FILE
{%- endif %}


def forget_the_record(registry: ModelRegistry, version: ModelVersion, facts: object) -> None:
    """Make the version look like one an earlier release registered, with untyped ``facts``."""
{%- if cookiecutter.experiment_tracking == "mlflow" %}
    client = registry.client  # type: ignore[attr-defined]
    client.delete_model_version_tag(version.name, str(version.version), SHA256_TAG + RECORD_FILE)
    if facts is not None:
        client.log_dict(version.run_id, facts, LEGACY_RECORD_FILE)
{%- else %}
    assert isinstance(registry, FileRegistry)
    index_file = registry.home / INDEX_FILE
    index = json.loads(index_file.read_text(encoding="utf-8"))
    entry = index["versions"][version.version - 1]
    del entry["sha256"][RECORD_FILE]
    if facts is not None:
        entry["metadata"] = facts  # what earlier releases kept in the index
    index_file.write_text(json.dumps(index), encoding="utf-8")
    (registry.version_dir(version.version) / RECORD_FILE).unlink()
{%- endif %}


@pytest.mark.slow
def test_the_record_round_trips_typed_through_the_registry(registered):
    registry, version, record = registered
    assert version.record == record
    champion = registry.get_version(CHAMPION)
    assert isinstance(champion.record, RunRecord)
    assert champion.record == record
    assert [listed.record for listed in registry.versions()] == [record]
    assert RunRecord.model_validate_json(stored_record(registry, version).read_text()) == record


@pytest.mark.slow
def test_a_changed_record_is_refused_naming_the_version_and_the_file(registered):
    registry, version, record = registered
    path = stored_record(registry, version)
    path.write_text(record.model_copy(update={"seed": 7}).model_dump_json(), encoding="utf-8")
    with pytest.raises(ModelLoadError, match=rf"'{CHAMPION}' \(version 1\).*{RECORD_FILE}.*sha256"):
        registry.get_version(CHAMPION)


@pytest.mark.slow
def test_a_version_from_an_earlier_release_reads_its_facts_or_has_no_record(registered):
    registry, version, record = registered
    bare = registry.register(registry.load(version.version), {"rmse": 6.0}, record, attachments={})
    forget_the_record(registry, version, record.model_dump(mode="json"))
    forget_the_record(registry, bare, None)
    assert registry.get_version(CHAMPION).record == record
    registry.set_alias(CHAMPION, bare.version)
    assert registry.get_version(CHAMPION).record is None
    assert registry.load(bare.version).feature_names  # the model itself still loads
{%- if cookiecutter.serving == "fastapi" %}


@pytest.mark.slow
def test_the_service_describes_a_version_without_a_record_with_nulls(registered, settings):
    from fastapi.testclient import TestClient  # noqa: PLC0415

    from {{ cookiecutter.package_name }}.serving.app import create_app  # noqa: PLC0415

    registry, version, _ = registered
    forget_the_record(registry, version, None)
    with TestClient(create_app(settings)) as client:
        described = client.get("/model")
    assert described.status_code == 200
    body = described.json()
    assert (body["version"], body["train_month"], body["val_month"]) == (1, None, None)
    assert body["trained_at"]  # the registry's creation time stands in
{%- endif %}
