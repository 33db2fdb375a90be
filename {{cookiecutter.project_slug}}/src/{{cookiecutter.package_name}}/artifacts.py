"""A registered model's files: checksums recorded at registration and checked before loading.

Every registry stores the same two files (the booster in LightGBM's text format, and
``model.CONTRACT_FILE``) and a sha256 of each. A file that was changed after registration is
refused before any parser reads it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .model import CONTRACT_FILE, ModelFileError, TripDurationModel
from .provenance import sha256_of
from .versions import ModelLoadError


def checksums(*paths: Path) -> dict[str, str]:
    """File name -> sha256, as recorded with a version."""
    return {path.name: sha256_of(path) for path in paths}


def read_checked(path: Path, recorded: dict[str, str], version: int) -> bytes:
    """The file's bytes, if their sha256 is the one recorded for its name at registration."""
    expected = recorded.get(path.name)
    if not expected:
        raise ModelLoadError(
            version, path, "no sha256 was recorded for it at registration: retrain to replace it"
        )
    try:
        content = path.read_bytes()
    except FileNotFoundError as error:
        raise ModelLoadError(version, path, "the file is missing") from error
    except OSError as error:
        raise ModelLoadError(version, path, f"unreadable ({error.strerror})") from error
    found = hashlib.sha256(content).hexdigest()
    if found != expected:
        raise ModelLoadError(
            version,
            path,
            f"sha256 {found[:12]}... differs from {expected[:12]}... recorded at registration "
            "(the file was changed or replaced): restore it or retrain",
        )
    return content


def load_checked(
    model_file: Path, contract_file: Path, recorded: dict[str, str], version: int
) -> TripDurationModel:
    """The model from files that match their recorded checksums; ModelLoadError otherwise."""
    model_text = read_checked(model_file, recorded, version)
    contract_text = read_checked(contract_file, recorded, version)
    try:
        return TripDurationModel.from_bytes(model_text, contract_text)
    except ModelFileError as error:
        path = contract_file if error.role == CONTRACT_FILE else model_file
        raise ModelLoadError(version, path, error.reason) from error
