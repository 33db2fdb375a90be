"""A registered model's files: the checksums recorded at registration decide whether they load."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.artifacts import checksums, load_checked, read_checked
from {{ cookiecutter.package_name }}.config import DataSettings, TrainingSettings
from {{ cookiecutter.package_name }}.data import load_month
from {{ cookiecutter.package_name }}.model import CONTRACT_FILE, MODEL_FILE, TripDurationModel
from {{ cookiecutter.package_name }}.trip import DURATION
from {{ cookiecutter.package_name }}.versions import ModelLoadError

from .helpers import SAMPLE_DIR


@pytest.fixture
def saved(tmp_path: Path) -> tuple[TripDurationModel, pd.DataFrame, dict[str, Path]]:
    """A model of a few trees, its training trips, and its two files as a registry stores them."""
    data = DataSettings(data_dir=SAMPLE_DIR, quarantine_dir=tmp_path / "quarantine")
    trips = load_month(data, data.train_month).trips
    model = TripDurationModel.fit(trips, trips[DURATION], TrainingSettings(n_estimators=5), 42)
    folder = tmp_path / "v0001"
    folder.mkdir()
    return model, trips, model.save(folder)


def test_checksums_are_the_sha256_of_each_file_by_name(tmp_path: Path):
    first, second = tmp_path / "a.txt", tmp_path / "b.json"
    first.write_bytes(b"trees")
    second.write_bytes(b"{}")
    assert checksums(first, second) == {
        "a.txt": hashlib.sha256(b"trees").hexdigest(),
        "b.json": hashlib.sha256(b"{}").hexdigest(),
    }


def test_an_unchanged_file_reads_back_whole(tmp_path: Path):
    path = tmp_path / MODEL_FILE
    path.write_bytes(b"tree=0\n")
    assert read_checked(path, checksums(path), version=3) == b"tree=0\n"


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("changed", r"sha256 [0-9a-f]{12}\.\.\. differs from [0-9a-f]{12}\.\.\. recorded"),
        ("missing", "the file is missing"),
        ("unrecorded", "no sha256 was recorded for it at registration: retrain to replace it"),
        ("a folder", r"unreadable \(Is a directory\)"),
    ],
)
def test_a_file_that_is_not_as_registered_names_the_version_file_and_reason(
    tmp_path: Path, damage: str, reason: str
):
    path = tmp_path / MODEL_FILE
    path.write_bytes(b"tree=0\n")
    recorded = checksums(path)
    if damage == "changed":
        path.write_bytes(b"tree=1\n")
    elif damage == "missing":
        path.unlink()
    elif damage == "unrecorded":
        recorded = {}
    else:
        path.unlink()
        path.mkdir()
    with pytest.raises(ModelLoadError, match=reason) as raised:
        read_checked(path, recorded, version=3)
    assert raised.value.version == 3
    assert raised.value.path == path
    assert str(raised.value).startswith(f"model version 3 cannot be loaded: {path}: ")


def test_files_as_registered_load_the_same_model(saved):
    model, trips, files = saved
    loaded = load_checked(files[MODEL_FILE], files[CONTRACT_FILE], checksums(*files.values()), 1)
    np.testing.assert_array_equal(loaded.predict(trips), model.predict(trips))


def test_a_contract_rewritten_with_its_checksum_still_names_the_contract(saved):
    """A valid checksum does not make a file valid: the parser's reason names the right file."""
    _, _, files = saved
    contract = json.loads(files[CONTRACT_FILE].read_text(encoding="utf-8"))
    contract["feature_names"] = ["something", "else"]
    files[CONTRACT_FILE].write_text(json.dumps(contract), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="another feature pipeline") as raised:
        load_checked(files[MODEL_FILE], files[CONTRACT_FILE], checksums(*files.values()), 2)
    assert raised.value.path == files[CONTRACT_FILE]


def test_a_model_file_rewritten_with_its_checksum_still_names_the_model_file(saved):
    _, _, files = saved
    files[MODEL_FILE].write_text("not trees", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="not a LightGBM text model") as raised:
        load_checked(files[MODEL_FILE], files[CONTRACT_FILE], checksums(*files.values()), 2)
    assert raised.value.path == files[MODEL_FILE]
