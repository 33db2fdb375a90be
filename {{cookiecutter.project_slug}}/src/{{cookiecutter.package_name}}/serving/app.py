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
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from loguru import logger
from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from prometheus_fastapi_instrumentator import Instrumentator
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from .. import __doc__ as package_doc
from .. import __version__
from ..config import Settings, load_settings
from ..logs import setup_logging
from ..prediction_log import DisabledPredictionLog, PredictionLog, open_prediction_log
from ..registry import load_model
from ..versions import NoModelError
from .middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from .predictor import LoadedModel, Predictor
from .schemas import (
    EXAMPLE_TRIP,
    BatchPrediction,
    ErrorMessage,
    InvalidBody,
    ModelInfo,
    ModelRef,
    Prediction,
    PredictionLogStatus,
    Readiness,
    Status,
    Trip,
    batch_request_model,
)

COMPONENTS = "#/components/schemas/"
# Generous for JSON trips (about 120 bytes each), small enough to refuse a runaway upload early.
BYTES_PER_TRIP = 512
BODY_OVERHEAD_BYTES = 64 * 1024
# Bodies from this size on (about 500 trips) are parsed on a worker thread: a 10,000-trip body
# takes tens of milliseconds, during which the event loop would answer nobody else. Below it,
# the hand-off to a thread costs more than the parse. One thread for all: parses hold the GIL,
# and every further thread that wants it delays the loop more (Starlette's 40-thread pool did
# worse than one in `make bench`).
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
                            "loc": ["body", "PULocationID"],
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
    """What the lifespan found at start; the endpoints read it."""

    predictor: Predictor | None = None
    unavailable_reason: str = "the service is starting"

    def require_predictor(self) -> Predictor:
        if self.predictor is None:
            raise HTTPException(status_code=503, detail=self.unavailable_reason)
        return self.predictor

    def prediction_log_status(self) -> PredictionLogStatus:
        sink = DisabledPredictionLog() if self.predictor is None else self.predictor.sink
        problem = sink.problem if isinstance(sink, DisabledPredictionLog) else None
        return PredictionLogStatus(
            enabled=isinstance(sink, PredictionLog),
            written_rows=sink.written_rows,
            dropped_rows=sink.dropped_rows,
            problem=problem,
        )


class PredictionLogCollector(Collector):
    """The prediction log's row counts as Prometheus counters, read when /metrics is scraped."""

    def __init__(self, state: ServiceState) -> None:
        self.state = state

    def collect(self) -> Iterator[CounterMetricFamily]:
        status = self.state.prediction_log_status()
        yield CounterMetricFamily(
            "prediction_log_written_rows",
            "Served predictions written to the prediction log.",
            value=status.written_rows,
        )
        yield CounterMetricFamily(
            "prediction_log_dropped_rows",
            "Served predictions the prediction log lost (disk full or read-only, writer behind, "
            "or a log folder that could not be created).",
            value=status.dropped_rows,
        )


def load_predictor(settings: Settings, metrics_registry: CollectorRegistry) -> Predictor:
    """The model behind the configured alias, warmed up; NoModelError when there is none."""
    alias = settings.serving.model_alias
    model, version = load_model(settings, alias)
    loaded = LoadedModel(model, version, alias)
    # The warm-up below goes through the model directly, so it never reaches the prediction log.
    sink = open_prediction_log(settings.prediction_log)
    predictor = Predictor(loaded, settings.serving.batch_threads, metrics_registry, sink)
    # The first call pays LightGBM's and pandas' one-time set-up; no client should.
    predictor.loaded.predict([Trip.model_validate(EXAMPLE_TRIP)])
    logger.info("serving model {} version {} ({})", version.name, version.version, alias)
    return predictor


def validation_errors(error: RequestValidationError, max_trips: int) -> list[dict[str, Any]]:
    """Location, message and type of each problem; inputs are not echoed (they may be huge)."""
    problems = []
    for problem in error.errors():
        message = problem["msg"]
        if problem["type"] == "too_long" and tuple(problem["loc"]) == ("body", "trips"):
            message = f"at most {max_trips} trips per request: split the batch"
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


