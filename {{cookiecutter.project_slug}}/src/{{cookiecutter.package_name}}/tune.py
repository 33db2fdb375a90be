"""Hyperparameter search with Optuna: seeded TPE over the ranges in settings, with pruning.

Each trial fits LightGBM on the training month and scores RMSE on the validation month. Early
stopping picks the number of trees (it is not searched), and a median pruner stops trials whose
validation RMSE, reported as trees are added, trails the other trials'. The best parameters are
written to ``training.params_file``, which ``train`` reads. Same data, settings and seed give the
same trials and the same result (unless ``timeout_seconds`` cuts the search short).

In parallel: with ``tuning.storage`` (an RDB URL, PostgreSQL for a team) the study lives in that
database under its name, ``tune --workers N`` runs N processes on this machine, and every machine
that runs ``tune`` with the same storage and name joins the same study; ``n_trials`` is then the
study's budget over all workers. Workers send Optuna's heartbeats, so the trial of a worker that
died (killed, out of memory, machine lost) is marked failed by the next worker to start a trial,
and never counts as a result. A parallel search depends on timing, so it is not reproducible.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import socket
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Barrier
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
from .data import load_months
from .evaluate import regression_metrics
from .features import CATEGORICAL_INDICES, FEATURE_NAMES, feature_matrix
from .logs import setup_logging
from .model import build_estimator
from .outputs import atomic_write
from .progress import progress_bar, set_quiet
{%- if cookiecutter.experiment_tracking == "mlflow" %}
from .tracking import client_for, start_run
{%- endif %}
from .trip import DURATION

# Validation RMSE is reported to the pruner every this many trees.
REPORT_EVERY = 10
# What counts against the budget: a failed trial (its worker died) is not a result.
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
# How long workers on one machine wait for each other to load the data before starting anyway.
STARTUP_TIMEOUT_SECONDS = 300
TrialCallback = Callable[[optuna.Study, FrozenTrial], None]


@dataclass(frozen=True)
class TuningResult:
    best_params: dict[str, float | int]
    best_rmse: float
    completed: int
    pruned: int
    failed: int
    study_name: str
    params_file: Path


def study_name_of(settings: Settings) -> str:
    """The configured name, else one per model and months: other data means another study."""
    data = settings.data
    default = f"{settings.training.model_name}-{data.train_month}-{data.val_month}"
    return settings.tuning.study_name or default


def worker_id() -> str:
    """Which process ran a trial, recorded on the trial (machines join from anywhere)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def sampler_seed(settings: Settings) -> int:
    """The configured seed in memory; on a shared storage, one per worker (no repeated trials)."""
    space = settings.tuning
    seed = settings.seed if space.seed is None else space.seed
    if space.storage is None:
        return seed
    digest = hashlib.sha256(f"{seed}:{worker_id()}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def log_failed_trial(study: optuna.Study, trial: FrozenTrial) -> None:
    """Optuna calls this when it marks a trial failed because its worker stopped beating."""
    worker = trial.user_attrs.get("worker", "an unknown worker")
    logger.warning("trial {} of {} stopped sending heartbeats: marked failed", trial.number, worker)


def open_study(settings: Settings) -> optuna.Study:
    """The study in memory, or created or joined (same name) on the configured RDB storage."""
    space = settings.tuning
    storage = None
    if space.storage is not None:
        with warnings.catch_warnings():
            # Heartbeats (experimental since Optuna 2.9) are how Optuna finds dead workers.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.RDBStorage(
                space.storage,
                heartbeat_interval=space.heartbeat_seconds,
                heartbeat_stale_trial_callback=log_failed_trial,
            )
    return optuna.create_study(
        study_name=study_name_of(settings),
        storage=storage,
        load_if_exists=True,
        direction="minimize",
        # The constant liar keeps parallel workers from sampling next to each other's running
        # trials; alone (in memory) there are none, so the seeded search stays as it was.
        sampler=optuna.samplers.TPESampler(
            seed=sampler_seed(settings), constant_liar=space.storage is not None
        ),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=REPORT_EVERY * 5),
    )


