"""The demo form at /ui: mounted on the service, predicting with the service's own model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.serving.app import create_app
from {{ cookiecutter.package_name }}.serving.schemas import EXAMPLE_TRIP
from {{ cookiecutter.package_name }}.serving.ui import INPUT_LABELS
from {{ cookiecutter.package_name }}.train import TrainingResult

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(trained: tuple[Settings, TrainingResult]) -> Iterator[TestClient]:
    settings, _ = trained
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def submit(client: TestClient, *form: object) -> tuple[str, Any]:
    """Submit the form through Gradio's HTTP API: (event name, data) of the final event."""
    started = client.post("/ui/gradio_api/call/predict", json={"data": list(form)})
    assert started.status_code == 200, started.text
    stream = client.get(f"/ui/gradio_api/call/predict/{started.json()['event_id']}").text
    event, data = stream.strip().split("\n")[-2:]
    return event.removeprefix("event: "), json.loads(data.removeprefix("data: "))


def test_the_form_is_served_at_ui_with_zone_names(client: TestClient):
    page = client.get("/ui/")
    assert page.status_code == 200
    assert "gradio" in page.text.lower()
    config = client.get("/ui/config").json()
    text = json.dumps(config)
    assert "East Harlem North, Manhattan (74)" in text
    assert "Newark Airport, EWR (1)" in text


def test_the_form_predicts_what_the_api_predicts(client: TestClient):
    api = client.post("/predict?explain=true", json=EXAMPLE_TRIP).json()
    # EXAMPLE_TRIP, as a person types it into the form.
    event, (minutes, chart) = submit(client, 74, 42, 2.1, "2024-01-15 08:30")
    assert event == "complete"
    assert minutes == round(api["predicted_duration_minutes"], 2)
    bars = dict(chart["data"])
    assert set(bars) == {INPUT_LABELS[name] for name in api["explanation"]["contributions"]}
    for name, value in api["explanation"]["contributions"].items():
        assert bars[INPUT_LABELS[name]] == pytest.approx(value, abs=1e-3)


def test_the_form_refuses_what_the_api_refuses(client: TestClient):
    event, data = submit(client, 74, 42, -1, "2024-01-15 08:30")
    assert event == "error"
    assert "trip_distance" in json.dumps(data)
    event, data = submit(client, 74, 42, 2.1, "next tuesday")
    assert event == "error"
    assert "ISO 8601" in json.dumps(data)
