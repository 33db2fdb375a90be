"""What an endpoint needs from its app, as ``Annotated[..., Depends()]`` aliases.

Each app keeps its own ``ServiceState`` in ``app.state.service`` (made by ``create_app``, filled
by the lifespan and by a reload); the dependencies read it from the request's app, so that several
apps in one process (tests make many) never share models, logs, metrics or settings.

Every dependency is an ``async def``: FastAPI runs a plain ``def`` on its thread pool, a hand-off
that would cost more than a prediction. No endpoint reads ``app.state`` itself.
"""

import asyncio
from dataclasses import dataclass, field
from typing import Annotated, cast

from fastapi import Depends, HTTPException, Request
from prometheus_client import CollectorRegistry
from prometheus_client.registry import Collector

from ..config import Settings
from ..prediction_log import DisabledPredictionLog, PredictionLog, PredictionSink
from .json_body import json_body, read_json
from .metrics import ModelMetrics
from .models import ServedModels
from .predictor import Predictor
from .schemas import PredictionLogStatus, Trip, TripBatch


@dataclass
class ServiceState:
    """One app's state: made by ``create_app``; the models and the log come with the lifespan."""

    settings: Settings
    batch_request: type[TripBatch]
    model_metrics: ModelMetrics
    metrics_registry: CollectorRegistry
    # What /metrics adds to the workers' files in multiprocess mode (they describe this process).
    process_collectors: list[Collector] = field(default_factory=list)
    models: ServedModels | None = None
    sink: PredictionSink | None = None
    unavailable_reason: str = "the service is starting"
    reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one reload at a time

    @property
    def predictor(self) -> Predictor | None:
        """The champion's predictor."""
        return None if self.models is None else self.models.champion

    def require_models(self) -> ServedModels:
        if self.models is None:
            raise HTTPException(status_code=503, detail=self.unavailable_reason)
        return self.models

    def require_predictor(self) -> Predictor:
        return self.require_models().champion

    def prediction_log_status(self) -> PredictionLogStatus:
        sink = self.sink or DisabledPredictionLog()
        problem = sink.problem if isinstance(sink, DisabledPredictionLog) else None
        return PredictionLogStatus(
            enabled=isinstance(sink, PredictionLog),
            written_rows=sink.written_rows,
            dropped_rows=sink.dropped_rows,
            problem=problem,
        )


def service_of(request: Request) -> ServiceState:
    """The state of the app that received ``request``."""
    return cast(ServiceState, request.app.state.service)


async def service_state(request: Request) -> ServiceState:
    return service_of(request)


async def app_settings(request: Request) -> Settings:
    return service_of(request).settings


async def served_models(request: Request) -> ServedModels:
    """The loaded models; 503 with the reason while there are none."""
    return service_of(request).require_models()


async def routed_predictor(request: Request) -> Predictor:
    """The predictor that answers this request: the champion's, or in canary mode the one the
    request's key is routed to (``routing.py``); 503 without a model."""
    return service_of(request).require_models().route(request.headers)


async def prediction_log_status(request: Request) -> PredictionLogStatus:
    return service_of(request).prediction_log_status()


async def batch_body(request: Request) -> TripBatch:
    """The batch body, read as this app's batch model (its limit is a setting)."""
    return cast(TripBatch, await read_json(request, service_of(request).batch_request))


State = Annotated[ServiceState, Depends(service_state)]
AppSettings = Annotated[Settings, Depends(app_settings)]
Models = Annotated[ServedModels, Depends(served_models)]
RoutedPredictor = Annotated[Predictor, Depends(routed_predictor)]
LogStatus = Annotated[PredictionLogStatus, Depends(prediction_log_status)]
TripBody = Annotated[Trip, Depends(json_body(Trip))]
BatchBody = Annotated[TripBatch, Depends(batch_body)]
