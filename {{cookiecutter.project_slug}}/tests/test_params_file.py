"""params.yaml, the DVC pipeline's parameters, is a layer of the settings and stays true to them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from {{ cookiecutter.package_name }}.config import ENV_PREFIX, PARAMS_FILE, Settings, load_settings

from .helpers import PROJECT_ROOT

PARAMS = yaml.safe_load((PROJECT_ROOT / PARAMS_FILE).read_text(encoding="utf-8"))
# Sections only dvc.yaml reads; the settings ignore them.
PIPELINE_ONLY = {"pipeline"}


def test_params_file_is_read_below_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / PARAMS_FILE).write_text(
        "seed: 7\ndata:\n  train_month: '2023-05'\ntraining:\n  n_estimators: 12\n",
        encoding="utf-8",
    )
    settings = load_settings()
    assert (settings.seed, settings.data.train_month) == (7, "2023-05")
    assert settings.training.n_estimators == 12
    assert settings.data.val_month == "2023-02"  # not in the file: the default in code
    monkeypatch.setenv(f"{ENV_PREFIX}TRAINING__N_ESTIMATORS", "30")
    assert load_settings().training.n_estimators == 30


def test_an_invalid_value_in_the_params_file_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / PARAMS_FILE).write_text("data:\n  val_month: 2023-13\n", encoding="utf-8")
    with pytest.raises(ValueError, match=f"{ENV_PREFIX}DATA__VAL_MONTH"):
        load_settings()


def test_every_parameter_is_a_setting():
    defaults = Settings.model_fields
    for section, values in PARAMS.items():
        if section in PIPELINE_ONLY:
            continue
        assert section in defaults, section
        if isinstance(values, dict):
            fields = defaults[section].annotation.model_fields
            assert set(values) <= set(fields), set(values) - set(fields)


def test_training_parameters_are_the_defaults_in_code():
    """The pipeline trains the model the code describes, unless someone changes params.yaml."""
    assert PARAMS["seed"] == Settings.model_fields["seed"].default
    training = Settings.model_fields["training"].default
    for name, value in PARAMS["training"].items():
        assert getattr(training, name) == value, name
