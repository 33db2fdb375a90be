"""The training job: data -> features -> fit -> evaluate -> register -> gate -> promote."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from loguru import logger

from .baseline import course_baseline
from .config import Settings, TrainingSettings
from .data import DURATION, INFERENCE_COLUMNS, CleanTrips, load_month
from .evaluate import regression_metrics
from .features import FEATURE_NAMES
from .model import TUNABLE_PARAMS, TripDurationModel
from .model_card import write_model_card
from .outputs import atomic_write
from .promotion import PromotionDecision, decide_promotion
from .provenance import environment, git_commit, sha256_of
from .registry import ModelRegistry, open_registry
from .versions import CHALLENGER, CHAMPION, ModelVersion


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


def champion_rmse_on(registry: ModelRegistry, val: CleanTrips) -> float | None:
    """The current champion's RMSE on the same validation rows as the candidate."""
    champion = registry.get_version(CHAMPION)
    if champion is None:
        return None
    predictions = registry.load(champion.version).predict(val.trips)
    return regression_metrics(val.trips[DURATION].to_numpy(), predictions)["rmse"]


def run_training(settings: Settings) -> TrainingResult:
    data = settings.data
    params = effective_params(settings)
    registry = open_registry(settings)
    if settings.dask.scheduler_address:
        # Dask loads only for a cluster run; the model is registered as after a local fit.
        from .distributed import train_on_cluster  # noqa: PLC0415

        fitted = train_on_cluster(settings, params, registry)
        model, metrics, accounts = fitted.model, fitted.metrics, fitted.accounts
        champion_rmse, input_example, compute = (
            fitted.champion_rmse,
            fitted.input_example,
            fitted.compute,
        )
    else:
        train = load_month(data, data.train_month)
        val = load_month(data, data.val_month)
        model, metrics = fit_and_evaluate(train, val, params, settings.seed)
        metrics.update(course_baseline(train.trips, val.trips))
        champion_rmse = champion_rmse_on(registry, val)
        accounts = {"train": train.account.as_dict(), "validation": val.account.as_dict()}
        input_example, compute = val.trips[list(INFERENCE_COLUMNS)].head(5), "local"
    logger.info("validation metrics on {}: {}", data.val_month, metrics)
    decision = decide_promotion(metrics["rmse"], champion_rmse, settings.training.promotion_margin)
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
        "compute": compute,
        "git_commit": git_commit(),
        "environment": environment(),
        "champion_rmse_before": champion_rmse,
        "promotion": decision.reason,
    }
    card = write_model_card(
        settings.registry.models_dir / "model_card.md", settings, metrics, metadata
    )
    version = registry.register(
        model,
        metrics,
        metadata,
        attachments={"model_card.md": card},
        input_example=input_example,
    )
    registry.set_alias(CHAMPION if decision.promote else CHALLENGER, version.version)
    logger.info("registered version {}: {}", version.version, decision.reason)
    write_metrics(settings.registry.models_dir / "metrics.json", version, metrics, decision)
    return TrainingResult(version=version, metrics=metrics, decision=decision, accounts=accounts)


def write_metrics(
    path: Path, version: ModelVersion, metrics: dict[str, float], decision: PromotionDecision
) -> None:
    """The latest run's metrics in one predictable place, for CI and people."""
    summary = {"version": version.version, "promoted": decision.promote, **metrics}
    with atomic_write(path) as partial:
        partial.write_text(json.dumps(summary, indent=2), encoding="utf-8")
