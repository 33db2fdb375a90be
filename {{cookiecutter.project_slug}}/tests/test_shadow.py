"""Shadow scoring never fails or holds up a request: a challenger that raises, or that hangs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pytest
from fastapi.testclient import TestClient
from loguru import logger
from prometheus_client import CollectorRegistry

from {{ cookiecutter.package_name }}.serving.app import create_app
from {{ cookiecutter.package_name }}.serving.metrics import ModelMetrics
from {{ cookiecutter.package_name }}.serving.schemas import EXAMPLE_TRIP
from {{ cookiecutter.package_name }}.serving.shadow import ShadowScorer
from {{ cookiecutter.package_name }}.versions import ModelVersion

pytestmark = pytest.mark.slow


@dataclass
class BadChallenger:
    """Stands in for a LoadedModel: raises, or waits for ``release`` before it answers."""

    fails: bool = False
    release: threading.Event = field(default_factory=threading.Event)
    version: ModelVersion = field(default_factory=lambda: ModelVersion("trial", 99, {}))
    role: str = "challenger"

    def predict_columns(self, columns: dict[str, np.ndarray], _: int | None = None) -> np.ndarray:
        if self.fails:
            raise RuntimeError("the challenger is broken")
        self.release.wait(timeout=60)
        return np.zeros(len(next(iter(columns.values()))))


def shadow_of(
    challenger: BadChallenger, max_pending: int
) -> tuple[ShadowScorer, CollectorRegistry]:
    registry = CollectorRegistry()
    metrics = ModelMetrics(registry)
    scorer = ShadowScorer(
        challenger,  # type: ignore[arg-type]
        metrics.series(99, "challenger"),
        max_pending=max_pending,
        dropped=metrics.shadow_dropped,
        failed=metrics.shadow_failed,
    )
    return scorer, registry


@pytest.fixture(scope="module")
def client(trained) -> Iterator[TestClient]:
    settings, _ = trained
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def champion_answer(client: TestClient) -> float:
    response = client.post("/predict", json=EXAMPLE_TRIP)
    assert response.status_code == 200, response.text
    assert response.headers["x-model-role"] == "champion"
    return response.json()["predicted_duration_minutes"]


def test_a_hanging_challenger_holds_up_no_request_and_its_backlog_is_dropped(client):
    expected = champion_answer(client)
    challenger = BadChallenger()
    scorer, registry = shadow_of(challenger, max_pending=3)
    champion = client.app.state.service.models.champion
    champion.shadow = scorer.submit
    try:
        # Each request would hang if it waited for the challenger, which waits for the release.
        answers = [champion_answer(client) for _ in range(10)]
    finally:
        champion.shadow = None
        challenger.release.set()
        scorer.close()
    assert answers == [expected] * 10
    assert (scorer.dropped_trips, scorer.scored_trips) == (7, 3)
    assert registry.get_sample_value("shadow_dropped_trips_total") == 7


def test_a_failing_challenger_fails_no_request_and_is_counted(client):
    expected = champion_answer(client)
    scorer, registry = shadow_of(BadChallenger(fails=True), max_pending=100)
    champion = client.app.state.service.models.champion
    champion.shadow = scorer.submit
    lines: list[str] = []
    sink = logger.add(lines.append, format="{message}", level="ERROR", diagnose=False)
    try:
        answers = [champion_answer(client) for _ in range(5)]
    finally:
        champion.shadow = None
        scorer.close()
        logger.remove(sink)
    assert answers == [expected] * 5
    assert (scorer.failed_trips, scorer.scored_trips) == (5, 0)
    assert registry.get_sample_value("shadow_failed_trips_total") == 5
    failures = [line for line in lines if "shadow model version 99 failed" in line]
    assert len(failures) == 1  # not one per trip
