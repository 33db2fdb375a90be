"""GET /model: what the service serves, and the descriptions of a loaded model it shares."""

import math
from typing import Any

from fastapi import APIRouter

from ..deps import Models
from ..errors import NO_MODEL
from ..predictor import LoadedModel
from ..schemas import ModelInfo, ModelRef, ServiceModels

router = APIRouter(tags=["model"])


@router.get("/model", response_model=ServiceModels, responses={503: NO_MODEL})
async def model_info(models: Models) -> ServiceModels:
    """The served models: the champion's version, training metrics, when it was trained, its
    features; the serving mode; the challenger's, in shadow and canary modes."""
    challenger = models.challenger_model
    return ServiceModels(
        **describe(models.champion.loaded).model_dump(),
        mode=models.mode,
        canary_share=models.canary_share if models.mode == "canary" else None,
        challenger=None if challenger is None else describe(challenger),
        challenger_problem=models.challenger_problem,
    )


def model_ref(loaded: LoadedModel) -> ModelRef:
    return ModelRef(name=loaded.version.name, version=loaded.version.version, role=loaded.role)


def describe(loaded: LoadedModel) -> ModelInfo:
    """A loaded model's version, role, training metrics, training time and features."""
    record = loaded.version.record  # None for a version registered without one
    return ModelInfo(
        name=loaded.version.name,
        version=loaded.version.version,
        alias=loaded.alias,
        role=loaded.role,
        trained_at=record.trained_at if record else (loaded.version.created_at or None),
        train_month=record.train_month if record else None,
        val_month=record.val_month if record else None,
        metrics=finite_or_none(loaded.version.metrics),
        features=list(loaded.model.feature_names),
    )


def finite_or_none(metrics: dict[str, Any]) -> dict[str, float | None]:
    """Metrics as JSON can carry them (no NaN or infinity)."""
    out: dict[str, float | None] = {}
    for name, value in metrics.items():
        number = float(value) if isinstance(value, int | float) else math.nan
        out[name] = number if math.isfinite(number) else None
    return out
