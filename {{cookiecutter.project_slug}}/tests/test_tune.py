"""Tuning: seeded and reproducible, pruned, and its best parameters are what `train` then uses."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.config import ENV_PREFIX, Settings, TuningSettings
from {{ cookiecutter.package_name }}.data import load_month
from {{ cookiecutter.package_name }}.features import feature_matrix
from {{ cookiecutter.package_name }}.model import TUNABLE_PARAMS, build_estimator
from {{ cookiecutter.package_name }}.train import effective_params, fit_and_evaluate
from {{ cookiecutter.package_name }}.trip import DURATION
from {{ cookiecutter.package_name }}.tune import pruning_callback, run_tuning

pytestmark = pytest.mark.slow
# A small search so that the test takes seconds: few trials, few trees.
SMALL_SEARCH = TuningSettings(n_trials=3, max_estimators=80, early_stopping_rounds=10)


def small(settings: Settings) -> Settings:
    return settings.model_copy(update={"tuning": SMALL_SEARCH})


def test_seeded_search_is_reproducible_and_train_reproduces_its_best(settings: Settings):
    first = run_tuning(small(settings))
    written = json.loads(settings.training.params_file.read_text(encoding="utf-8"))
    second = run_tuning(small(settings))

    assert second.best_params == first.best_params == written
    assert second.best_rmse == first.best_rmse
    assert set(written) <= set(TUNABLE_PARAMS)
    assert 1 <= written["n_estimators"] <= SMALL_SEARCH.max_estimators
    assert first.completed + first.pruned == SMALL_SEARCH.n_trials

    params = effective_params(settings)
    assert {name: getattr(params, name) for name in written} == written
    train = load_month(settings.data, settings.data.train_month)
    val = load_month(settings.data, settings.data.val_month)
    metrics = fit_and_evaluate(train, val, params, settings.seed).metrics
    # Early stopping chose the tree count on the same data, so a fresh fit lands on the same RMSE.
    assert metrics["rmse"] == pytest.approx(first.best_rmse, rel=1e-9)

    other_seed = SMALL_SEARCH.model_copy(update={"seed": settings.seed + 1})
    elsewhere = run_tuning(settings.model_copy(update={"tuning": other_seed}))
    assert elsewhere.best_params != first.best_params


def test_a_trial_told_to_prune_stops_fitting(settings: Settings):
    trips = load_month(settings.data, settings.data.train_month).trips
    features, target = feature_matrix(trips), trips[DURATION].to_numpy()
    # A threshold no RMSE can meet: the pruner stops the trial at its first report.
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=1e-9))
    trial = study.ask()
    estimator = build_estimator(settings.training, settings.seed).set_params(
        metric="rmse", n_estimators=200
    )
    with pytest.raises(optuna.TrialPruned, match="after 10 trees"):
        estimator.fit(
            features,
            target,
            eval_X=(features,),
            eval_y=(target,),
            callbacks=[pruning_callback(trial)],
        )
    assert list(study.trials[0].intermediate_values) == [10]


def test_tune_command_writes_the_params_train_reads(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv(f"{ENV_PREFIX}TUNING__MAX_ESTIMATORS", "60")
    monkeypatch.setenv(f"{ENV_PREFIX}TUNING__EARLY_STOPPING_ROUNDS", "10")
    result = CliRunner().invoke(app, ["tune", "--n-trials", "2"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[: result.stdout.rindex("}") + 1])
    written = json.loads((isolated_env / "best_params.json").read_text(encoding="utf-8"))
    assert summary["best_params"] == written
    assert summary["completed"] + summary["pruned"] == 2


def test_two_workers_share_one_study_on_a_storage(settings: Settings, tmp_path: Path):
    """`--workers 2`: a spawned worker beside this process; both take trials of one study."""
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    space = SMALL_SEARCH.model_copy(update={"n_trials": 4, "workers": 2, "storage": storage})
    result = run_tuning(settings.model_copy(update={"tuning": space}))

    study = optuna.load_study(study_name=result.study_name, storage=storage)
    workers = {trial.user_attrs["worker"] for trial in study.trials}
    assert len(workers) == 2
    # Each worker stops once the study has the budget; one may be finishing a trial then.
    assert 4 <= result.completed + result.pruned == len(study.trials) <= 5
    assert result.failed == 0
    assert json.loads(settings.training.params_file.read_text(encoding="utf-8")) == (
        result.best_params
    )

    alone = space.model_copy(update={"workers": 1})
    again = run_tuning(settings.model_copy(update={"tuning": alone}))
    # A worker that joins a study which already has its budget adds no trial.
    joined = optuna.load_study(study_name=result.study_name, storage=storage)
    assert len(joined.trials) == len(study.trials)
    assert again.best_params == result.best_params


def test_parallel_workers_without_a_storage_are_refused(isolated_env: Path):
    result = CliRunner().invoke(app, ["tune", "--workers", "2"])
    assert result.exit_code == 2
    assert f"{ENV_PREFIX}TUNING: " in result.stderr
    assert "TUNING__STORAGE" in result.stderr
{%- if cookiecutter.experiment_tracking == "mlflow" %}


def test_each_trial_is_a_nested_run(settings: Settings):
    from mlflow.tracking import MlflowClient  # noqa: PLC0415 - only this test reads the store

    result = run_tuning(small(settings))
    client = MlflowClient(settings.registry.tracking_uri)
    experiment = client.get_experiment_by_name(settings.registry.experiment_name)
    runs = client.search_runs([experiment.experiment_id])
    parents = [run for run in runs if run.info.run_name == "tune"]
    assert len(parents) == 1
    children = [
        run for run in runs if run.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id
    ]
    assert sorted(run.info.run_name for run in children) == ["trial-0", "trial-1", "trial-2"]
    assert parents[0].data.metrics["best_rmse"] == pytest.approx(result.best_rmse)
{%- endif %}
