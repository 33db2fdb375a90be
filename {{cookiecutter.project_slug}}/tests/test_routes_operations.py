"""GET /health, /ready and /metrics of a service that has no model yet (fast: nothing trained).

With a model, ``test_api.py`` checks /ready's answer and the per-endpoint metrics.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.serving.app import create_app


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_health_needs_no_model_and_ready_says_why_not(client: TestClient):
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 503
    assert "run `train`" in ready.json()["detail"]


def test_metrics_are_prometheus_text_with_the_process_and_log_counters(client: TestClient):
    client.get("/health")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'http_requests_total{handler="/health",method="GET",status="2xx"} 1.0' in text
    assert "prediction_log_dropped_rows_total 0.0" in text
    assert "process_cpu_seconds_total" in text
    assert 'handler="/metrics"' not in text  # scrapes are not counted as traffic


def test_the_operations_are_documented(client: TestClient):
    paths = client.get("/openapi.json").json()["paths"]
    assert paths["/health"]["get"]["tags"] == ["operations"]
    assert "503" in paths["/ready"]["get"]["responses"]
    assert "text/plain" in paths["/metrics"]["get"]["responses"]["200"]["content"]
