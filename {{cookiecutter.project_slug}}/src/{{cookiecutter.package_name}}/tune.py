"""Hyperparameter search with Optuna: seeded TPE over the ranges in settings, with pruning.

Each trial fits LightGBM on the training month and scores RMSE on the validation month. Early
stopping picks the number of trees (it is not searched), and a median pruner stops trials whose
validation RMSE, reported as trees are added, trails the other trials'. The best parameters are
written to ``training.params_file``, which ``train`` reads. Same data, settings and seed give the
same trials and the same result (unless ``timeout_seconds`` cuts the search short).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
{%- if cookiecutter.experiment_tracking == "mlflow" %}
import mlflow
{%- endif %}
import numpy as np
import optuna
from loguru import logger
from optuna.trial import FrozenTrial, TrialState

from .config import Settings, TuningSettings
from .data import DURATION, load_months
from .evaluate import regression_metrics
from .features import CATEGORICAL_INDICES, FEATURE_NAMES, feature_matrix
from .model import build_estimator
from .outputs import atomic_write
{%- if cookiecutter.experiment_tracking == "mlflow" %}
from .tracking import start_run
{%- endif %}

# Validation RMSE is reported to the pruner every this many trees.
REPORT_EVERY = 10
TrialCallback = Callable[[optuna.Study, FrozenTrial], None]


@dataclass(frozen=True)
class TuningResult:
    best_params: dict[str, float | int]
    best_rmse: float
    completed: int
    pruned: int
    params_file: Path


def suggest(trial: optuna.Trial, space: TuningSettings) -> dict[str, float | int]:
    """One point of the search space; scale parameters are searched on a log scale."""
    return {
        "learning_rate": trial.suggest_float("learning_rate", *space.learning_rate, log=True),
        "num_leaves": trial.suggest_int("num_leaves", *space.num_leaves, log=True),
        "min_child_samples": trial.suggest_int(
            "min_child_samples", *space.min_child_samples, log=True
        ),
        "subsample": trial.suggest_float("subsample", *space.subsample),
        "colsample_bytree": trial.suggest_float("colsample_bytree", *space.colsample_bytree),
        "reg_lambda": trial.suggest_float("reg_lambda", *space.reg_lambda, log=True),
    }


def pruning_callback(trial: optuna.Trial) -> Callable[[lgb.callback.CallbackEnv], None]:
    """Report the validation RMSE to Optuna as trees are added; stop the fit when told to prune."""

    def report(env: lgb.callback.CallbackEnv) -> None:
        step = env.iteration + 1
        if step % REPORT_EVERY:
            return
        results = env.evaluation_result_list or []
        rmse = next(result[2] for result in results if result[1] == "rmse")
        trial.report(rmse, step)
        if trial.should_prune():
            raise optuna.TrialPruned(f"validation RMSE {rmse:.4f} after {step} trees")

    return report


def make_objective(settings: Settings) -> Callable[[optuna.Trial], float]:
    """The function Optuna minimizes: validation RMSE of the model a trial's parameters give."""
    data, space = settings.data, settings.tuning
    train = load_months(data, data.train_months).trips
    val = load_months(data, data.val_months).trips
    # The same matrix and categorical columns as TripDurationModel.fit, so a trial's model is the
    # model `train` would ship with those parameters.
    x_train, y_train = feature_matrix(train), train[DURATION].to_numpy()
    x_val, y_val = feature_matrix(val), val[DURATION].to_numpy()

    def objective(trial: optuna.Trial) -> float:
        chosen = {**suggest(trial, space), "n_estimators": space.max_estimators}
        params = settings.training.model_copy(update=chosen)
        estimator = build_estimator(params, settings.seed).set_params(metric="rmse")
        estimator.fit(
            x_train,
            y_train,
            eval_X=(x_val,),
            eval_y=(y_val,),
            feature_name=list(FEATURE_NAMES),
            categorical_feature=list(CATEGORICAL_INDICES),
            callbacks=[
                lgb.early_stopping(space.early_stopping_rounds, verbose=False),
                pruning_callback(trial),
            ],
        )
        trees = estimator.best_iteration_ or space.max_estimators
        trial.set_user_attr("n_estimators", int(trees))
        # Scored as the shipped model scores: predictions clipped at zero minutes.
        predicted = np.clip(estimator.booster_.predict(x_val, num_iteration=trees), 0.0, None)
        return regression_metrics(y_val, predicted)["rmse"]

    return objective


