"""The models a service runs: the champion, and in shadow or canary mode the challenger too.

Both are loaded by their registry aliases (``serving.model_alias``, ``serving.challenger_alias``)
at start, and again by POST /admin/reload when it is enabled. The champion is required as before
(without it the service is alive but not ready). The challenger is on trial: when it is missing or
cannot be loaded, the service runs the champion alone and /model says why, rather than stopping a
service that would otherwise be fine.
"""

from __future__ import annotations

from dataclasses import dataclass

from loguru import logger
from starlette.datastructures import Headers

from ..config import Settings
from ..prediction_log import PredictionSink
from ..registry import load_model
from ..versions import NoModelError, RegistryError
from .metrics import ModelMetrics
from .predictor import LoadedModel, Predictor, Role
from .routing import goes_to_challenger, routing_key
from .schemas import EXAMPLE_TRIP, Trip
from .shadow import ShadowScorer


def load_one(settings: Settings, alias: str, role: Role) -> LoadedModel:
    """The model behind ``alias``, warmed up: the first call pays LightGBM's and pandas' one-time
    set-up, which no client should. The warm-up bypasses predictors, metrics and the log."""
    model, version = load_model(settings, alias)
    loaded = LoadedModel(model, version, alias, role)
    loaded.predict([Trip.model_validate(EXAMPLE_TRIP)])
    logger.info(
        "serving model {} version {} as {} ({})", version.name, version.version, role, alias
    )
    return loaded


@dataclass
class ServedModels:
    """The champion's predictor, the challenger's (canary) or its shadow scorer, and the mode."""

    mode: str
    champion: Predictor
    challenger: Predictor | None = None
    shadow: ShadowScorer | None = None
    canary_share: float = 0.0
    challenger_problem: str | None = None

    def route(self, headers: Headers) -> Predictor:
        """The predictor that answers a request with these headers (a batch as a whole)."""
        if self.challenger is None:
            return self.champion
        if goes_to_challenger(routing_key(headers), self.canary_share):
            return self.challenger
        return self.champion

    @property
    def challenger_model(self) -> LoadedModel | None:
        if self.challenger is not None:
            return self.challenger.loaded
        return None if self.shadow is None else self.shadow.loaded

    def close(self) -> None:
        """Finish the calls under way; the shadow scores what waits; the log is closed by its
        owner (the service), since a reload hands it to the next models."""
        self.champion.close_calls()
        if self.challenger is not None:
            self.challenger.close_calls()
        if self.shadow is not None:
            self.shadow.close()


def load_models(settings: Settings, metrics: ModelMetrics, sink: PredictionSink) -> ServedModels:
    """The models of the configured mode; NoModelError when there is no champion."""
    serving = settings.serving
    champion_model = load_one(settings, serving.model_alias, "champion")
    served = ServedModels(serving.mode, _predictor(settings, champion_model, metrics, sink))
    if serving.mode == "basic":
        return served
    try:
        challenger = load_one(settings, serving.challenger_alias, "challenger")
    except (NoModelError, RegistryError) as error:
        served.challenger_problem = str(error)
        logger.warning("{} mode without a challenger: {}", serving.mode, error)
        return served
    if serving.mode == "shadow":
        served.shadow = ShadowScorer(
            challenger,
            metrics.series(challenger.version.version, "challenger"),
            max_pending=serving.shadow_max_pending,
            dropped=metrics.shadow_dropped,
            failed=metrics.shadow_failed,
            sink=sink,
        )
        served.champion.shadow = served.shadow.submit
    else:
        served.challenger = _predictor(settings, challenger, metrics, sink)
        served.canary_share = serving.canary_share
    return served


def _predictor(
    settings: Settings, loaded: LoadedModel, metrics: ModelMetrics, sink: PredictionSink
) -> Predictor:
    series = metrics.series(loaded.version.version, loaded.role)
    return Predictor(loaded, series, settings.serving.batch_threads, sink)
