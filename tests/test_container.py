"""Slow tier: build the default bake's Dockerfile with podman, run it with a trained model, call it.

The jobs' image (``docker=yes`` with ``serving=none``, here in the uv bake) is built too, and runs
``predict`` on the bundled sample with the host-trained model, as the image's non-root user.

The model is trained on the host (``trip-duration train``) and reaches the container at run time,
as the generated README describes for the default MLflow store: ``mlflow.db`` mounted read-only at
``/app/mlflow.db`` (the image's working directory, where the default ``sqlite:///mlflow.db`` points)
and ``mlartifacts/`` at the absolute path MLflow recorded for it. Podman, its configuration and the
local ``python:3.11-slim`` stand-in come from ``.ci/setup-containers.sh`` (``make test`` runs it);
without them these tests fail and say so, rather than skip.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
import pytest

from . import container_support as containers
from .baking import InstalledProject

pytestmark = pytest.mark.slow

IMAGE = "localhost/cookiecutter-mlops-test/trip-duration:latest"
JOBS_IMAGE = "localhost/cookiecutter-mlops-test/trip-duration-jobs:latest"
SAMPLE = "green_tripdata_2024-01.parquet"
BUILD_TIMEOUT = 1500
TRIP = {
    "PULocationID": 74,
    "DOLocationID": 42,
    "trip_distance": 2.1,
    "pickup_datetime": "2024-01-15T08:30:00",
}
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# The host's prediction for TRIP, with the same code path as the service (validated Trip -> frame).
HOST_PREDICTION = """
import json, sys
from trip_duration.config import load_settings
from trip_duration.registry import load_model
from trip_duration.serving.predictor import trips_frame
from trip_duration.serving.schemas import Trip

model, version = load_model(load_settings())
minutes = model.predict(trips_frame([Trip(**json.loads(sys.argv[1]))])).tolist()[0]
print(json.dumps({"minutes": minutes, "version": version.version}))
"""


@dataclass
class BuiltImage:
    tag: str
    seconds: float
    size_bytes: int


def require_podman() -> None:
    if not containers.podman_available():
        pytest.fail(
            'podman is not installed or not configured: run `eval "$(.ci/setup-containers.sh)"` '
            "as root first (make test does it)"
        )
    if not containers.base_image_available():
        pytest.fail(
            f"{containers.BASE_IMAGE} is not in podman's storage: run .ci/setup-containers.sh "
            "(it builds a local stand-in; no registry is reachable from CI)"
        )


@pytest.fixture(scope="module")
def trained(default_project: InstalledProject) -> InstalledProject:
    """The default project with a champion model in its MLflow store (mlflow.db + mlartifacts/)."""
    default_project.cli("train", timeout=900, TRIP_DURATION_LOGGING__FILE="")
    assert (default_project.root / "mlflow.db").is_file()
    assert (default_project.root / "mlartifacts").is_dir()
    return default_project


@pytest.fixture(scope="module")
def image(default_project: InstalledProject) -> BuiltImage:
    """The default bake's image, built from its Dockerfile and poetry.lock (warm layers reused)."""
    require_podman()
    started = time.monotonic()
    result = containers.build_image(default_project.root, IMAGE, timeout=BUILD_TIMEOUT)
    seconds = time.monotonic() - started
    assert (
        result.returncode == 0
    ), f"podman build failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    size = containers.image_size_bytes(IMAGE)
    print(f"\nimage {IMAGE}: built in {seconds:.0f} s, {size / 1e6:.0f} MB")
    return BuiltImage(tag=IMAGE, seconds=seconds, size_bytes=size)


