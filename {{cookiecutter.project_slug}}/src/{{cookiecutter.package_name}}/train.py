"""The training job: data -> features -> fit -> evaluate -> register -> gate -> promote."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from loguru import logger

from .baseline import course_baseline
from .card_html import write_card_html
from .card_plots import render_card_figures
from .config import Settings, TrainingSettings
from .data import DURATION, INFERENCE_COLUMNS, CleanTrips, load_month
from .evaluate import regression_metrics, rmse_on
from .features import FEATURE_NAMES
from .model import TUNABLE_PARAMS, TripDurationModel
from .model_card import write_model_card
from .outputs import atomic_write
from .progress import track
from .promotion import PromotionDecision, decide_promotion, promote, score_champion
from .provenance import environment, git_commit, sha256_of
from .registry import ModelRegistry, open_registry
{%- if cookiecutter.monitoring == "evidently" %}
from .reports_index import write_reports_index
{%- endif %}
from .versions import ModelVersion
from .zones import read_zones


@dataclass
class TrainingResult:
    version: ModelVersion
    metrics: dict[str, float]
    decision: PromotionDecision
    accounts: dict[str, dict[str, object]] = field(default_factory=dict)


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


def fit_and_evaluate(
    train: CleanTrips, val: CleanTrips, params: TrainingSettings, seed: int
) -> tuple[TripDurationModel, dict[str, float]]:
    """Fit on one month, measure on the next; the metrics also carry the train RMSE."""
    started = time.perf_counter()
    model = TripDurationModel.fit(train.trips, train.trips[DURATION], params, seed)
    fit_seconds = time.perf_counter() - started
    metrics = regression_metrics(val.trips[DURATION].to_numpy(), model.predict(val.trips))
    train_metrics = regression_metrics(train.trips[DURATION].to_numpy(), model.predict(train.trips))
    metrics["train_rmse"] = train_metrics["rmse"]
    metrics["fit_seconds"] = round(fit_seconds, 3)
    return model, metrics


def run_training(settings: Settings) -> TrainingResult:
    data = settings.data
    months = (data.train_month, data.val_month)
    train, val = (load_month(data, month) for month in track(months, "reading months"))
    params = effective_params(settings)
    model, metrics = fit_and_evaluate(train, val, params, settings.seed)
    metrics.update(course_baseline(train.trips, val.trips))
    logger.info("validation metrics on {}: {}", data.val_month, metrics)

    registry = open_registry(settings)
    # Held from the comparison to the alias move: concurrent trainings take turns.
    with registry.lock():
        version, decision, accounts = register_and_promote(
            settings, registry, model, metrics=metrics, train=train, val=val
        )
    logger.info("registered version {}: {}", version.version, decision.reason)
    write_metrics(settings.registry.models_dir / "metrics.json", version, metrics, decision)
    return TrainingResult(version=version, metrics=metrics, decision=decision, accounts=accounts)


def register_and_promote(
    settings: Settings,
    registry: ModelRegistry,
    model: TripDurationModel,
    *,
    metrics: dict[str, float],
    train: CleanTrips,
    val: CleanTrips,
) -> tuple[ModelVersion, PromotionDecision, dict[str, dict[str, object]]]:
    """Compare with the champion, register the candidate with the facts, move an alias to it."""
    data = settings.data
    score = rmse_on(val)
    margin = settings.training.promotion_margin
    champion = score_champion(registry, score)
    champion_rmse = champion.rmse
    decision = decide_promotion(metrics["rmse"], champion_rmse, margin)
    accounts = {"train": train.account.as_dict(), "validation": val.account.as_dict()}
    metadata = {
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "train_month": data.train_month,
        "val_month": data.val_month,
        "inputs": {
            month: {"path": str(path), "sha256": sha256_of(path)}
            for month, path in (
                (data.train_month, data.month_file(data.train_month)),
                (data.val_month, data.month_file(data.val_month)),
            )
        },
        "rows": accounts,
        "features": list(FEATURE_NAMES),
        "params": model.params,
        "seed": settings.seed,
        "git_commit": git_commit(),
        "environment": environment(),
        "champion_rmse_before": champion_rmse,
        "promotion": decision.reason,
    }
    models_dir = settings.registry.models_dir
    zones = read_zones(settings.data.zone_lookup)
    figures = render_card_figures(models_dir, model, val.trips, zones)
    card = write_model_card(models_dir / "model_card.md", settings, metrics, metadata, figures)
    card_files = [card, write_card_html(card), *figures.files.values()]
{%- if cookiecutter.monitoring == "evidently" %}
    write_reports_index(settings.monitoring.reports_dir, card_files[1])
{%- endif %}
    version = registry.register(
        model,
        metrics,
        metadata,
        attachments={path.name: path for path in card_files},
        input_example=val.trips[list(INFERENCE_COLUMNS)].head(5),
    )
    decision = promote(
        registry,
        version.version,
        candidate_rmse=metrics["rmse"],
        compared=champion,
        score=score,
        margin=margin,
    )
    return version, decision, accounts


def write_metrics(
    path: Path, version: ModelVersion, metrics: dict[str, float], decision: PromotionDecision
) -> None:
    """The latest run's metrics in one predictable place, for CI and people."""
    summary = {"version": version.version, "promoted": decision.promote, **metrics}
    with atomic_write(path) as partial:
        partial.write_text(json.dumps(summary, indent=2), encoding="utf-8")
