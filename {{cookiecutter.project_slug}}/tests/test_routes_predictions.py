"""The prediction routes' own parts: the documented body, the explained-batch limit, the answer.

Predictions themselves, every bound and bad input, are checked through the app in ``test_api.py``.
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from {{ cookiecutter.package_name }}.serving.predictor import LoadedModel
from {{ cookiecutter.package_name }}.serving.routes.predictions import (
    check_explained_size,
    json_response,
    router,
)
from {{ cookiecutter.package_name }}.serving.schemas import (
    EXAMPLE_TRIP,
    BatchPrediction,
    ModelRef,
    Trip,
    batch_request_model,
)
from {{ cookiecutter.package_name }}.trip import (
    DISTANCE,
    DROPOFF_ZONE,
    FIRST_YEAR,
    LAST_YEAR,
    MAX_TRIP_DISTANCE_MILES,
    PICKUP,
    PICKUP_ZONE,
)


def openapi_of(limit: int) -> dict[str, Any]:
    app = FastAPI()
    app.include_router(router(batch_request_model(limit)))
    return app.openapi()


def body_schema(schema: dict[str, Any], path: str) -> dict[str, Any]:
    return schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]


def test_each_app_documents_its_own_batch_limit():
    small, large = openapi_of(4), openapi_of(4000)
    assert body_schema(small, "/predict/batch")["properties"]["trips"]["maxItems"] == 4
    assert body_schema(large, "/predict/batch")["properties"]["trips"]["maxItems"] == 4000


def test_the_bodies_are_documented_whole_with_bounds_errors_and_headers():
    schema = openapi_of(10)
    trip = body_schema(schema, "/predict")
    fields = trip["properties"]
    assert (fields[PICKUP_ZONE]["minimum"], fields[PICKUP_ZONE]["maximum"]) == (1, 265)
    assert (fields[DROPOFF_ZONE]["minimum"], fields[DROPOFF_ZONE]["maximum"]) == (1, 265)
    assert fields[DISTANCE]["minimum"] == 0
    assert fields[DISTANCE]["maximum"] == MAX_TRIP_DISTANCE_MILES
    # JSON Schema has no date bounds: the pattern carries the years (and real calendar days).
    pickup = re.compile(fields[PICKUP]["pattern"])
    assert pickup.search(f"{FIRST_YEAR}-01-01T00:00:00")
    assert pickup.search(f"{LAST_YEAR}-12-31 23:59")
    assert not pickup.search(f"{FIRST_YEAR - 1}-12-31T23:59:59")
    assert not pickup.search(f"{LAST_YEAR + 1}-01-01T00:00:00")
    assert trip["title"] == "Trip"
    assert trip["additionalProperties"] is False
    assert set(trip["required"]) == set(Trip.model_fields)
    assert trip["examples"]
    batch = body_schema(schema, "/predict/batch")
    assert batch["properties"]["trips"]["items"]["properties"] == fields
    assert '"$ref": "#/$defs/' not in json.dumps(schema)
    for path in ("/predict", "/predict/batch"):
        operation = schema["paths"][path]["post"]
        assert {"200", "400", "413", "422", "503"} <= set(operation["responses"])
        assert set(operation["responses"]["200"]["headers"]) == {"X-Model-Version", "X-Model-Role"}
        assert operation["tags"] == ["model"]


def test_the_explain_flag_and_the_answers_are_documented():
    schema = openapi_of(10)
    for path in ("/predict", "/predict/batch"):
        operation = schema["paths"][path]["post"]
        [flag] = [p for p in operation["parameters"] if p["name"] == "explain"]
        assert flag["in"] == "query"
        assert flag["schema"]["type"] == "boolean"
        assert "contribution" in flag["description"]
    components = schema["components"]["schemas"]
    assert "base_value" in components["Explanation"]["properties"]
    assert "explanation" in components["Prediction"]["properties"]
    assert "explanations" in components["BatchPrediction"]["properties"]


def test_an_explained_batch_over_its_limit_is_refused_on_the_query_flag():
    trips = [Trip.model_validate(EXAMPLE_TRIP)] * 3
    check_explained_size(trips, 3)
    with pytest.raises(RequestValidationError) as refused:
        check_explained_size(trips, 2)
    [problem] = refused.value.errors()
    assert problem["loc"] == ("query", "explain")
    assert "at most 2 trips" in problem["msg"]


def test_the_answer_names_its_model_and_leaves_out_what_was_not_asked():
    version = SimpleNamespace(name="trip-duration", version=7)
    answered_by = cast(LoadedModel, SimpleNamespace(version=version, role="challenger"))
    ref = ModelRef(name="trip-duration", version=7, role="challenger")
    response = json_response(
        BatchPrediction(predicted_duration_minutes=[1.5, 2.0], model=ref), answered_by
    )
    assert response.headers["X-Model-Version"] == "7"
    assert response.headers["X-Model-Role"] == "challenger"
    assert response.media_type == "application/json"
    body = json.loads(bytes(response.body))
    assert body == {"predicted_duration_minutes": [1.5, 2.0], "model": ref.model_dump()}
