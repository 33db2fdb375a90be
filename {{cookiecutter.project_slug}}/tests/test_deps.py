"""The serving dependencies: each app reads its own state, and they run on the event loop."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any, get_args

import pytest
from fastapi import FastAPI
from fastapi.params import Depends as DependsParam
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.serving import deps
from {{ cookiecutter.package_name }}.serving.app import create_app
from {{ cookiecutter.package_name }}.serving.deps import AppSettings, LogStatus, State
from {{ cookiecutter.package_name }}.serving.schemas import EXAMPLE_TRIP

ALIASES = (
    "State",
    "AppSettings",
    "Models",
    "RoutedPredictor",
    "LogStatus",
    "TripBody",
    "BatchBody",
)


def with_batch_limit(settings: Settings, limit: int) -> Settings:
    serving = settings.serving.model_copy(update={"max_batch_size": limit})
    return settings.model_copy(update={"serving": serving})


def probed(app: FastAPI) -> FastAPI:
    """``app`` with a route that answers what its dependencies give it."""

    @app.get("/probe")
    async def probe(state: State, settings: AppSettings, log: LogStatus) -> dict[str, Any]:
        return {
            "state": id(state),
            "limit": settings.serving.max_batch_size,
            "log_enabled": log.enabled,
        }

    return app


@pytest.fixture
def two_apps(settings: Settings) -> Iterator[tuple[TestClient, TestClient]]:
    first = probed(create_app(with_batch_limit(settings, 3)))
    second = probed(create_app(with_batch_limit(settings, 7)))
    with TestClient(first) as one, TestClient(second) as other:
        yield one, other


def test_two_apps_in_one_process_keep_their_own_state(two_apps):
    one, other = two_apps
    first, second = one.get("/probe").json(), other.get("/probe").json()
    assert first["state"] == id(one.app.state.service)  # type: ignore[attr-defined]
    assert second["state"] == id(other.app.state.service)  # type: ignore[attr-defined]
    assert first["state"] != second["state"]
    assert (first["limit"], second["limit"]) == (3, 7)
    assert first["log_enabled"] is False
    too_many = {"trips": [EXAMPLE_TRIP] * 4}
    refused = one.post("/predict/batch", json=too_many)
    assert refused.status_code == 422
    assert "at most 3 trips" in refused.json()["detail"][0]["msg"]
    assert other.post("/predict/batch", json=too_many).status_code == 503  # valid, no model


def test_without_a_model_the_model_dependencies_answer_503_with_the_reason(two_apps):
    one, _ = two_apps
    for response in (
        one.get("/model"),
        one.get("/ready"),
        one.post("/predict", json=EXAMPLE_TRIP),
    ):
        assert response.status_code == 503
        assert "run `train`" in response.json()["detail"]
    assert one.app.state.service.predictor is None  # type: ignore[attr-defined]


@pytest.mark.parametrize("alias", ALIASES)
def test_every_dependency_runs_on_the_event_loop(alias: str):
    """A plain ``def`` dependency would be run on FastAPI's thread pool for every request."""
    [_, marker] = get_args(getattr(deps, alias))
    assert isinstance(marker, DependsParam)
    assert inspect.iscoroutinefunction(marker.dependency)
