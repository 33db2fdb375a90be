"""Deployment strategies over real HTTP: basic, shadow, canary, several workers, reload.

Two real versions are registered once for the module, by training twice on the bundled sample:
the default parameters (version 1, the champion) and a much smaller model (version 2, which does
not beat it and becomes the challenger). Each test starts ``serve`` on 127.0.0.1 with the mode's
settings in its environment and stops it by its pid.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.config import Settings, TrainingSettings
from {{ cookiecutter.package_name }}.data import read_folder
from {{ cookiecutter.package_name }}.prediction_log import MODEL_VERSION, PREDICTION, ROLE
from {{ cookiecutter.package_name }}.registry import load_model, open_registry
from {{ cookiecutter.package_name }}.serving.predictor import LoadedModel
from {{ cookiecutter.package_name }}.serving.routing import goes_to_challenger
from {{ cookiecutter.package_name }}.serving.schemas import Trip
from {{ cookiecutter.package_name }}.train import run_training

from .helpers import SAMPLE_DIR, isolated_settings
from .servers import Server, call, start_server

pytestmark = pytest.mark.slow

CANARY_SHARE = 0.5
RELOAD_TOKEN = "test-reload-token-0123456789"  # pragma: allowlist secret
SAMPLE_TRIPS = pd.read_parquet(SAMPLE_DIR / "green_tripdata_2024-01.parquet").dropna(
    subset=["PULocationID", "DOLocationID", "trip_distance"]
)


def sample_trips(count: int) -> list[dict[str, object]]:
    rows = SAMPLE_TRIPS[SAMPLE_TRIPS["trip_distance"].between(0.1, 50)].head(count)
    assert len(rows) == count
    return [
        {
            "PULocationID": int(row.PULocationID),
            "DOLocationID": int(row.DOLocationID),
            "trip_distance": float(row.trip_distance),
            "pickup_datetime": row.lpep_pickup_datetime.isoformat(),
        }
        for row in rows.itertuples()
    ]


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Settings]:
    """A registry with a champion (version 1) and a challenger (version 2)."""
    root = tmp_path_factory.mktemp("strategies")
    settings = isolated_settings(root)
    run_training(settings)
    smaller = TrainingSettings(n_estimators=5, num_leaves=4, params_file=root / "none.json")
    second = run_training(settings.model_copy(update={"training": smaller}))
    assert not second.decision.promote, second.decision.reason
    registry = open_registry(settings)
    assert registry.get_version("champion").version == 1
    assert registry.get_version("challenger").version == 2
    return root, settings


def predictions_of(settings: Settings, alias: str, trips: list[dict[str, object]]) -> list[float]:
    """What the model behind ``alias`` predicts for ``trips``, computed here, not by the service."""
    model, version = load_model(settings, alias)
    return LoadedModel(model, version, alias).predict([Trip.model_validate(t) for t in trips])


@pytest.fixture(scope="module")
def registry_env(registered: tuple[Path, Settings]) -> dict[str, str]:
    _, settings = registered
    env = {"REGISTRY__MODELS_DIR": str(settings.registry.models_dir)}
{%- if cookiecutter.experiment_tracking == "mlflow" %}
    env["REGISTRY__TRACKING_URI"] = settings.registry.tracking_uri
{%- endif %}
    return env


def start(
    root: Path, name: str, registry_env: dict[str, str], *arguments: str, **settings: str
) -> Server:
    """``serve`` on the module's registry, in a folder of its own; returns once it is ready."""
    folder = root / name
    folder.mkdir()
    server = start_server(folder, *arguments, **registry_env, **settings)
    deadline = time.monotonic() + 180
    while call(server, "/ready").status != 200:
        if time.monotonic() > deadline or server.process.poll() is not None:
            server.stop()
            raise AssertionError((folder / "server.out").read_text(encoding="utf-8"))
        time.sleep(0.2)
    return server


@pytest.fixture
def running(registered, registry_env, request) -> Iterator[Server]:
    """A server with the (arguments, settings) the test is parametrized with."""
    root, _ = registered
    arguments, settings = request.param
    name = re.sub(r"\W", "-", request.node.name)
    server = start(root, name, registry_env, *arguments, **settings)
    try:
        yield server
    finally:
        server.stop()


