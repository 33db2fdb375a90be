"""The one-pass JSON body through a small app of its own: what it accepts, refuses and documents."""

from __future__ import annotations

import json
import threading
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field, model_validator

from {{ cookiecutter.package_name }}.serving.json_body import (
    THREAD_PARSE_MIN_BYTES,
    inline_refs,
    is_json,
    json_body,
    request_body,
)


class Point(BaseModel):
    x: int = Field(ge=0)
    y: float


class Route(BaseModel):
    """Points, and the thread that validated them (to see where a large body was parsed)."""

    points: list[Point]
    label: str = ""
    parsed_on: str = ""

    @model_validator(mode="after")
    def note_thread(self) -> Route:
        self.parsed_on = threading.current_thread().name
        return self


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()

    @app.post("/paths", openapi_extra=request_body(Route))
    async def echo(route: Annotated[Route, Depends(json_body(Route))]) -> dict[str, Any]:
        return {"points": len(route.points), "first": route.points[0].x, "on": route.parsed_on}

    return TestClient(app)


def test_a_valid_body_is_parsed_on_the_event_loop(client: TestClient):
    response = client.post("/paths", json={"points": [{"x": 3, "y": 1.5}]})
    assert response.status_code == 200, response.text
    assert response.json()["first"] == 3
    assert not response.json()["on"].startswith("parse")


def test_a_large_body_is_parsed_on_the_parse_thread(client: TestClient):
    points = [{"x": index, "y": 0.5} for index in range(THREAD_PARSE_MIN_BYTES // 10)]
    body = json.dumps({"points": points}).encode()
    assert len(body) >= THREAD_PARSE_MIN_BYTES
    response = client.post("/paths", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert response.json()["points"] == len(points)
    assert response.json()["on"].startswith("parse")


@pytest.mark.parametrize(
    ("body", "loc", "kind"),
    [
        ({"points": [{"x": -1, "y": 1.0}]}, ["body", "points", 0, "x"], "greater_than_equal"),
        ({"points": [{"x": 1}]}, ["body", "points", 0, "y"], "missing"),
    ],
)
def test_invalid_fields_are_located_in_the_body(
    client: TestClient, body: dict[str, Any], loc: list[Any], kind: str
):
    response = client.post("/paths", json=body)
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert (problem["loc"], problem["type"]) == (loc, kind)
    assert "input" not in problem  # a huge body is never echoed


def test_malformed_empty_and_non_json_bodies_are_refused(client: TestClient):
    malformed = client.post(
        "/paths", content=b'{"points": [', headers={"Content-Type": "application/json"}
    )
    assert malformed.json()["detail"][0]["type"] == "json_invalid"
    empty = client.post("/paths", headers={"Content-Type": "application/json"})
    assert empty.json()["detail"] == [{"loc": ["body"], "msg": "Field required", "type": "missing"}]
    text = client.post("/paths", content=b"{}", headers={"Content-Type": "text/plain"})
    assert text.status_code == 422
    assert text.json()["detail"][0]["type"] == "content_type"


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        (None, True),
        ("application/json", True),
        ("Application/JSON; charset=utf-8", True),
        ("application/merge-patch+json", True),
        ("text/plain", False),
        ("application/x-www-form-urlencoded", False),
        ("text/json", False),
    ],
)
def test_what_counts_as_json_is_what_fastapi_reads_as_json(content_type: str | None, expected):
    assert is_json(content_type) is expected


def test_the_route_documents_the_body_whole(client: TestClient):
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/paths"]["post"]["requestBody"]
    assert body["required"] is True
    path = body["content"]["application/json"]["schema"]
    assert "$ref" not in json.dumps(path)  # nothing points at components FastAPI did not write
    assert path["title"] == "Route"
    point = path["properties"]["points"]["items"]
    assert point["properties"]["x"]["minimum"] == 0
    assert point["required"] == ["x", "y"]


def test_inline_refs_keeps_what_sits_beside_a_reference():
    definitions = {"Point": {"type": "object", "title": "Point"}}
    node = {"a": [{"$ref": "#/$defs/Point", "description": "where"}], "b": {"type": "string"}}
    assert inline_refs(node, definitions) == {
        "a": [{"type": "object", "title": "Point", "description": "where"}],
        "b": {"type": "string"},
    }
