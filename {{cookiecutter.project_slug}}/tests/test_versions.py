"""What registries record: load errors an operator can act on, exit codes, alias history entries."""

from __future__ import annotations

from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.versions import (
    CHAMPION,
    PROMOTE,
    TRAIN,
    AliasConflictError,
    AliasEvent,
    ModelLoadError,
    NoModelError,
    RegistryError,
    RegistryUnavailableError,
)


def test_a_load_error_is_one_line_naming_the_alias_version_and_file():
    error = ModelLoadError(4, Path("models/v0004/model.txt"), "the file is missing")
    assert str(error) == (
        "model version 4 cannot be loaded: models/v0004/model.txt: the file is missing"
    )
    error.alias = CHAMPION  # the registry adds the alias once it knows which one was asked for
    assert str(error) == (
        "model 'champion' (version 4) cannot be loaded: models/v0004/model.txt: the file is missing"
    )


def test_each_failure_has_the_exit_code_scripts_can_tell_apart():
    assert RegistryError.exit_code == 6
    assert ModelLoadError(1, "x", "y").exit_code == 6
    assert AliasConflictError().exit_code == 6
    # A server that cannot be reached may answer later: another code, so a scheduler can retry.
    assert RegistryUnavailableError.exit_code == 7
    # No model yet is a normal state, not a registry failure.
    assert not issubclass(NoModelError, RegistryError)


def test_an_alias_event_round_trips_through_its_stored_form():
    event = AliasEvent(
        action=PROMOTE,
        alias=CHAMPION,
        version=5,
        previous=3,
        reason="better by 0.4 minutes",
        at="2026-11-27T10:00:00+00:00",
        evidence={"rmse": 5.9, "by": "ops"},
    )
    stored = event.as_dict()
    assert AliasEvent.from_dict(stored) == event
    stored["evidence"]["rmse"] = 0.0
    assert event.evidence["rmse"] == 5.9  # the stored form is a copy


def test_an_event_from_a_hand_edited_or_older_file_reads_with_defaults():
    event = AliasEvent.from_dict(
        {"action": TRAIN, "alias": CHAMPION, "version": "2", "previous": None, "evidence": [1]}
    )
    assert event == AliasEvent(TRAIN, CHAMPION, 2, None, reason="", at="", evidence={})
    with pytest.raises(KeyError):
        AliasEvent.from_dict({"alias": CHAMPION, "version": 1})