def metric_value(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples that carry ``labels`` (0 when there are none)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        sample, _, value = line.rpartition(" ")
        base, _, label_text = sample.partition("{")
        found = dict(re.findall(r'(\w+)="([^"]*)"', label_text))
        if base == name and all(found.get(key) == want for key, want in labels.items()):
            total += float(value)
    return total


@pytest.mark.parametrize("running", [((), {})], indirect=True, ids=["basic"])
def test_basic_mode_serves_the_champion_alone(running: Server, registered):
    _, settings = registered
    info = call(running, "/model").json()
    assert (info["mode"], info["version"], info["role"], info["challenger"]) == (
        "basic",
        1,
        "champion",
        None,
    )
    trips = sample_trips(5)
    answers = [call(running, "/predict", trip) for trip in trips]
    assert {(a.headers["x-model-version"], a.headers["x-model-role"]) for a in answers} == {
        ("1", "champion")
    }
    served = [answer.json()["predicted_duration_minutes"] for answer in answers]
    assert served == predictions_of(settings, "champion", trips)
    assert "/admin/reload" not in call(running, "/openapi.json").json()["paths"]
    assert call(running, "/admin/reload", {}).status == 404


SHADOW = {
    "SERVING__MODE": "shadow",
    "PREDICTION_LOG__ENABLED": "true",
    "PREDICTION_LOG__MAX_ROWS": "1",
}


def test_shadow_answers_with_the_champion_and_logs_both_models(registered, registry_env):
    root, settings = registered
    log_dir = root / "shadow-log"
    server = start(root, "shadow", registry_env, **SHADOW, PREDICTION_LOG__DIR=str(log_dir))
    trips = sample_trips(20)
    try:
        info = call(server, "/model").json()
        assert (info["mode"], info["version"]) == ("shadow", 1)
        assert (info["challenger"]["version"], info["challenger"]["role"]) == (2, "challenger")
        answers = [call(server, "/predict", trip) for trip in trips[:15]]
        batch = call(server, "/predict/batch", {"trips": trips[15:]})
        metrics = ""
        deadline = time.monotonic() + 60
        # The shadow scores after the answers: wait until it has scored all 16 requests.
        while metric_value(metrics, "model_requests_total", model_role="challenger") < 16:
            assert time.monotonic() < deadline, metrics
            metrics = call(server, "/metrics").body.decode()
            time.sleep(0.1)
    finally:
        server.stop()  # writes what the log holds
    assert {a.headers["x-model-role"] for a in [*answers, batch]} == {"champion"}
    served = [a.json()["predicted_duration_minutes"] for a in answers]
    served += batch.json()["predicted_duration_minutes"]
    champion = predictions_of(settings, "champion", trips)
    challenger = predictions_of(settings, "challenger", trips)
    assert served == champion
    assert champion != challenger  # two different models, or the test would prove nothing
    assert metric_value(metrics, "model_requests_total", model_version="1") == 16
    assert metric_value(metrics, "model_requests_total", model_version="2") == 16
    assert metric_value(metrics, "model_predicted_minutes_count", model_role="challenger") == 20

    logged = read_folder(log_dir)
    by_role = {role: rows for role, rows in logged.groupby(ROLE)}
    assert set(by_role) == {"champion", "challenger"}
    for role, expected, version in (("champion", champion, "1"), ("challenger", challenger, "2")):
        rows = by_role[role]
        assert set(rows[MODEL_VERSION]) == {version}
        assert sorted(rows[PREDICTION]) == pytest.approx(sorted(expected))


@pytest.mark.parametrize(
    "running",
    [((), {"SERVING__MODE": "canary", "SERVING__CANARY_SHARE": str(CANARY_SHARE)})],
    indirect=True,
    ids=["canary"],
)
def test_canary_routes_each_key_to_one_model(running: Server, registered):
    _, settings = registered
    trips = sample_trips(3)
    expected = {
        "champion": predictions_of(settings, "champion", trips),
        "challenger": predictions_of(settings, "challenger", trips),
    }
    info = call(running, "/model").json()
    assert (info["mode"], info["canary_share"], info["challenger"]["version"]) == (
        "canary",
        CANARY_SHARE,
        2,
    )
    roles = set()
    for number in range(24):
        key = f"client-{number}"
        header = "X-Client-Key" if number % 2 else "X-Request-ID"
        role = "challenger" if goes_to_challenger(key, CANARY_SHARE) else "champion"
        roles.add(role)
        for _ in range(2):  # the same key, again: the same model
            one = call(running, "/predict", trips[0], headers={header: key})
            assert (one.headers["x-model-role"], one.json()["model"]["role"]) == (role, role)
            assert one.json()["predicted_duration_minutes"] == expected[role][0]
        batch = call(running, "/predict/batch", {"trips": trips}, headers={header: key})
        assert batch.headers["x-model-version"] == ("2" if role == "challenger" else "1")
        assert batch.json()["predicted_duration_minutes"] == expected[role]  # one model, whole
    assert roles == {"champion", "challenger"}
    # A client key wins over the request id.
    both = {"X-Client-Key": "client-1", "X-Request-ID": "client-2"}
    routed = "challenger" if goes_to_challenger("client-1", CANARY_SHARE) else "champion"
    assert call(running, "/predict", trips[0], headers=both).headers["x-model-role"] == routed
    metrics = call(running, "/metrics").body.decode()
    assert metric_value(metrics, "model_requests_total", model_role="challenger") > 0
    assert metric_value(metrics, "model_requests_total", model_role="champion") > 0


def worker_logs(server: Server, text: str) -> list[Path]:
    """The workers' own log files (one per process) that contain ``text``."""
    return [
        path
        for path in server.log_dir.glob("service.*.log")
        if text in path.read_text(encoding="utf-8")
    ]


def test_several_workers_add_up_their_metrics(registered, registry_env):
    root, _ = registered
    server = start(root, "workers", registry_env, "--workers", "2")
    trip = sample_trips(1)[0]
    sent = 0
    try:
        deadline = time.monotonic() + 180
        while len(worker_logs(server, "as champion")) < 2:  # /ready reached one of them
            assert time.monotonic() < deadline, "the second worker did not load the model"
            time.sleep(0.2)
        # New connections until both workers answered (each logs to its own file); bounded.
        while len(worker_logs(server, "POST /predict 200")) < 2 or sent < 10:
            assert sent < 2_000, "one worker answered every request"
            assert call(server, "/predict", trip).status == 200
            sent += 1
        # Whichever worker answers the scrape, it counts every worker's requests. The model's
        # count is made before each answer; the instrumentator's right after it: poll for it.
        scrapes = []
        while len(scrapes) < 6:
            assert time.monotonic() < deadline + 60, scrapes
            metrics = call(server, "/metrics").body.decode()
            counted = metric_value(metrics, "http_requests_total", handler="/predict")
            scrapes.append((metric_value(metrics, "model_requests_total"), counted))
            if counted < sent:
                scrapes.pop()
                time.sleep(0.1)
    finally:
        server.stop()
    assert scrapes == [(sent, sent)] * 6


def test_reload_is_protected_and_picks_up_a_promotion(registered, registry_env):
    root, settings = registered
    server = start(
        root,
        "reload",
        registry_env,
        SERVING__RELOAD_ENABLED="true",
        SERVING__RELOAD_TOKEN=RELOAD_TOKEN,
    )
    registry = open_registry(settings)
    trip = sample_trips(1)[0]
    try:
        assert call(server, "/predict", trip).headers["x-model-version"] == "1"
        assert call(server, "/admin/reload", {}).status == 401
        wrong = {"Authorization": "Bearer not-the-token"}
        assert call(server, "/admin/reload", {}, headers=wrong).status == 401
        registry.set_alias("champion", 2)  # what a promotion does to the registry
        token = {"Authorization": f"Bearer {RELOAD_TOKEN}"}
        reloaded = call(server, "/admin/reload", {}, headers=token)
        assert reloaded.status == 200, reloaded.body
        name = settings.training.model_name
        assert reloaded.json() == [{"name": name, "version": 2, "role": "champion"}]
        assert call(server, "/predict", trip).headers["x-model-version"] == "2"
        assert call(server, "/model").json()["version"] == 2
    finally:
        registry.set_alias("champion", 1)
        server.stop()


def test_a_mode_without_its_challenger_serves_the_champion_and_says_why(tmp_path: Path, trained):
    settings, _ = trained  # a registry with a champion and no challenger
    env = {"REGISTRY__MODELS_DIR": str(settings.registry.models_dir)}
{%- if cookiecutter.experiment_tracking == "mlflow" %}
    env["REGISTRY__TRACKING_URI"] = settings.registry.tracking_uri
{%- endif %}
    server = start(tmp_path, "alone", env, SERVING__MODE="canary", SERVING__CANARY_SHARE="1")
    try:
        info = call(server, "/model").json()
        answer = call(server, "/predict", sample_trips(1)[0])
    finally:
        server.stop()
    assert info["challenger"] is None
    assert "challenger" in info["challenger_problem"]
    assert answer.headers["x-model-role"] == "champion"
