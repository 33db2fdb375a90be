"""The prediction API: FastAPI app factory, run by ``cli serve`` (uvicorn, ``factory=True``).

The model is loaded once, at start, from the registry alias in the settings. Without one the
service still starts, so that an orchestrator sees it alive (``/health``) but not ready
(``/ready`` answers 503), and ``/predict`` says what to do instead of failing.

No ``from __future__ import annotations`` here: FastAPI reads the endpoints' annotations at
runtime, and the batch body is a class built inside ``create_app`` (its limit is a setting).
"""

import asyncio
import gc
import math
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from loguru import logger
from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.registry import Collector
from prometheus_fastapi_instrumentator import Instrumentator
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from .. import __doc__ as package_doc
from .. import __version__
from ..config import Settings, load_settings
from ..logs import setup_logging
from ..prediction_log import (
    DisabledPredictionLog,
    PredictionLog,
    PredictionSink,
    open_prediction_log,
)
from ..trip import DROPOFF_ZONE, PICKUP_ZONE
from ..versions import NoModelError
from ..zones import UNKNOWN_ZONE_MESSAGE
from .admin import add_reload_endpoint
from .metrics import ModelMetrics, PredictionLogCollector, add_metrics_endpoint
from .middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from .models import ServedModels, load_models
from .predictor import LoadedModel, Predictor
from .schemas import (
    BatchPrediction,
    ErrorMessage,
    Explanation,
    InvalidBody,
    ModelInfo,
    ModelRef,
    Prediction,
    PredictionLogStatus,
    Readiness,
    ServiceModels,
    Status,
    Trip,
    batch_request_model,
)
{%- if cookiecutter.ui == "gradio" %}
from .ui import mount_ui
{%- endif %}

COMPONENTS = "#/components/schemas/"
# Generous for JSON trips (about 120 bytes each), small enough to refuse a runaway upload early.
BYTES_PER_TRIP = 512
BODY_OVERHEAD_BYTES = 64 * 1024
ZONE_FIELDS = (PICKUP_ZONE, DROPOFF_ZONE)
OUT_OF_RANGE = ("greater_than_equal", "less_than_equal")
# A query flag, so that the default answer (and its speed) stays what it was without it.
Explain = Annotated[
    bool,
    Query(
        description="Also return each model input's contribution (LightGBM's exact TreeSHAP); "
        "the base value plus the contributions add up to the prediction. An operator may limit "
        "the trips of a batch asking for explanations (`SERVING__MAX_EXPLAINED_TRIPS`)."
    ),
]
# Bodies from this size on (about 500 trips) are parsed on a worker thread, so that the event loop
# keeps answering during a large parse; below it, the hand-off costs more than the parse. One
# thread for all: parses hold the GIL. Measurements: docs/benchmarks.md ("Prediction service").
THREAD_PARSE_MIN_BYTES = 64 * 1024
PARSER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parse")


def error_response(description: str, example: str) -> dict[str, Any]:
    return {
        "model": ErrorMessage,
        "description": description,
        "content": {"application/json": {"example": {"detail": example}}},
    }


NO_MODEL = error_response(
    "No model is loaded: train one, then restart the service.",
    "no model has the alias 'champion' in the registry yet: run `train` first",
)
ANSWERED_BY: dict[str, Any] = {
    "headers": {
        "X-Model-Version": {
            "description": "Registry version of the model that answered.",
            "schema": {"type": "integer"},
        },
        "X-Model-Role": {
            "description": "champion, or challenger when a canary routed the request to it.",
            "schema": {"type": "string", "enum": ["champion", "challenger"]},
        },
    }
}
BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: error_response(
        "The body is not valid JSON.",
        "malformed JSON: EOF while parsing a value at line 1 column 20",
    ),
    413: error_response(
        "The body is larger than the batch limit allows.",
        "request body over 5185536 bytes: send fewer trips per request",
    ),
    422: {
        "model": InvalidBody,
        "description": "The body is JSON, but not a valid request.",
        "content": {
            "application/json": {
                "example": {
                    "detail": [
                        {
                            "loc": ["body", PICKUP_ZONE],
                            "msg": "Input should be less than or equal to 265",
                            "type": "less_than_equal",
                        }
                    ]
                }
            }
        },
    },
    503: NO_MODEL,
}