def best_params(study: optuna.Study) -> dict[str, float | int]:
    """The best trial's parameters plus the number of trees early stopping chose for it."""
    best = study.best_trial
    return {**best.params, "n_estimators": best.user_attrs["n_estimators"]}


def log_trial(study: optuna.Study, trial: FrozenTrial) -> None:
    """One line per finished trial, for the console and the log file."""
    # A pruned trial's value is its last intermediate report, not a result: say so.
    value = f"RMSE {trial.value:.4f}" if trial.state == TrialState.COMPLETE else "stopped early"
    logger.info("trial {} {} {}: {}", trial.number, trial.state.name.lower(), value, trial.params)
{%- if cookiecutter.experiment_tracking == "mlflow" %}


def log_trial_run(study: optuna.Study, trial: FrozenTrial) -> None:
    """The trial as a run nested under the tuning run; the parent tracks the best so far."""
    parent = mlflow.active_run()
    experiment = None if parent is None else parent.info.experiment_id
    with mlflow.start_run(run_name=f"trial-{trial.number}", experiment_id=experiment, nested=True):
        mlflow.log_params({**trial.params, **trial.user_attrs})
        mlflow.set_tag("state", trial.state.name.lower())
        if trial.state == TrialState.COMPLETE and trial.value is not None:
            mlflow.log_metric("rmse", trial.value)
        for step, value in trial.intermediate_values.items():
            mlflow.log_metric("rmse_while_fitting", value, step=step)
    if any(t.state == TrialState.COMPLETE for t in study.trials):
        mlflow.log_metric("best_rmse", study.best_value, step=trial.number)
        mlflow.log_dict(best_params(study), "best_params.json")


@contextmanager
def tuning_run(settings: Settings) -> Iterator[list[TrialCallback]]:
    """A parent MLflow run for the search; each finished trial becomes a nested run."""
    with start_run(settings.registry, run_name="tune"):
        mlflow.log_params(
            {f"tuning.{key}": value for key, value in settings.tuning.model_dump().items()}
        )
        mlflow.log_params(
            {
                "train_month": settings.data.train_month,
                "val_month": settings.data.val_month,
                "seed": settings.seed,
            }
        )
        yield [log_trial, log_trial_run]
{%- else %}


@contextmanager
def tuning_run(settings: Settings) -> Iterator[list[TrialCallback]]:
    """Without experiment tracking, trials are only logged to the console and the log file."""
    yield [log_trial]
{%- endif %}


def run_tuning(settings: Settings) -> TuningResult:
    """Search, then write the best parameters where ``train`` picks them up."""
    space = settings.tuning
    seed = settings.seed if space.seed is None else space.seed
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=REPORT_EVERY * 5),
    )
    objective = make_objective(settings)
    with tuning_run(settings) as callbacks:
        study.optimize(
            objective, n_trials=space.n_trials, timeout=space.timeout_seconds, callbacks=callbacks
        )
    states = [trial.state for trial in study.trials]
    if TrialState.COMPLETE not in states:
        raise RuntimeError("no trial completed; widen the search space or raise n_trials")
    params = best_params(study)
    target = settings.training.params_file
    with atomic_write(target) as partial:
        partial.write_text(json.dumps(params, indent=2, sort_keys=True), encoding="utf-8")
    logger.info("best RMSE {:.4f} with {}, written to {}", study.best_value, params, target)
    return TuningResult(
        best_params=params,
        best_rmse=study.best_value,
        completed=states.count(TrialState.COMPLETE),
        pruned=states.count(TrialState.PRUNED),
        params_file=target,
    )