@pytest.fixture(scope="module")
def service(image: BuiltImage, trained: InstalledProject) -> Iterator[tuple[str, str]]:
    """The container, serving the host-trained champion on 127.0.0.1; yields (base URL, id)."""
    port = containers.free_port()
    artifacts = trained.root / "mlartifacts"
    cid = containers.run_container(
        image.tag,
        port=port,
        volumes={trained.root / "mlflow.db": "/app/mlflow.db:ro", artifacts: f"{artifacts}:ro"},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        containers.wait_for_http(f"{base}/health", timeout=180, cid=cid)
        yield base, cid
    finally:
        logs = containers.container_logs(cid)
        stopping = time.monotonic()
        containers.stop_container(cid)
        print(f"\ncontainer stopped and removed in {time.monotonic() - stopping:.1f} s")
        print(f"container logs (last lines):\n{logs[-2000:]}")


def get_json(url: str, body: dict | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with NO_PROXY.open(request, timeout=30) as response:
        return response.status, json.loads(response.read())


def test_image_config(image: BuiltImage):
    config = containers.image_config(image.tag)
    user = str(config.get("User", ""))
    assert user and user.split(":")[0] not in {"0", "root"}, f"runs as {user!r}"
    healthcheck = config.get("Healthcheck") or {}
    assert "/health" in " ".join(healthcheck.get("Test", [])), healthcheck
    assert "8000/tcp" in (config.get("ExposedPorts") or {})
    env = dict(item.split("=", 1) for item in config.get("Env", []))
    assert not [key for key in env if any(s in key for s in ("SECRET", "PASSWORD", "TOKEN"))]
    assert image.size_bytes > 0


def test_image_holds_no_build_tools_sources_or_data(image: BuiltImage):
    """Only the service's venv came from the build stage: no Poetry, compiler, data, model, jobs."""
    probe = (
        "for tool in poetry gcc cc make curl; do command -v $tool && exit 1; done; "
        "for path in /src /dist /tmp/dist /opt/poetry /app/data /app/models /app/mlflow.db "
        "/app/.env; do test -e $path && echo $path && exit 1; done; "
        "python -c 'import trip_duration.serving.app, lightgbm; print(\"imports ok\")'; "
        # Tuning and monitoring are Poetry groups for jobs, not the service: not in the image.
        "for job in optuna evidently; do "
        'python -c "import $job" 2>/dev/null && echo $job && exit 1; done; true'
    )
    result = containers.podman(
        "run", "--rm", "--pull=never", "--entrypoint", "sh", image.tag, "-c", probe, timeout=180
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "imports ok" in result.stdout


def test_service_in_the_container(service: tuple[str, str], trained: InstalledProject):
    base, cid = service
    assert get_json(f"{base}/health") == (200, {"status": "ok"})
    status, ready = get_json(f"{base}/ready")
    assert status == 200 and ready["status"] == "ready"

    status, answer = get_json(f"{base}/predict", TRIP)
    assert status == 200
    minutes = answer["predicted_duration_minutes"]
    assert 1 < minutes < 60, f"implausible duration for a 2.1-mile trip: {minutes}"

    # The container serves the host's champion: same version, same prediction.
    printed = trained.run(str(trained.bin / "python"), "-c", HOST_PREDICTION, json.dumps(TRIP))
    host = json.loads(printed.stdout.strip().splitlines()[-1])
    assert answer["model"]["version"] == host["version"] == ready["model"]["version"]
    assert minutes == pytest.approx(host["minutes"], rel=1e-9)

    assert containers.healthcheck_passes(cid), "the image's HEALTHCHECK command failed"


@pytest.fixture(scope="module")
def jobs_image(uv_jobs_project: InstalledProject) -> BuiltImage:
    """The uv bake's jobs image: uv.lock, `uv sync --frozen` with a cache mount, CLI entrypoint."""
    require_podman()
    started = time.monotonic()
    result = containers.build_image(uv_jobs_project.root, JOBS_IMAGE, timeout=BUILD_TIMEOUT)
    seconds = time.monotonic() - started
    assert (
        result.returncode == 0
    ), f"podman build failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    size = containers.image_size_bytes(JOBS_IMAGE)
    print(f"\nimage {JOBS_IMAGE}: built in {seconds:.0f} s, {size / 1e6:.0f} MB")
    return BuiltImage(tag=JOBS_IMAGE, seconds=seconds, size_bytes=size)


def test_jobs_image_config(jobs_image: BuiltImage):
    """The CLI is the entrypoint (a job per run), as a non-root user, with no port and no probe."""
    config = containers.image_config(jobs_image.tag)
    assert config.get("Entrypoint") == ["trip-duration"]
    assert config.get("Cmd") == ["--help"]
    user = str(config.get("User", ""))
    assert user and user.split(":")[0] not in {"0", "root"}, f"runs as {user!r}"
    assert not config.get("ExposedPorts")
    assert not (config.get("Healthcheck") or {}).get("Test")


def test_jobs_image_holds_the_jobs_and_no_build_tools(jobs_image: BuiltImage):
    """The jobs' groups (tuning, monitoring) are in; uv, the sources and the dev tools are not."""
    probe = (
        "for tool in uv poetry gcc make; do command -v $tool && exit 1; done; "
        "for path in /src /dist /opt/uv /app/data /app/models /app/mlflow.db; do "
        "test -e $path && echo $path && exit 1; done; "
        "for dev in pytest ruff mypy; do "
        'python -c "import $dev" 2>/dev/null && echo $dev && exit 1; done; '
        "python -c 'import trip_duration.cli, optuna, evidently, mlflow; print(\"jobs ok\")'"
    )
    result = containers.podman(
        "run", "--rm", "--pull=never", "--entrypoint", "sh", jobs_image.tag, "-c", probe,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "jobs ok" in result.stdout


def test_jobs_image_predicts_the_bundled_sample(
    jobs_image: BuiltImage, uv_jobs_project: InstalledProject, tmp_path
):
    """`docker run IMAGE predict IN OUT` with the host's champion: the host's predictions."""
    project = uv_jobs_project
    project.cli("train", timeout=900, TRIP_DURATION_LOGGING__FILE="")
    source = project.root / "data" / "sample" / SAMPLE
    on_host = tmp_path / "host.parquet"
    project.cli("predict", str(source), str(on_host))
    out = tmp_path / "out"
    out.mkdir()
    os.chmod(out, 0o777)  # the image's user (uid 10001) writes here
    artifacts = project.root / "mlartifacts"
    result = containers.podman(
        "run", "--rm", "--pull=never",
        "-v", f"{project.root / 'mlflow.db'}:/app/mlflow.db:ro",
        "-v", f"{artifacts}:{artifacts}:ro",
        "-v", f"{source.parent}:/app/data/sample:ro",
        "-v", f"{out}:/out",
        jobs_image.tag, "predict", f"data/sample/{SAMPLE}", "/out/predictions.parquet",
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    in_container = pd.read_parquet(out / "predictions.parquet")
    expected = pd.read_parquet(on_host)
    assert len(in_container) == len(pd.read_parquet(source)) == len(expected)
    predicted = in_container["predicted_duration"]
    assert predicted.notna().sum() > 0.9 * len(in_container)
    assert predicted.fillna(-1).to_numpy() == pytest.approx(
        expected["predicted_duration"].fillna(-1).to_numpy(), rel=1e-9
    )
