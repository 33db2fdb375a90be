"""The prediction API through its ASGI interface: answers, every bound, bad input, no model.

``TestClient`` runs the app's lifespan, so the model is loaded exactly as ``serve`` loads it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from loguru import logger
from pydantic import BaseModel

import {{ cookiecutter.package_name }}.serving.app as app_module
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.data import split_for_inference, to_trips
from {{ cookiecutter.package_name }}.features import FEATURE_NAMES
from {{ cookiecutter.package_name }}.model import TripDurationModel
from {{ cookiecutter.package_name }}.predict import predict_file
from {{ cookiecutter.package_name }}.registry import load_model
from {{ cookiecutter.package_name }}.serving.app import create_app
from {{ cookiecutter.package_name }}.serving.predictor import LoadedModel
from {{ cookiecutter.package_name }}.train import TrainingResult
from {{ cookiecutter.package_name }}.trip import (
    FIRST_YEAR,
    INFERENCE_COLUMNS,
    LAST_YEAR,
    MAX_LOCATION_ID,
    MAX_TRIP_DISTANCE_MILES,
    MIN_LOCATION_ID,
    MIN_TRIP_DISTANCE_MILES,
    PREDICTION,
)

from .helpers import SAMPLE_DIR

pytestmark = pytest.mark.slow

TRIP: dict[str, Any] = {
    "PULocationID": 74,
    "DOLocationID": 42,
    "trip_distance": 2.1,
    "pickup_datetime": "2024-01-15T08:30:00",
}
SMALL_BATCH_LIMIT = 5


def with_(**changes: Any) -> dict[str, Any]:
    return {**TRIP, **changes}


@pytest.fixture(scope="module")
def client(trained: tuple[Settings, TrainingResult]) -> Iterator[TestClient]:
    settings, _ = trained
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def small_client(trained: tuple[Settings, TrainingResult]) -> Iterator[TestClient]:
    """A service whose batch limit is small enough to exceed cheaply."""
    settings, _ = trained
    small = settings.model_copy(
        update={
            "serving": settings.serving.model_copy(update={"max_batch_size": SMALL_BATCH_LIMIT})
        }
    )
    with TestClient(create_app(small)) as test_client:
        yield test_client


@pytest.fixture
def untrained_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def predicted(client: TestClient, trip: dict[str, Any]) -> float:
    response = client.post("/predict", json=trip)
    assert response.status_code == 200, response.text
    return response.json()["predicted_duration_minutes"]


def test_health_and_ready(client: TestClient, trained):
    _, result = trained
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["model"]["version"] == result.version.version


def test_predict_one_trip(client: TestClient, trained):
    _, result = trained
    response = client.post("/predict", json=TRIP)
    assert response.status_code == 200, response.text
    body = response.json()
    assert 0 < body["predicted_duration_minutes"] < 120
    version = result.version
    assert body["model"] == {"name": version.name, "version": version.version, "role": "champion"}
    assert response.headers["x-model-version"] == str(version.version)
    assert response.headers["x-model-role"] == "champion"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("PULocationID", 1),
        ("PULocationID", MAX_LOCATION_ID),
        ("DOLocationID", 1),
        ("DOLocationID", MAX_LOCATION_ID),
        ("PULocationID", 94.0),  # JSON Schema's integer includes 94.0
        ("trip_distance", 0),
        ("trip_distance", MAX_TRIP_DISTANCE_MILES),
        ("trip_distance", 3),
        ("pickup_datetime", "2024-01-15 08:30"),
        ("pickup_datetime", "2024-01-15T08:30:00.123456+01:00"),
        ("pickup_datetime", "2009-01-01T00:00:00"),
        ("pickup_datetime", "2099-12-31T23:59:59.999999"),
        ("pickup_datetime", "2009-01-01T00:00:00+05:00"),  # the year as written counts
        ("pickup_datetime", "2012-02-29t08:30z"),
    ],
)
def test_values_on_the_bounds_are_accepted(client: TestClient, field: str, value: Any):
    assert predicted(client, with_(**{field: value})) >= 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("PULocationID", 0),
        ("PULocationID", MAX_LOCATION_ID + 1),
        ("DOLocationID", 0),
        ("DOLocationID", MAX_LOCATION_ID + 1),
        ("PULocationID", 74.5),
        ("PULocationID", "74"),
        ("PULocationID", True),
        ("PULocationID", None),
        ("trip_distance", -0.01),
        ("trip_distance", MAX_TRIP_DISTANCE_MILES + 0.01),
        ("trip_distance", "2.1"),
        ("trip_distance", False),
        ("trip_distance", [2.1]),
        ("pickup_datetime", 1705307400),
        ("pickup_datetime", "1705307400"),
        ("pickup_datetime", "2024-01-15"),
        ("pickup_datetime", "2024-01-15T25:00:00"),
        ("pickup_datetime", "next tuesday"),
        ("pickup_datetime", "2008-12-31T23:59:59"),
        ("pickup_datetime", "2100-01-01T00:00:00"),
        ("pickup_datetime", "0001-01-01T00:00:00+05:00"),
        ("pickup_datetime", "9999-12-31T23:59:59-05:00"),
        ("pickup_datetime", "2023-02-29T08:30:00"),
        ("pickup_datetime", "2024-01-15T08:30:00\n"),
    ],
)
def test_values_out_of_bounds_or_of_the_wrong_type_are_422(
    client: TestClient, field: str, value: Any
):
    response = client.post("/predict", json=with_(**{field: value}))
    assert response.status_code == 422, response.text
    problems = response.json()["detail"]
    assert [problem["loc"] for problem in problems] == [["body", field]]
    assert problems[0]["msg"]


def test_missing_and_extra_fields_are_422(client: TestClient):
    missing = {key: value for key, value in TRIP.items() if key != "trip_distance"}
    response = client.post("/predict", json=missing)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "trip_distance"]

    response = client.post("/predict", json=with_(fare_amount=12.5))
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "extra_forbidden"

    assert client.post("/predict", json=[TRIP]).status_code == 422
    assert client.post("/predict").status_code == 422


def test_an_offset_is_converted_to_new_york_time(client: TestClient):
    local = predicted(client, with_(pickup_datetime="2024-01-15T08:30:00"))
    assert predicted(client, with_(pickup_datetime="2024-01-15T13:30:00Z")) == local  # EST
    assert predicted(client, with_(pickup_datetime="2024-07-15T12:30:00Z")) == predicted(
        client, with_(pickup_datetime="2024-07-15T08:30:00")  # EDT
    )


def test_batch_keeps_the_order_and_matches_single_predictions(client: TestClient, trained):
    _, result = trained
    trips = [with_(PULocationID=zone, trip_distance=zone / 10) for zone in (7, 74, 132, 265)]
    response = client.post("/predict/batch", json={"trips": trips})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["predicted_duration_minutes"] == [predicted(client, trip) for trip in trips]
    assert body["model"]["version"] == result.version.version
    empty = client.post("/predict/batch", json={"trips": []})
    assert empty.json()["predicted_duration_minutes"] == []


def test_batch_over_the_limit_is_refused_with_the_limit(small_client: TestClient):
    at_limit = small_client.post("/predict/batch", json={"trips": [TRIP] * SMALL_BATCH_LIMIT})
    assert at_limit.status_code == 200
    response = small_client.post("/predict/batch", json={"trips": [TRIP] * (SMALL_BATCH_LIMIT + 1)})
    assert response.status_code == 422
    assert f"at most {SMALL_BATCH_LIMIT} trips" in response.json()["detail"][0]["msg"]


def test_a_body_over_the_size_limit_is_413(small_client: TestClient):
    huge = {"trips": [with_(pickup_datetime="2024-01-15T08:30:00.000000+00:00")] * 2000}
    response = small_client.post("/predict/batch", json=huge)
    assert response.status_code == 413
    assert "send fewer trips" in response.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it is read
        yield b'{"trips": ['
        for _ in range(2000):
            yield b'{"PULocationID": 74, "DOLocationID": 42, "trip_distance": 2.1, '
            yield b'"pickup_datetime": "2024-01-15T08:30:00"},'
        yield b"]}"

    chunked = small_client.post(
        "/predict/batch", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert chunked.status_code == 413


def test_without_a_model_the_service_is_alive_but_not_ready(untrained_client: TestClient):
    assert untrained_client.get("/health").status_code == 200
    for response in (
        untrained_client.get("/ready"),
        untrained_client.get("/model"),
        untrained_client.post("/predict", json=TRIP),
        untrained_client.post("/predict/batch", json={"trips": [TRIP]}),
    ):
        assert response.status_code == 503
        assert "run `train`" in response.json()["detail"]


def test_request_ids_are_returned_and_logged(client: TestClient):
    lines: list[str] = []
    sink = logger.add(lines.append, format="{message}", level="INFO")
    try:
        given = client.get("/health", headers={"X-Request-ID": "abc-123"})
        generated = client.post("/predict", json=TRIP)
        refused = client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    finally:
        logger.remove(sink)
    assert given.headers["X-Request-ID"] == "abc-123"
    assert len(generated.headers["X-Request-ID"]) == 32
    assert refused.headers["X-Request-ID"] != "bad id\twith spaces"
    assert any(line.startswith("GET /health 200") and "abc-123" in line for line in lines)
    request_id = generated.headers["X-Request-ID"]
    assert any(line.startswith("POST /predict 200") and request_id in line for line in lines)


def test_metrics_count_requests(client: TestClient):
    client.post("/predict", json=TRIP)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'handler="/predict"' in response.text
    assert "http_request_duration_seconds" in response.text


def test_an_unexpected_error_is_a_generic_500(trained, monkeypatch: pytest.MonkeyPatch):
    settings, _ = trained

    def broken(*_: object) -> list[float]:
        raise RuntimeError("model exploded")

    with TestClient(create_app(settings), raise_server_exceptions=False) as failing:
        # After start-up (which calls the model once), so that the lifespan succeeds.
        monkeypatch.setattr(LoadedModel, "predict_matrix", broken)
        single = failing.post("/predict", json=TRIP)
        batch = failing.post("/predict/batch", json={"trips": [TRIP]})
    for response in (single, batch):
        assert response.status_code == 500
        assert response.json() == {"detail": "internal error, see the logs"}


def test_served_predictions_reach_the_prediction_log(trained, tmp_path: Path):
    settings, result = trained
    log_settings = settings.prediction_log.model_copy(
        update={"enabled": True, "dir": tmp_path / "log", "max_rows": 1_000_000}
    )
    with TestClient(
        create_app(settings.model_copy(update={"prediction_log": log_settings}))
    ) as app:
        single = predicted(app, TRIP)
        batch = app.post("/predict/batch", json={"trips": [TRIP, with_(trip_distance=7.0)]})
    # Closing the app wrote what was waiting; the start-up warm-up is not a served prediction.
    logged = pd.concat(pd.read_parquet(path) for path in sorted((tmp_path / "log").iterdir()))
    assert logged["predicted_duration"].tolist() == [
        single,
        *batch.json()["predicted_duration_minutes"],
    ]
    assert (logged["model_version"].astype(int) == result.version.version).all()
    assert logged["PULocationID"].tolist() == [74, 74, 74]


def with_prediction_log(settings: Settings, **changes: Any) -> Settings:
    log = settings.prediction_log.model_copy(update={"enabled": True, **changes})
    return settings.model_copy(update={"prediction_log": log})


def test_ready_and_metrics_count_the_rows_the_prediction_log_drops(trained, tmp_path: Path):
    settings, _ = trained
    logged = with_prediction_log(
        settings, dir=tmp_path / "log", max_rows=1_000_000, max_seconds=3600.0, max_pending=2
    )
    with TestClient(create_app(logged)) as app:
        assert app.post("/predict/batch", json={"trips": [TRIP] * 3}).status_code == 200
        assert app.post("/predict", json=TRIP).status_code == 200
        ready = app.get("/ready")
        metrics = app.get("/metrics").text
    assert ready.status_code == 200  # a lost row does not stop predictions
    assert ready.json()["prediction_log"] == {
        "enabled": True,
        "written_rows": 0,  # the single trip waits for close or a full file
        "dropped_rows": 3,  # the batch was over max_pending
        "problem": None,
    }
    assert "prediction_log_dropped_rows_total 3.0" in metrics
    assert "prediction_log_written_rows_total 0.0" in metrics


def test_the_service_starts_when_the_log_folder_cannot_be_created(trained, tmp_path: Path):
    settings, _ = trained
    blocker = tmp_path / "read-only"
    blocker.write_text("a file where the log's parent folder should be", encoding="utf-8")
    with TestClient(create_app(with_prediction_log(settings, dir=blocker / "log"))) as app:
        assert app.post("/predict", json=TRIP).status_code == 200
        ready = app.get("/ready")
    assert ready.status_code == 200
    status = ready.json()["prediction_log"]
    assert status["enabled"] is False
    assert "cannot create the folder" in status["problem"]
    assert status["dropped_rows"] == 1


def test_health_and_single_trips_answer_while_a_batch_body_is_parsed(
    trained, monkeypatch: pytest.MonkeyPatch
):
    """A large body is parsed on a worker thread: held there, it leaves the event loop free."""
    settings, _ = trained
    parsing, release, parsed = threading.Event(), threading.Event(), threading.Event()
    batch_request_model = app_module.batch_request_model

    def held_batch_request_model(max_trips: int) -> type[BaseModel]:
        class HeldBatchRequest(batch_request_model(max_trips)):  # type: ignore[misc]
            @classmethod
            def model_validate_json(cls, raw: Any, **options: Any) -> Any:
                parsing.set()
                release.wait(timeout=20)  # not set in time if this blocks the loop: then it fails
                try:
                    return super().model_validate_json(raw, **options)
                finally:
                    parsed.set()

        return HeldBatchRequest

    monkeypatch.setattr(app_module, "batch_request_model", held_batch_request_model)
    trips = [with_(trip_distance=1.0 + index / 100) for index in range(1000)]

    async def scenario() -> tuple[int, int, bool, int]:
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                batch = asyncio.create_task(http.post("/predict/batch", json={"trips": trips}))
                while not parsing.is_set():
                    await asyncio.sleep(0.01)
                health = await http.get("/health")
                single = await http.post("/predict", json=TRIP)
                answered_during_parse = not parsed.is_set()
                release.set()
                done = await batch
        return health.status_code, single.status_code, answered_during_parse, done.status_code

    health, single, answered_during_parse, batch = asyncio.run(scenario())
    assert (health, single, batch) == (200, 200, 200)
    assert answered_during_parse


def sample_rows(count: int) -> pd.DataFrame:
    """Real, valid rows of the bundled sample, as the batch job reads them."""
    raw = pd.read_parquet(SAMPLE_DIR / "green_tripdata_2024-01.parquet")
    valid, _ = split_for_inference(to_trips(raw, INFERENCE_COLUMNS, "sample"))
    return raw.loc[valid.index[:count]].reset_index(drop=True)


def as_request(row: pd.Series) -> dict[str, Any]:
    return {
        "PULocationID": int(row["PULocationID"]),
        "DOLocationID": int(row["DOLocationID"]),
        "trip_distance": float(row["trip_distance"]),
        "pickup_datetime": row["lpep_pickup_datetime"].isoformat(),
    }


def test_api_predictions_equal_the_batch_job(client: TestClient, trained, tmp_path: Path):
    settings, _ = trained
    rows = sample_rows(200)
    source, target = tmp_path / "rows.parquet", tmp_path / "scored.parquet"
    rows.to_parquet(source)
    model, _ = load_model(settings)
    summary = predict_file(source, target, model)  # what `cli predict` runs
    assert summary.predicted == len(rows)
    expected = pd.read_parquet(target)[PREDICTION].tolist()

    requests = [as_request(row) for _, row in rows.iterrows()]
    batch = client.post("/predict/batch", json={"trips": requests}).json()
    assert batch["predicted_duration_minutes"] == expected
    assert [predicted(client, trip) for trip in requests[:20]] == expected[:20]


# Both sides of every bound, and far outside the dates (the API once took years 1 and 9999).
ZONES = (MIN_LOCATION_ID - 1, MIN_LOCATION_ID, MAX_LOCATION_ID, MAX_LOCATION_ID + 1)
DISTANCES = (
    MIN_TRIP_DISTANCE_MILES - 0.01,
    MIN_TRIP_DISTANCE_MILES,
    MAX_TRIP_DISTANCE_MILES,
    MAX_TRIP_DISTANCE_MILES + 0.01,
)
PICKUPS = (
    "0001-01-01T00:00:00",
    f"{FIRST_YEAR - 1}-12-31T23:59:59.999999",
    f"{FIRST_YEAR}-01-01T00:00:00",
    f"{LAST_YEAR}-12-31T23:59:59.999999",
    f"{LAST_YEAR + 1}-01-01T00:00:00",
    "9999-12-31T23:59:59",
)
BOUNDARY_VALUES = [
    *(("PULocationID", zone) for zone in ZONES),
    *(("DOLocationID", zone) for zone in ZONES),
    *(("trip_distance", distance) for distance in DISTANCES),
    *(("pickup_datetime", pickup) for pickup in PICKUPS),
]


@pytest.fixture(scope="module")
def batch_model(trained: tuple[Settings, TrainingResult]) -> TripDurationModel:
    settings, _ = trained
    return load_model(settings)[0]


@pytest.mark.parametrize(("field", "value"), BOUNDARY_VALUES)
def test_the_api_and_batch_prediction_accept_the_same_trips(
    client: TestClient, batch_model: TripDurationModel, tmp_path: Path, field: str, value: Any
):
    trip = with_(**{field: value})
    source, target = tmp_path / "trip.parquet", tmp_path / "scored.parquet"
    row = {**trip, "pickup_datetime": datetime.fromisoformat(trip["pickup_datetime"])}
    pd.DataFrame([row]).to_parquet(source)
    predict_file(source, target, batch_model)  # what `cli predict` runs
    batch_value = pd.read_parquet(target)[PREDICTION].item()

    response = client.post("/predict", json=trip)
    assert response.status_code in (200, 422), response.text
    assert (response.status_code == 200) == (not pd.isna(batch_value))
    if response.status_code == 200:
        assert response.json()["predicted_duration_minutes"] == batch_value


def test_concurrent_requests_each_get_their_own_prediction(trained):
    """Many single requests in flight at once: each must still get its own value."""
    settings, _ = trained
    trips = [as_request(row) for _, row in sample_rows(64).iterrows()]

    async def scenario() -> tuple[list[float], list[float]]:
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                singles = await asyncio.gather(*(http.post("/predict", json=t) for t in trips))
                batch = await http.post("/predict/batch", json={"trips": trips})
        return (
            [single.json()["predicted_duration_minutes"] for single in singles],
            batch.json()["predicted_duration_minutes"],
        )

    singles, batch = asyncio.run(scenario())
    assert singles == batch
    assert len(set(batch)) > 10  # different trips, different answers: nothing was mixed up


def test_single_trips_wait_for_a_running_batch_off_the_event_loop(trained):
    """While a batch holds the model, single trips queue on the worker thread, and still answer."""
    settings, _ = trained
    trips = [as_request(row) for _, row in sample_rows(16).iterrows()]

    async def scenario() -> tuple[list[float], list[float], bool]:
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            model_lock = app.state.service.predictor._model_lock
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                model_lock.acquire()  # as a batch on the worker thread would
                released = threading.Event()

                def release() -> None:
                    released.set()
                    model_lock.release()

                asyncio.get_running_loop().call_later(0.2, release)
                singles = await asyncio.gather(*(http.post("/predict", json=t) for t in trips))
                waited = released.is_set()
                batch = await http.post("/predict/batch", json={"trips": trips})
        return (
            [single.json()["predicted_duration_minutes"] for single in singles],
            batch.json()["predicted_duration_minutes"],
            waited,
        )

    singles, batch, waited = asyncio.run(scenario())
    assert waited  # they were not answered around the lock
    assert singles == batch


def test_explain_adds_contributions_that_sum_to_the_prediction(client: TestClient):
    plain = client.post("/predict", json=TRIP).json()
    assert "explanation" not in plain  # the default answer is unchanged
    explained = client.post("/predict?explain=true", json=TRIP).json()
    assert explained["predicted_duration_minutes"] == plain["predicted_duration_minutes"]
    why = explained["explanation"]
    assert set(why["contributions"]) == set(FEATURE_NAMES)
    total = why["base_value"] + sum(why["contributions"].values())
    assert total == pytest.approx(explained["predicted_duration_minutes"], abs=1e-6)


def test_explain_on_a_batch_gives_one_explanation_per_trip(client: TestClient):
    trips = [TRIP, with_(trip_distance=9.5), with_(PULocationID=166, DOLocationID=236)]
    plain = client.post("/predict/batch", json={"trips": trips}).json()
    assert "explanations" not in plain
    body = client.post("/predict/batch", params={"explain": "true"}, json={"trips": trips}).json()
    assert body["predicted_duration_minutes"] == plain["predicted_duration_minutes"]
    assert len(body["explanations"]) == len(trips)
    for minutes, why in zip(body["predicted_duration_minutes"], body["explanations"], strict=True):
        total = why["base_value"] + sum(why["contributions"].values())
        assert total == pytest.approx(minutes, abs=1e-6)
    assert client.post("/predict?explain=maybe", json=TRIP).status_code == 422


@pytest.mark.parametrize("field", ["PULocationID", "DOLocationID"])
@pytest.mark.parametrize("zone", [0, 266])
def test_an_unknown_zone_names_the_range_and_the_lookup(client: TestClient, field: str, zone: int):
    response = client.post("/predict", json=with_(**{field: zone}))
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body", field]
    assert f"TLC zones are numbered 1..{MAX_LOCATION_ID}" in problem["msg"]
    assert "taxi_zone_lookup.csv" in problem["msg"]
    batch = client.post("/predict/batch", json={"trips": [TRIP, with_(**{field: zone})]})
    assert batch.json()["detail"][0]["loc"] == ["body", "trips", 1, field]
    assert "unknown zone" in batch.json()["detail"][0]["msg"]


def test_explained_batches_have_their_own_limit(trained: tuple[Settings, TrainingResult]):
    settings, _ = trained
    serving = settings.serving.model_copy(update={"max_explained_trips": 2})
    with TestClient(create_app(settings.model_copy(update={"serving": serving}))) as small:
        allowed = small.post("/predict/batch?explain=true", json={"trips": [TRIP] * 2})
        assert allowed.status_code == 200
        refused = small.post("/predict/batch?explain=true", json={"trips": [TRIP] * 3})
        assert refused.status_code == 422
        [problem] = refused.json()["detail"]
        assert problem["loc"] == ["query", "explain"]
        assert "at most 2 trips" in problem["msg"]
        assert small.post("/predict/batch", json={"trips": [TRIP] * 3}).status_code == 200
        empty = small.post("/predict/batch?explain=true", json={"trips": []})
        assert empty.json()["explanations"] == []