def is_json(content_type: str | None) -> bool:
    """What FastAPI reads as JSON: no Content-Type, application/json or application/*+json."""
    if not content_type:
        return True
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def read_body(request: Request, model: type[BaseModel]) -> BaseModel:
    """The request body as ``model``, parsed and validated in one pass (pydantic's JSON mode).

    FastAPI's own body handling (Content-Type parsing, ``json.loads``, then validation of the
    Python objects) costs more than predicting one trip; this does the same checks for a
    fraction of it. Problems take FastAPI's path (RequestValidationError, answered by
    ``add_error_handlers``), so clients see the same 400 and 422 answers.
    """
    if not is_json(request.headers.get("content-type")):
        problem = {"loc": ("body",), "msg": "send the body as JSON", "type": "content_type"}
        raise RequestValidationError([problem])
    raw = await request.body()
    if not raw:
        raise RequestValidationError(
            [{"loc": ("body",), "msg": "Field required", "type": "missing"}]
        )
    if len(raw) >= THREAD_PARSE_MIN_BYTES:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(PARSER, parse_json, model, raw)
    return parse_json(model, raw)


def parse_json(model: type[BaseModel], raw: bytes) -> BaseModel:
    """``raw`` validated as ``model``; problems as FastAPI reports them (see ``read_body``)."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        problems = error.errors(include_url=False, include_input=False)
        raise RequestValidationError(
            [{**problem, "loc": ("body", *problem["loc"])} for problem in problems]
        ) from None


def document_bodies(app: FastAPI, bodies: list[type[BaseModel]]) -> None:
    """Add the schemas of bodies the endpoints read themselves to the OpenAPI components.

    The endpoints point at them with ``openapi_extra``; FastAPI lists only the models that appear
    in endpoint signatures, so these are added once, when the schema is first asked for.
    """

    fastapi_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        schema = app.openapi_schema
        if schema is None:
            schema = fastapi_openapi()  # FastAPI's schema, cached on the app
            _, definitions = models_json_schema(
                [(model, "validation") for model in bodies],
                ref_template=COMPONENTS + "{model}",
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(
                definitions["$defs"]
            )
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` for an endpoint whose body is ``model`` (read with ``read_body``)."""
    schema = {"$ref": f"{COMPONENTS}{model.__name__}"}
    content = {"application/json": {"schema": schema}}
    return {"requestBody": {"required": True, "content": content}}


@dataclass
class ServiceState:
    """What the lifespan found at start (or a reload since); the endpoints read it."""

    models: ServedModels | None = None
    sink: PredictionSink | None = None
    unavailable_reason: str = "the service is starting"

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


def process_collectors(registry: CollectorRegistry) -> list[Collector]:
    """CPU, memory and Python facts of this process, registered in ``registry``."""
    return [ProcessCollector(registry=registry), PlatformCollector(registry=registry)]


def validation_errors(error: RequestValidationError, max_trips: int) -> list[dict[str, Any]]:
    """Location, message and type of each problem; inputs are not echoed (they may be huge)."""
    problems = []
    for problem in error.errors():
        message = problem["msg"]
        if problem["type"] == "too_long" and tuple(problem["loc"]) == ("body", "trips"):
            message = f"at most {max_trips} trips per request: split the batch"
        elif problem["type"] in OUT_OF_RANGE and problem["loc"][-1] in ZONE_FIELDS:
            message = UNKNOWN_ZONE_MESSAGE
        problems.append({"loc": list(problem["loc"]), "msg": message, "type": problem["type"]})
    return problems


def finite_or_none(metrics: dict[str, Any]) -> dict[str, float | None]:
    """Metrics as JSON can carry them (no NaN or infinity)."""
    out: dict[str, float | None] = {}
    for name, value in metrics.items():
        number = float(value) if isinstance(value, int | float) else math.nan
        out[name] = number if math.isfinite(number) else None
    return out


