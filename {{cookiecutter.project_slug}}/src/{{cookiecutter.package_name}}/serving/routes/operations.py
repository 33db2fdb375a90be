"""GET /health, /ready and /metrics: what an orchestrator and Prometheus ask."""

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from ..deps import LogStatus, Models, State
from ..errors import NO_MODEL
from ..metrics import exposition
from ..schemas import Readiness, Status
from .model import model_ref

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=Status)
async def health() -> Status:
    """Liveness: the process answers. Needs no model."""
    return Status(status="ok")


@router.get("/ready", response_model=Readiness, responses={503: NO_MODEL})
async def ready(models: Models, prediction_log: LogStatus) -> Readiness:
    """Readiness: a model is loaded and predictions can be served; what the prediction
    log kept and lost (a lost row does not make the service unready)."""
    return Readiness(
        status="ready", model=model_ref(models.champion.loaded), prediction_log=prediction_log
    )


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    summary="Prometheus metrics",
    description="Request counts and latencies per endpoint, and per model (version and role): "
    "requests, latency, predicted durations, model calls; in Prometheus text format. With "
    "several workers, the counters and histograms of all workers added up.",
)
def metrics(state: State) -> Response:
    # A plain def (FastAPI's thread pool): collecting every worker's files reads the disk.
    text = exposition(state.metrics_registry, state.process_collectors)
    return Response(text, media_type=CONTENT_TYPE_LATEST)