def add_prediction_endpoints(
    app: FastAPI, state: ServiceState, batch_request: type[BaseModel]
) -> None:
    """/predict and /predict/batch; they read their bodies themselves (see ``read_body``)."""

    @app.post(
        "/predict",
        response_model=Prediction,
        responses=BODY_ERRORS,
        tags=["model"],
        openapi_extra=json_body(Trip),
    )
    async def predict(request: Request) -> Response:
        """Predicted duration of one trip, in minutes, and the model version that predicted it."""
        trip = cast(Trip, await read_body(request, Trip))
        predictor = state.require_predictor()
        value = await predictor.predict_one(trip)
        prediction = Prediction(predicted_duration_minutes=value, model=model_ref(predictor.loaded))
        return json_response(prediction)

    @app.post(
        "/predict/batch",
        response_model=BatchPrediction,
        responses=BODY_ERRORS,
        tags=["model"],
        openapi_extra=json_body(batch_request),
    )
    async def predict_batch(request: Request) -> Response:
        """Predicted durations of up to the configured number of trips, in request order."""
        body = await read_body(request, batch_request)
        predictor = state.require_predictor()
        values = await predictor.predict_many(body.trips)  # type: ignore[attr-defined]
        logger.debug("predicted a batch of {} trips", len(values))
        batch = BatchPrediction(
            predicted_duration_minutes=values, model=model_ref(predictor.loaded)
        )
        return json_response(batch)

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
    ProcessCollector(registry=metrics_registry)
    PlatformCollector(registry=metrics_registry)
    metrics_registry.register(PredictionLogCollector(state))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            state.predictor = load_predictor(settings, metrics_registry)
        # Only "no model yet" starts the service without one; a model that cannot be loaded or
        # does not fit this code is a deployment error and must stop the start.
        except NoModelError as error:
            state.unavailable_reason = f"{error}, then restart the service"
            logger.warning("serving without a model: {}", error)
        # Everything loaded so far (libraries, the model) lives as long as the process: keep it
        # out of the garbage collector's full passes, which otherwise stall every request for
        # 100+ ms each time they walk those objects (measured as /predict p99 ~300 ms -> ~40 ms).
        gc.collect()
        gc.freeze()
        yield
        gc.unfreeze()
        if state.predictor is not None:
            state.predictor.close()

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

    @app.get("/model", response_model=ModelInfo, responses={503: NO_MODEL}, tags=["model"])
    async def model_info() -> ModelInfo:
        """The served model: version, training metrics, when it was trained, its features."""
        loaded = state.require_predictor().loaded
        metadata = loaded.version.metadata
        return ModelInfo(
            name=loaded.version.name,
            version=loaded.version.version,
            alias=loaded.alias,
            trained_at=str(metadata.get("trained_at") or loaded.version.created_at or "") or None,
            train_month=_text_or_none(metadata.get("train_month")),
            val_month=_text_or_none(metadata.get("val_month")),
            metrics=finite_or_none(loaded.version.metrics),
            features=list(loaded.model.feature_names),
        )

    add_prediction_endpoints(app, state, batch_request)
    Instrumentator(registry=metrics_registry, excluded_handlers=["/metrics"]).instrument(
        app
    ).expose(
        app,
        include_in_schema=True,
        tags=["operations"],
        response_class=PlainTextResponse,
        summary="Prometheus metrics",
        description="Request counts and latencies per endpoint, in Prometheus text format.",
    )
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=BODY_OVERHEAD_BYTES + BYTES_PER_TRIP * serving.max_batch_size,
        timeout=serving.body_timeout,
    )
    app.add_middleware(RequestContextMiddleware)  # outermost: ids and logs cover every answer
    return app


def json_response(body: BaseModel) -> Response:
    """A body built and validated by our own code, serialized once by pydantic.

    Returning a Response skips FastAPI's second validation of the body against the
    ``response_model`` (which still documents it), a large share of a prediction's cost.
    """
    return Response(content=body.model_dump_json(), media_type="application/json")


def model_ref(loaded: LoadedModel) -> ModelRef:
    return ModelRef(name=loaded.version.name, version=loaded.version.version)


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)
