"""The service's error answers: 400 for malformed JSON, 422 with every problem, a generic 500."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.serving.app import create_app
from {{ cookiecutter.package_name }}.serving.errors import validation_errors
from {{ cookiecutter.package_name }}.zones import UNKNOWN_ZONE_MESSAGE


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)

    @app.get("/broken")
    async def broken() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_malformed_json_is_400_with_the_reason(client: TestClient):
    response = client.post(
        "/predict", content=b'{"PULocationID": 74,', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("malformed JSON: ")


def test_an_invalid_body_is_422_with_every_problem(client: TestClient):
    response = client.post("/predict/batch", json={"trips": [{"PULocationID": 0}]})
    assert response.status_code == 422
    problems = response.json()["detail"]
    assert {tuple(problem["loc"][-1:]) for problem in problems} == {
        ("PULocationID",),
        ("DOLocationID",),
        ("trip_distance",),
        ("pickup_datetime",),
    }
    assert all(set(problem) == {"loc", "msg", "type"} for problem in problems)


def test_an_unexpected_error_is_a_generic_500(client: TestClient):
    response = client.get("/broken")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error, see the logs"}


def test_messages_name_the_batch_limit_and_the_zone_range():
    error = RequestValidationError(
        [
            {"loc": ("body", "trips"), "msg": "at most 9 items", "type": "too_long"},
            {"loc": ("body", "DOLocationID"), "msg": "<= 265", "type": "less_than_equal"},
            {"loc": ("body", "trip_distance"), "msg": "<= 200", "type": "less_than_equal"},
        ]
    )
    assert validation_errors(error, 9) == [
        {
            "loc": ["body", "trips"],
            "msg": "at most 9 trips per request: split the batch",
            "type": "too_long",
        },
        {"loc": ["body", "DOLocationID"], "msg": UNKNOWN_ZONE_MESSAGE, "type": "less_than_equal"},
        {"loc": ["body", "trip_distance"], "msg": "<= 200", "type": "less_than_equal"},
    ]
