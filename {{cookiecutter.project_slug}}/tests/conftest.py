"""Shared fixtures: settings that write only into temporary folders, and one trained model."""

from __future__ import annotations

from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.train import TrainingResult, run_training

from .helpers import isolated_environment, isolated_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return isolated_settings(tmp_path)


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the environment-read settings at ``tmp_path``, away from any ``.env``."""
    monkeypatch.chdir(tmp_path)
    for name, value in isolated_environment(tmp_path).items():
        monkeypatch.setenv(name, value)
    return tmp_path


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, TrainingResult]:
    """One model trained on the bundled sample, shared by the tests that only read it."""
    settings = isolated_settings(tmp_path_factory.mktemp("trained"))
    return settings, run_training(settings)