def add_error_handlers(app: FastAPI, max_trips: int) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        for problem in error.errors():
            if problem["type"] == "json_invalid":
                reason = problem.get("ctx", {}).get("error", "JSON decode error")
                detail = f"malformed JSON: {reason}"
                return JSONResponse(status_code=400, content={"detail": detail})
        return JSONResponse(
            status_code=422, content={"detail": validation_errors(error, max_trips)}
        )

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        # A last resort: the traceback goes to the log, never to the client.
        logger.opt(exception=error).error("unhandled error")
        return JSONResponse(status_code=500, content={"detail": "internal error, see the logs"})


def check_explained_size(trips: list[Trip], max_explained: int) -> None:
    """Explanations cost about 40 predictions each: a batch asking for them has its own limit."""
    if len(trips) > max_explained:
        message = (
            f"explain=true takes at most {max_explained} trips per request: split the batch, "
            "or leave explain off"
        )
        raise RequestValidationError(
            [{"loc": ("query", "explain"), "msg": message, "type": "too_long"}]
        )


def add_prediction_endpoints(
    app: FastAPI, state: ServiceState, batch_request: type[BaseModel], max_explained: int
) -> None:
    """/predict and /predict/batch; they read their bodies themselves (see ``read_body``)."""

    @app.post(
        "/predict",
        response_model=Prediction,
        responses={**BODY_ERRORS, 200: ANSWERED_BY},
        tags=["model"],
        openapi_extra=json_body(Trip),
    )
    async def predict(request: Request, explain: Explain = False) -> Response:
        """Predicted duration of one trip, in minutes, and the model version that predicted it.

        In canary mode, the `X-Client-Key` header (else `X-Request-ID`) decides which model
        answers: the same key always gets the same model."""
        trip = cast(Trip, await read_body(request, Trip))
        predictor = state.require_models().route(request.headers)
        if explain:
            [value], explained = await predictor.explain_many([trip])
            [why] = explained.rows()
            prediction = Prediction(
                predicted_duration_minutes=value,
                model=model_ref(predictor.loaded),
                explanation=Explanation.model_validate(why),
            )
            return json_response(prediction, predictor.loaded)
        value = await predictor.predict_one(trip)
        prediction = Prediction(predicted_duration_minutes=value, model=model_ref(predictor.loaded))
        return json_response(prediction, predictor.loaded)

    @app.post(
        "/predict/batch",
        response_model=BatchPrediction,
        responses={**BODY_ERRORS, 200: ANSWERED_BY},
        tags=["model"],
        openapi_extra=json_body(batch_request),
    )
    async def predict_batch(request: Request, explain: Explain = False) -> Response:
        """Predicted durations of up to the configured number of trips, in request order (in
        canary mode, all by the one model that the request's key is routed to)."""
        body = await read_body(request, batch_request)
        predictor = state.require_models().route(request.headers)
        trips = body.trips  # type: ignore[attr-defined]
        if explain:
            check_explained_size(trips, max_explained)
            values, explained = await predictor.explain_many(trips)
            batch = BatchPrediction(
                predicted_duration_minutes=values,
                model=model_ref(predictor.loaded),
                explanations=[Explanation.model_validate(why) for why in explained.rows()],
            )
            return json_response(batch, predictor.loaded)
        values = await predictor.predict_many(trips)
        logger.debug("predicted a batch of {} trips", len(values))
        batch = BatchPrediction(
            predicted_duration_minutes=values, model=model_ref(predictor.loaded)
        )
        return json_response(batch, predictor.loaded)

    document_bodies(app, [Trip, batch_request])


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service, configured from ``settings`` (default: read them and set up logging)."""
    if settings is None:
        settings = load_settings()
        setup_logging(settings.logging)
    serving = settings.serving
    state = ServiceState()
    batch_request = batch_request_model(serving.max_batch_size)
    # Each app gets its own metrics registry, so that several apps (tests) can live in one process.
    metrics_registry = CollectorRegistry()
    log_collector = PredictionLogCollector(state)
    metrics_registry.register(log_collector)
    model_metrics = ModelMetrics(metrics_registry)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.sink = open_prediction_log(settings.prediction_log)
        try:
            state.models = load_models(settings, model_metrics, state.sink)
        # Only "no model yet" starts the service without one; a model that cannot be loaded or
        # does not fit this code is a deployment error and must stop the start.
        except NoModelError as error:
            state.unavailable_reason = f"{error}, then restart the service"
            logger.warning("serving without a model: {}", error)
        # Everything loaded so far (libraries, the model) lives as long as the process: keep it
        # out of the garbage collector's full passes, which otherwise stall requests each time they
        # walk those objects (measured in docs/benchmarks.md).
        gc.collect()
        gc.freeze()
        yield
        gc.unfreeze()
        if state.models is not None:
            state.models.close()
        state.sink.close()

    name, _, summary = (package_doc or "").strip().partition("\n")
    app = FastAPI(
        title=f"{name.rstrip('.')} API",
        version=__version__,
        description=(
            f"{' '.join(summary.split())}\n\nEvery response carries an `X-Request-ID` header "
            "(the caller's, when it sends one)."
        ),
        lifespan=lifespan,
    )
    add_error_handlers(app, serving.max_batch_size)
    app.state.service = state  # for operators' debugging and for tests

    @app.get("/health", response_model=Status, tags=["operations"])
    async def health() -> Status:
        """Liveness: the process answers. Needs no model."""
        return Status(status="ok")

    @app.get(
        "/ready",
        response_model=Readiness,
        responses={503: NO_MODEL},
        tags=["operations"],
    )
    async def ready() -> Readiness:
        """Readiness: a model is loaded and predictions can be served; what the prediction
        log kept and lost (a lost row does not make the service unready)."""
        loaded = state.require_predictor().loaded
        return Readiness(
            status="ready", model=model_ref(loaded), prediction_log=state.prediction_log_status()
        )

    @app.get("/model", response_model=ServiceModels, responses={503: NO_MODEL}, tags=["model"])
    async def model_info() -> ServiceModels:
        """The served models: the champion's version, training metrics, when it was trained, its
        features; the serving mode; the challenger's, in shadow and canary modes."""
        models = state.require_models()
        challenger = models.challenger_model
        return ServiceModels(
            **describe(models.champion.loaded).model_dump(),
            mode=models.mode,
            canary_share=models.canary_share if models.mode == "canary" else None,
            challenger=None if challenger is None else describe(challenger),
            challenger_problem=models.challenger_problem,
        )

    max_explained = serving.max_explained_trips or serving.max_batch_size
    add_prediction_endpoints(app, state, batch_request, max_explained)
    add_reload_endpoint(app, state, settings, model_metrics)
{%- if cookiecutter.ui == "gradio" %}
    mount_ui(app, state.require_predictor, settings)
{%- endif %}
    Instrumentator(registry=metrics_registry, excluded_handlers=["/metrics"]).instrument(app)
    add_metrics_endpoint(
        app, metrics_registry, [*process_collectors(metrics_registry), log_collector]
    )
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=BODY_OVERHEAD_BYTES + BYTES_PER_TRIP * serving.max_batch_size,
        timeout=serving.body_timeout,
    )
    app.add_middleware(RequestContextMiddleware)  # outermost: ids and logs cover every answer
    return app


def json_response(body: BaseModel, answered_by: LoadedModel) -> Response:
    """A body built and validated by our own code, serialized once by pydantic, with the
    headers that name the model that answered.

    Returning a Response skips FastAPI's second validation of the body against the
    ``response_model`` (which still documents it), a large share of a prediction's cost.
    """
    headers = {
        "X-Model-Version": str(answered_by.version.version),
        "X-Model-Role": answered_by.role,
    }
    # Without an explanation asked for, the answer has no ``explanation`` key at all.
    content = body.model_dump_json(exclude_none=True)
    return Response(content=content, media_type="application/json", headers=headers)


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
