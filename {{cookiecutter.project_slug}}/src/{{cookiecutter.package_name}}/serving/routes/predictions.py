"""POST /predict and /predict/batch: predicted durations, optionally explained.

The bodies are read with the one-pass JSON body (``json_body.py``); the answers are serialized
once by pydantic and name the model that answered, in the body and in headers.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from loguru import logger
from pydantic import BaseModel

from ..deps import AppSettings, BatchBody, RoutedPredictor, TripBody
from ..errors import BODY_ERRORS
from ..json_body import request_body
from ..predictor import LoadedModel
from ..schemas import BatchPrediction, Explanation, Prediction, Trip, TripBatch
from .model import model_ref

# A query flag, so that the default answer (and its speed) stays what it was without it.
Explain = Annotated[
    bool,
    Query(
        description="Also return each model input's contribution (LightGBM's exact TreeSHAP); "
        "the base value plus the contributions add up to the prediction. An operator may limit "
        "the trips of a batch asking for explanations (`SERVING__MAX_EXPLAINED_TRIPS`)."
    ),
]
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


async def predict(trip: TripBody, predictor: RoutedPredictor, explain: Explain = False) -> Response:
    """Predicted duration of one trip, in minutes, and the model version that predicted it.

    In canary mode, the `X-Client-Key` header (else `X-Request-ID`) decides which model
    answers: the same key always gets the same model."""
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


async def predict_batch(
    body: BatchBody, predictor: RoutedPredictor, settings: AppSettings, explain: Explain = False
) -> Response:
    """Predicted durations of up to the configured number of trips, in request order (in
    canary mode, all by the one model that the request's key is routed to)."""
    trips = body.trips
    if explain:
        serving = settings.serving
        check_explained_size(trips, serving.max_explained_trips or serving.max_batch_size)
        values, explained = await predictor.explain_many(trips)
        batch = BatchPrediction(
            predicted_duration_minutes=values,
            model=model_ref(predictor.loaded),
            explanations=[Explanation.model_validate(why) for why in explained.rows()],
        )
        return json_response(batch, predictor.loaded)
    values = await predictor.predict_many(trips)
    logger.debug("predicted a batch of {} trips", len(values))
    batch = BatchPrediction(predicted_duration_minutes=values, model=model_ref(predictor.loaded))
    return json_response(batch, predictor.loaded)


def router(batch_request: type[TripBatch]) -> APIRouter:
    """The two routes of an app; its batch body's schema carries the app's batch limit."""
    routes = APIRouter(tags=["model"], responses={**BODY_ERRORS, 200: ANSWERED_BY})
    for path, endpoint, answer, body in (
        ("/predict", predict, Prediction, Trip),
        ("/predict/batch", predict_batch, BatchPrediction, batch_request),
    ):
        routes.add_api_route(
            path,
            endpoint,
            methods=["POST"],
            response_model=answer,
            openapi_extra=request_body(body),
        )
    return routes


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
