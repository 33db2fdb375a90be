"""MLflow wiring: the project's store and experiment, parameter names MLflow accepts, no credentials
in MLflow's own log lines."""

from __future__ import annotations

import logging
from pathlib import Path

import mlflow

from {{ cookiecutter.package_name }}.config import RegistrySettings
from {{ cookiecutter.package_name }}.tracking import (
    MAX_PARAM_LENGTH,
    CredentialFilter,
    client_for,
    experiment_id,
    filter_standard_logging,
    flatten,
    local_artifact_location,
    start_run,
)

from .helpers import mlflow_store


def store_settings(root: Path) -> RegistrySettings:
    return RegistrySettings(models_dir=root / "models", tracking_uri=mlflow_store(root))


def test_nested_facts_become_valid_parameter_names():
    flat = flatten({"rows": {"quarantined": {"time missing, or (bad)": 3}}, "months": ["a", "b"]})
    assert flat == {"rows.quarantined.time missing_ or _bad_": "3", "months": '["a", "b"]'}


def test_values_are_json_and_too_long_ones_are_cut_to_what_mlflow_accepts():
    too_long = "x" * (MAX_PARAM_LENGTH + 10)
    flat = flatten({"rate": 0.5, "early": True, "none": None, "long": too_long})
    assert flat == {"rate": "0.5", "early": "true", "none": "null", "long": "x" * MAX_PARAM_LENGTH}


def test_artifacts_stay_beside_an_embedded_store(tmp_path: Path):
    location = local_artifact_location(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert location == (tmp_path / "mlartifacts").as_uri()
    assert local_artifact_location("http://mlflow.example.com") is None


def test_the_experiment_is_created_once_with_artifacts_beside_the_store(tmp_path: Path):
    settings = store_settings(tmp_path)
    first = experiment_id(settings)
    assert experiment_id(settings) == first
    experiment = client_for(settings).get_experiment(first)
    assert experiment.name == settings.experiment_name
    assert experiment.artifact_location == (tmp_path / "mlartifacts").as_uri()
    # The fluent API, which logging models uses, now points at this store too.
    assert mlflow.get_tracking_uri() == settings.tracking_uri


def test_runs_go_to_the_project_experiment_and_nest_under_the_active_one(tmp_path: Path):
    settings = store_settings(tmp_path)
    with start_run(settings, "outer") as outer, start_run(settings, "inner", nested=True) as inner:
        outer_id, inner_id = outer.info.run_id, inner.info.run_id
    client = client_for(settings)
    runs = {run.info.run_name: run for run in client.search_runs([experiment_id(settings)])}
    assert set(runs) == {"outer", "inner"}
    assert runs["outer"].info.run_id == outer_id
    assert runs["inner"].data.tags["mlflow.parentRunId"] == outer_id
    assert runs["inner"].info.run_id == inner_id
    assert mlflow.active_run() is None


def test_mlflow_log_lines_lose_the_credentials_of_a_uri():
    record = logging.LogRecord(
        "mlflow", logging.INFO, __file__, 1, "run at %s", ("http://a:b@h",), None
    )
    assert CredentialFilter().filter(record)
    assert record.getMessage() == "run at http://***@h"
    untouched = logging.LogRecord("mlflow", logging.INFO, __file__, 1, "run %s", ("7",), None)
    assert CredentialFilter().filter(untouched)
    assert (untouched.msg, untouched.args) == ("run %s", ("7",))


def test_every_handler_gets_the_filter_once():
    handler = logging.NullHandler()
    logging.getLogger("mlflow").addHandler(handler)
    try:
        filter_standard_logging()
        filter_standard_logging()
        assert [type(found) for found in handler.filters] == [CredentialFilter]
    finally:
        logging.getLogger("mlflow").removeHandler(handler)
