from __future__ import annotations

import os
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.config import (
    ENV_PREFIX,
    SettingsError,
    TrainingSettings,
    load_settings,
    usable_cpus,
)


def test_defaults_point_at_the_bundled_sample(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.data.data_dir == Path("data/sample")
    assert (settings.data.train_month, settings.data.val_month) == ("2023-01", "2023-02")
    assert settings.seed == 42


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(f"{ENV_PREFIX}DATA__TRAIN_MONTH", "2024-03")
    monkeypatch.setenv(f"{ENV_PREFIX}TRAINING__N_ESTIMATORS", "17")
    settings = load_settings()
    assert settings.data.train_month == "2024-03"
    assert settings.training.n_estimators == 17


def test_dotenv_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(f"{ENV_PREFIX}SEED=7\n", encoding="utf-8")
    assert load_settings().seed == 7


@pytest.mark.parametrize(
    ("name", "value", "mentioned"),
    [
        ("DATA__TRAIN_MONTH", "2023-13", "DATA__TRAIN_MONTH"),
        ("TRAINING__LEARNING_RATE", "-1", "TRAINING__LEARNING_RATE"),
        ("LOGGING__LEVEL", "LOUD", "LOGGING__LEVEL"),
        ("SEED", "many", "SEED"),
    ],
)
def test_invalid_values_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str, mentioned: str
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(f"{ENV_PREFIX}{name}", value)
    with pytest.raises(SettingsError, match=f"{ENV_PREFIX}{mentioned}"):
        load_settings()
{%- if cookiecutter.serving == "fastapi" %}


def test_reload_needs_a_token_and_keeps_it_out_of_the_settings_repr(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(f"{ENV_PREFIX}SERVING__RELOAD_ENABLED", "true")
    with pytest.raises(SettingsError, match="SERVING__RELOAD_TOKEN"):
        load_settings()
    token = "a-token-for-this-test-only"  # pragma: allowlist secret
    monkeypatch.setenv(f"{ENV_PREFIX}SERVING__RELOAD_TOKEN", token)
    settings = load_settings()
    assert settings.serving.reload_token is not None
    assert settings.serving.reload_token.get_secret_value() == token
    assert token not in repr(settings)
{%- endif %}


@pytest.mark.parametrize("value", ["", "none"])
def test_no_scheduler_address_means_local(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str
):
    monkeypatch.chdir(tmp_path)
    assert load_settings().dask.scheduler_address is None
    monkeypatch.setenv(f"{ENV_PREFIX}DASK__SCHEDULER_ADDRESS", value)
    assert load_settings().dask.scheduler_address is None
    monkeypatch.setenv(f"{ENV_PREFIX}DASK__SCHEDULER_ADDRESS", "tcp://10.0.0.5:8786")
    assert load_settings().dask.scheduler_address == "tcp://10.0.0.5:8786"


def test_the_default_thread_count_is_the_usable_cpus_whatever_the_load(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(os, "getloadavg", lambda: (64.0, 64.0, 64.0))
    assert TrainingSettings().n_jobs == usable_cpus() >= 1
