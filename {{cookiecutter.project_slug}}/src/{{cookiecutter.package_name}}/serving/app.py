"""The prediction API: the FastAPI app factory, run by ``cli serve`` (uvicorn, ``factory=True``).

``create_app`` only assembles: the app's state (``deps.ServiceState``), the lifespan that loads
the models, the error handlers, the routers of ``routes/``, the metrics and the middleware.

The model is loaded once, at start, from the registry alias in the settings. Without one the
service still starts, so that an orchestrator sees it alive (``/health``) but not ready
(``/ready`` answers 503), and ``/predict`` says what to do instead of failing.
"""

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import APIRouter, FastAPI
from loguru import logger
from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_fastapi_instrumentator import Instrumentator

from .. import __doc__ as package_doc
from .. import __version__
from ..config import Settings, load_settings
from ..logs import setup_logging
from ..prediction_log import open_prediction_log
from ..versions import NoModelError
from .deps import ServiceState
from .errors import add_error_handlers
from .metrics import ModelMetrics, PredictionLogCollector
from .middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from .models import load_models
from .routes import admin, model, operations, predictions
from .schemas import batch_request_model
{%- if cookiecutter.ui == "gradio" %}
from .ui import mount_ui
{%- endif %}

# Generous for JSON trips (about 120 bytes each), small enough to refuse a runaway upload early.
BYTES_PER_TRIP = 512
BODY_OVERHEAD_BYTES = 64 * 1024


def new_state(settings: Settings) -> ServiceState:
    """A new app's state, with its own metrics registry: several apps (tests) live in a process."""
    registry = CollectorRegistry()
    state = ServiceState(
        settings=settings,
        batch_request=batch_request_model(settings.serving.max_batch_size),
        model_metrics=ModelMetrics(registry),
        metrics_registry=registry,
    )
    log_collector = PredictionLogCollector(state)
    registry.register(log_collector)
    # CPU, memory and Python facts of this process, and the log's row counts: with several
    # workers, /metrics adds these to the workers' files (they cannot be added up).
    state.process_collectors = [
        ProcessCollector(registry=registry),
        PlatformCollector(registry=registry),
        log_collector,
    ]
    return state


def lifespan(state: ServiceState) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Open the prediction log and load the models at start; close both at the end."""

    @asynccontextmanager
    async def run(_: FastAPI) -> AsyncIterator[None]:
        state.sink = open_prediction_log(state.settings.prediction_log)
        try:
            state.models = load_models(state.settings, state.model_metrics, state.sink)
        # Only "no model yet" starts the service without one; a model that cannot be loaded or
        # does not fit this code is a deployment error and must stop the start.
        except NoModelError as error:
            state.unavailable_reason = f"{error}, then restart the service"
            logger.warning("serving without a model: {}", error)
        # Everything loaded so far (libraries, the model) lives as long as the process: keep it
        # out of the garbage collector's full passes, which otherwise stall requests each time
        # they walk those objects (docs/benchmarks.md).
        gc.collect()
        gc.freeze()
        yield
        gc.unfreeze()
        if state.models is not None:
            state.models.close()
        state.sink.close()

    return run


def include(app: FastAPI, router: APIRouter) -> None:
    """``app.include_router(router)`` as FastAPI did it before 0.137: the routes go on the app.

    Since 0.137 FastAPI includes a router as one lazy route without a ``path``, on which
    prometheus-fastapi-instrumentator 7 fails every request when it names the handler (8 copes,
    but needs Starlette 1). The routes of ``router`` are complete (its tags, responses and
    dependencies are in them) and hold no app's state, so several apps can share them.
    """
    app.router.routes.extend(router.routes)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service, configured from ``settings`` (default: read them and set up logging)."""
    if settings is None:
        settings = load_settings()
        setup_logging(settings.logging)
    serving = settings.serving
    state = new_state(settings)
    name, _, summary = (package_doc or "").strip().partition("\n")
    app = FastAPI(
        title=f"{name.rstrip('.')} API",
        version=__version__,
        description=(
            f"{' '.join(summary.split())}\n\nEvery response carries an `X-Request-ID` header "
            "(the caller's, when it sends one)."
        ),
        lifespan=lifespan(state),
    )
    app.state.service = state  # what deps.py reads; also for operators' debugging and tests
    add_error_handlers(app)
    include(app, operations.router)
    include(app, model.router)
    include(app, predictions.router(state.batch_request))
    if serving.reload_enabled and serving.reload_token is not None:
        include(app, admin.router)
{%- if cookiecutter.ui == "gradio" %}
    mount_ui(app, state.require_predictor, settings)
{%- endif %}
    Instrumentator(registry=state.metrics_registry, excluded_handlers=["/metrics"]).instrument(app)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=BODY_OVERHEAD_BYTES + BYTES_PER_TRIP * serving.max_batch_size,
        timeout=serving.body_timeout,
    )
    app.add_middleware(RequestContextMiddleware)  # outermost: ids and logs cover every answer
    return app