def finished_trials(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


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
        trial.set_user_attr("worker", worker_id())
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


def trial_run_logger(settings: Settings, parent_run: str) -> TrialCallback:
    """Each finished trial as a run under the tuning run, from whichever worker process ran it."""
    client = client_for(settings.registry)
    experiment = client.get_run(parent_run).info.experiment_id

    def log_trial_run(study: optuna.Study, trial: FrozenTrial) -> None:
        # The parent is named explicitly: in a spawned worker it is not this process's active run.
        with mlflow.start_run(
            run_name=f"trial-{trial.number}",
            experiment_id=experiment,
            nested=True,
            parent_run_id=parent_run,
        ):
            mlflow.log_params({**trial.params, **trial.user_attrs})
            mlflow.set_tag("state", trial.state.name.lower())
            if trial.state == TrialState.COMPLETE and trial.value is not None:
                mlflow.log_metric("rmse", trial.value)
            for step, value in trial.intermediate_values.items():
                mlflow.log_metric("rmse_while_fitting", value, step=step)
        if study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            client.log_metric(parent_run, "best_rmse", study.best_value, step=trial.number)
            client.log_dict(parent_run, best_params(study), "best_params.json")

    return log_trial_run


def trial_callbacks(settings: Settings, parent_run: str | None) -> list[TrialCallback]:
    if parent_run is None:
        return [log_trial]
    return [log_trial, trial_run_logger(settings, parent_run)]


def storage_for_display(url: str | None) -> str:
    """The storage URL without its password (it goes into logs and the run's parameters)."""
    if url is None:
        return "memory"
    from sqlalchemy.engine import make_url  # noqa: PLC0415 - Optuna's dependency, RDB only

    return make_url(url).render_as_string(hide_password=True)


@contextmanager
def tuning_run(settings: Settings, study_name: str) -> Iterator[str]:
    """A parent MLflow run for this machine's part of the search; trials become its children."""
    with start_run(settings.registry, run_name="tune") as run:
        tuning = settings.tuning.model_dump(exclude={"storage"})
        mlflow.log_params({f"tuning.{key}": value for key, value in tuning.items()})
        mlflow.log_params(
            {
                "tuning.storage": storage_for_display(settings.tuning.storage),
                "study_name": study_name,
                "train_month": settings.data.train_month,
                "val_month": settings.data.val_month,
                "seed": settings.seed,
            }
        )
        yield run.info.run_id
{%- else %}


def trial_callbacks(settings: Settings, parent_run: str | None) -> list[TrialCallback]:
    """Without experiment tracking, trials are only logged to the console and the log file."""
    return [log_trial]


@contextmanager
def tuning_run(settings: Settings, study_name: str) -> Iterator[str | None]:
    """No tracking run without experiment tracking."""
    yield None
{%- endif %}


def search(
    settings: Settings,
    study: optuna.Study,
    parent_run: str | None,
    start_together: Barrier | None = None,
) -> None:
    """One worker's part: trials until the study has ``n_trials`` finished ones, or the timeout."""
    space = settings.tuning
    objective = make_objective(settings)
    if start_together is not None:
        # Workers on one machine start their first trials together once each has loaded the data,
        # so that a worker that starts late still gets its share of the budget.
        try:
            start_together.wait(timeout=STARTUP_TIMEOUT_SECONDS)
        except threading.BrokenBarrierError:
            logger.warning("a worker did not start within {} s", STARTUP_TIMEOUT_SECONDS)
    remaining = space.n_trials - finished_trials(study)
    if remaining <= 0:
        logger.info("study {} already has its {} trials", study.study_name, space.n_trials)
        return
    # Stops this worker once all workers together reached the budget (a worker that is mid-trial
    # then still finishes it: up to workers - 1 trials more than the budget).
    budget = optuna.study.MaxTrialsCallback(space.n_trials, states=FINISHED)
    with progress_bar("tuning trials", remaining) as advance:
        study.optimize(
            objective,
            n_trials=remaining,
            timeout=space.timeout_seconds,
            callbacks=[*trial_callbacks(settings, parent_run), budget, lambda *_: advance(1)],
        )


def work(settings: Settings, parent_run: str | None, start_together: Barrier) -> None:
    """A spawned worker process: joins the study by name and searches until the budget is met."""
    setup_logging(settings.logging)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    set_quiet(True)  # one bar, in the process a person started: workers draw none over it
    search(settings, open_study(settings), parent_run, start_together)


def start_workers(
    settings: Settings, parent_run: str | None, count: int
) -> tuple[list[BaseProcess], Barrier | None]:
    """``count`` more workers besides this process, and the barrier where all of them meet."""
    if count == 0:
        return [], None
    # Spawned, not forked: a fork would copy this process's threads (LightGBM's OpenMP pool).
    context = multiprocessing.get_context("spawn")
    start_together = context.Barrier(count + 1)
    workers: list[BaseProcess] = [
        context.Process(
            target=work, args=(settings, parent_run, start_together), name=f"tune-worker-{number}"
        )
        for number in range(1, count + 1)
    ]
    for worker in workers:
        worker.start()
    return workers, start_together


def join_workers(workers: list[BaseProcess], heartbeat_seconds: int) -> None:
    """Wait for the other workers; one that died leaves its trial to the heartbeat check."""
    for worker in workers:
        worker.join()
        if worker.exitcode != 0:
            logger.warning(
                "{} (pid {}) exited with {}; its running trial is marked failed once it has "
                "been silent for {} s",
                worker.name,
                worker.pid,
                worker.exitcode,
                2 * heartbeat_seconds,
            )


def run_tuning(settings: Settings) -> TuningResult:
    """Search (with ``workers`` processes), then write the best parameters for ``train``."""
    space = settings.tuning
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Created (tables too) before any worker starts, so that workers only load it.
    study = open_study(settings)
    if space.storage is not None:
        # Trials left running by workers that died since the last heartbeat check.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
    with tuning_run(settings, study.study_name) as parent_run:
        # This process is the first worker; the others are spawned beside it.
        workers, start_together = start_workers(settings, parent_run, space.workers - 1)
        try:
            search(settings, study, parent_run, start_together)
        except BaseException:
            if start_together is not None:
                start_together.abort()
            for worker in workers:
                worker.terminate()
            raise
        finally:
            join_workers(workers, space.heartbeat_seconds)
    trials = study.get_trials(deepcopy=False)
    states = [trial.state for trial in trials]
    if TrialState.COMPLETE not in states:
        raise RuntimeError("no trial completed; widen the search space or raise n_trials")
    params = best_params(study)
    target = settings.training.params_file
    # Atomic: workers on several machines may write the same file at the same moment.
    with atomic_write(target) as partial:
        partial.write_text(json.dumps(params, indent=2, sort_keys=True), encoding="utf-8")
    logger.info(
        "study {}: best RMSE {:.4f} with {}, written to {}",
        study.study_name,
        study.best_value,
        params,
        target,
    )
    return TuningResult(
        best_params=params,
        best_rmse=study.best_value,
        completed=states.count(TrialState.COMPLETE),
        pruned=states.count(TrialState.PRUNED),
        failed=states.count(TrialState.FAIL),
        study_name=study.study_name,
        params_file=target,
    )
