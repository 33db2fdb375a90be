"""The training job: data -> features -> fit -> evaluate -> register -> gate -> promote.

Each row is predicted at most once per run: the validation rows by the candidate, the train RMSE
on a fixed sample of the training rows, and the champion's score on the same validation rows is
kept by model version and data fingerprint, so a retraining on unchanged validation data does
not score the champion again. Stage times go to the log and to ``metrics.json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from loguru import logger

from .baseline import course_baseline
from .card_html import write_card_html
from .card_plots import render_card_figures
from .config import DataSettings, Settings, TrainingSettings
from .data import CleanTrips, load_months
from .evaluate import regression_metrics, rmse_on
from .features import FEATURE_NAMES, feature_matrix_in_chunks
from .model import TUNABLE_PARAMS, TripDurationModel
from .model_card import write_model_card
from .outputs import atomic_write
from .promotion import PromotionDecision, decide_promotion, promote, score_champion
from .provenance import environment, git_commit, sha256_of
from .registry import ModelRegistry, open_registry
{%- if cookiecutter.monitoring == "evidently" %}
from .reports_index import write_reports_index
{%- endif %}
from .run_record import InputFile, RunRecord
from .scores import SCORES_FILE, ScoreCache, validation_fingerprint
from .timing import Stopwatch
from .trip import DURATION, INFERENCE_COLUMNS
from .versions import ModelVersion
from .zones import Zones, read_zones

# The train RMSE is measured on this many training rows (all of them when there are fewer),
# drawn with the run's seed: the same rows every time, for a fraction of a full pass.
TRAIN_RMSE_SAMPLE = 100_000


@dataclass
class TrainingResult:
    version: ModelVersion
    metrics: dict[str, float]
    decision: PromotionDecision
    accounts: dict[str, dict[str, object]] = field(default_factory=dict)
    accounts_by_month: dict[str, dict[str, dict[str, object]]] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)


def effective_params(settings: Settings) -> TrainingSettings:
    """Settings' parameters, overridden by the tuned ones in ``params_file`` when it exists."""
    params_file = settings.training.params_file
    if not params_file.exists():
        return settings.training
    tuned = json.loads(params_file.read_text(encoding="utf-8"))
    unknown = set(tuned) - set(TUNABLE_PARAMS)
    if unknown:
        raise ValueError(f"{params_file}: unknown parameter(s) {sorted(unknown)}")
    logger.info("using tuned parameters from {}: {}", params_file, tuned)
    return settings.training.model_copy(update=tuned)


class Evaluated(NamedTuple):
    """A fitted model, its metrics, and its predictions for the validation rows (kept for the
    model card's pictures, so that no validation row is predicted twice)."""

    model: TripDurationModel
    metrics: dict[str, float]
    val_predicted: np.ndarray


def fit_and_evaluate(
    train: CleanTrips,
    val: CleanTrips,
    params: TrainingSettings,
    seed: int,
    watch: Stopwatch | None = None,
) -> Evaluated:
    """Fit on the training rows, measure on the validation rows; also the train RMSE (sampled)."""
    watch = watch or Stopwatch()
    matrix = feature_matrix_in_chunks(train.trips)
    target = train.trips[DURATION].to_numpy()
    watch.lap("features")
    started = time.perf_counter()
    model = TripDurationModel.fit_features(matrix, target, params, seed)
    fit_seconds = time.perf_counter() - started
    watch.lap("fit")
    val_predicted = model.predict(val.trips)
    metrics = regression_metrics(val.trips[DURATION].to_numpy(), val_predicted)
    sample = train_sample(len(target), seed)
    train_metrics = regression_metrics(target[sample], model.predict_features(matrix[sample]))
    metrics["train_rmse"] = train_metrics["rmse"]
    metrics["fit_seconds"] = round(fit_seconds, 3)
    watch.lap("evaluate")
    return Evaluated(model, metrics, val_predicted)


def train_sample(rows: int, seed: int, size: int = TRAIN_RMSE_SAMPLE) -> np.ndarray:
    """Sorted positions of a seeded sample of training rows (every row when there are few)."""
    if rows <= size:
        return np.arange(rows)
    return np.sort(np.random.default_rng(seed).choice(rows, size, replace=False))


def input_files(data: DataSettings) -> dict[str, InputFile]:
    """Path and sha256 of every month read, training and validation."""
    months = dict.fromkeys((*data.train_months, *data.val_months))
    return {
        month: InputFile(path=str(path), sha256=sha256_of(path))
        for month, path in ((month, data.month_file(month)) for month in months)
    }


@dataclass
class Fitted:
    """A fitted candidate and what registering it needs, whether fitted here or on a cluster.

    ``score`` measures any model on the same validation rows as the candidate (the champion is
    compared with it); ``input_example`` is a few validation rows, stored with the model.
    """

    model: TripDurationModel
    metrics: dict[str, float]
    accounts: dict[str, dict[str, object]]
    accounts_by_month: dict[str, dict[str, dict[str, object]]]
    score: Callable[[TripDurationModel], float]
    input_example: pd.DataFrame
    # Validation rows (with their durations) that the model card's pictures are drawn from,
    # and the candidate's predictions for them, made once.
    card_trips: pd.DataFrame
    card_predicted: np.ndarray
    compute: str = "local"


