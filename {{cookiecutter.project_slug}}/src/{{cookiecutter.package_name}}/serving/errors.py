"""How the service answers what goes wrong, and how the OpenAPI schema documents it.

Malformed JSON is 400, a body or query that is JSON but invalid is 422 with every problem found
(inputs not echoed: they may be huge), anything unexpected a generic 500 whose traceback goes to
the log, never to the client.
"""

from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from loguru import logger

from ..trip import DROPOFF_ZONE, PICKUP_ZONE
from ..zones import UNKNOWN_ZONE_MESSAGE
from .deps import service_of
from .schemas import ErrorMessage, InvalidBody

ZONE_FIELDS = (PICKUP_ZONE, DROPOFF_ZONE)
OUT_OF_RANGE = ("greater_than_equal", "less_than_equal")


def error_response(description: str, example: str) -> dict[str, Any]:
    """An error answer as ``responses=`` documents it: the model, when, and an example."""
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


async def invalid_request(request: Request, error: Exception) -> JSONResponse:
    """400 for malformed JSON, else 422 with every problem."""
    problems = cast(RequestValidationError, error)
    for problem in problems.errors():
        if problem["type"] == "json_invalid":
            reason = problem.get("ctx", {}).get("error", "JSON decode error")
            return JSONResponse(status_code=400, content={"detail": f"malformed JSON: {reason}"})
    max_trips = service_of(request).settings.serving.max_batch_size
    return JSONResponse(status_code=422, content={"detail": validation_errors(problems, max_trips)})


async def unexpected(_: Request, error: Exception) -> JSONResponse:
    """A last resort: the traceback goes to the log, never to the client."""
    logger.opt(exception=error).error("unhandled error")
    return JSONResponse(status_code=500, content={"detail": "internal error, see the logs"})


def add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Exception, unexpected)