def fit_here(settings: Settings, params: TrainingSettings, watch: Stopwatch) -> Fitted:
    """Read and clean the months on this machine, fit, evaluate and run the course baseline."""
    data = settings.data
    train = load_months(data, data.train_months, watch)
    val = load_months(data, data.val_months, watch)
    model, metrics, val_predicted = fit_and_evaluate(train, val, params, settings.seed, watch)
    metrics.update(course_baseline(train.trips, val.trips))
    return Fitted(
        model=model,
        metrics=metrics,
        accounts={"train": train.account.as_dict(), "validation": val.account.as_dict()},
        accounts_by_month={
            role: {month: account.as_dict() for month, account in clean.by_month.items()}
            for role, clean in (("train", train), ("validation", val))
        },
        score=rmse_on(val),
        input_example=val.trips[list(INFERENCE_COLUMNS)].head(5),
        card_trips=val.trips,
        card_predicted=val_predicted,
    )


def run_training(settings: Settings) -> TrainingResult:
    """Fit here, or on the Dask cluster when ``DASK__SCHEDULER_ADDRESS`` is set; then register.

    The zone lookup (for the model card) is read first: a missing lookup stops the run before
    minutes of fitting, not after them."""
    watch = Stopwatch()
    params = effective_params(settings)
    zones = read_zones(settings.data.zone_lookup)
    if settings.dask.scheduler_address:
        # Dask loads only for a cluster run; the model is registered as after a local fit, with
        # the client still open so that the champion is scored on the workers too.
        from .distributed import fit_on_cluster  # noqa: PLC0415

        with fit_on_cluster(settings, params, watch) as fitted:
            return register(settings, params, fitted, watch, zones)
    return register(settings, params, fit_here(settings, params, watch), watch, zones)


def register(
    settings: Settings, params: TrainingSettings, fitted: Fitted, watch: Stopwatch, zones: Zones
) -> TrainingResult:
    """Record the run's facts, then compare, register and promote under the registry's lock."""
    data = settings.data
    metrics = fitted.metrics
    logger.info("validation metrics on {}: {}", data.val_month, metrics)
    registry = open_registry(settings)
    inputs = input_files(data)
    sha256_by_month = {month: file.sha256 for month, file in inputs.items()}
    cache = ScoreCache(
        settings.registry.models_dir / SCORES_FILE, validation_fingerprint(data, sha256_by_month)
    )
    facts = {
        "train_month": data.train_month,
        "val_month": data.val_month,
        "train_months": list(data.train_months),
        "val_months": list(data.val_months),
        "inputs": inputs,
        "rows": fitted.accounts,
        "rows_by_month": fitted.accounts_by_month,
        "threads": params.n_jobs,
        "compute": fitted.compute,
    }
    # Held from the comparison to the alias move: concurrent trainings take turns.
    with registry.lock():
        version, decision = register_and_promote(
            settings, registry, fitted, zones, facts=facts, cache=cache, watch=watch
        )
    logger.info("registered version {}: {}", version.version, decision.reason)
    watch.lap("register")
    logger.info("stage seconds: {}", watch.rounded())
    write_metrics(
        settings.registry.models_dir / "metrics.json", version, metrics, decision, watch.rounded()
    )
    return TrainingResult(
        version=version,
        metrics=metrics,
        decision=decision,
        accounts=fitted.accounts,
        accounts_by_month=fitted.accounts_by_month,
        stage_seconds=watch.rounded(),
    )


def register_and_promote(
    settings: Settings,
    registry: ModelRegistry,
    fitted: Fitted,
    zones: Zones,
    *,
    facts: dict[str, object],
    cache: ScoreCache | None = None,
    watch: Stopwatch | None = None,
) -> tuple[ModelVersion, PromotionDecision]:
    """Compare with the champion, register the candidate with the facts, move an alias to it.

    The champion's score comes from ``cache`` when it was measured before on these validation
    rows; the candidate's score is added to it, for the next run's comparison.
    """
    watch = watch or Stopwatch()
    model, metrics, score = fitted.model, fitted.metrics, fitted.score
    margin = settings.training.promotion_margin
    champion = score_champion(registry, score, cache)
    champion_rmse = champion.rmse
    decision = decide_promotion(metrics["rmse"], champion_rmse, margin)
    watch.lap("evaluate")
    # Validated as it is built: what the registry stores is a RunRecord, never a loose dict.
    record = RunRecord.model_validate(
        {
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **facts,
            "stage_seconds": watch.rounded(),
            "features": list(FEATURE_NAMES),
            "params": model.params,
            "seed": settings.seed,
            "git_commit": git_commit(),
            "environment": environment(),
            "champion_rmse_before": champion_rmse,
            "promotion": decision.reason,
        }
    )
    models_dir = settings.registry.models_dir
    figures = render_card_figures(
        models_dir, model, fitted.card_trips, fitted.card_predicted, zones
    )
    card = write_model_card(models_dir / "model_card.md", settings, metrics, record, figures)
    card_files = [card, write_card_html(card), *figures.files.values()]
{%- if cookiecutter.monitoring == "evidently" %}
    write_reports_index(settings.monitoring.reports_dir, card_files[1])
{%- endif %}
    version = registry.register(
        model,
        metrics,
        record,
        attachments={path.name: path for path in card_files},
        input_example=fitted.input_example,
    )
    if cache is not None:
        cache.put(version, metrics["rmse"])
    decision = promote(
        registry,
        version.version,
        candidate_rmse=metrics["rmse"],
        compared=champion,
        score=score,
        margin=margin,
        cache=cache,
    )
    return version, decision


def write_metrics(
    path: Path,
    version: ModelVersion,
    metrics: dict[str, float],
    decision: PromotionDecision,
    stage_seconds: dict[str, float] | None = None,
) -> None:
    """The latest run's metrics in one predictable place, for CI and people."""
    summary: dict[str, object] = {
        "version": version.version,
        "promoted": decision.promote,
        **metrics,
    }
    if stage_seconds:
        summary["stage_seconds"] = stage_seconds
    with atomic_write(path) as partial:
        partial.write_text(json.dumps(summary, indent=2), encoding="utf-8")
