"""Load benchmark of the API: /predict against /health and a bare FastAPI app, shadow mode, batches.

    make bench                                   # starts `serve` on a free port, stops it after
    make bench ARGS="--url http://127.0.0.1:8000 --duration 20 --connections 50"

Both endpoints are loaded in alternating rounds, by the same tool with the same connections and
duration, so the ratio of their request rates is the cost of a prediction over the bare cost of a
request, and a change in the machine's other load falls on both alike. A bare FastAPI endpoint
(the same champion, predicting the way FastAPI's tutorial writes a model endpoint: a pydantic body,
a one-row DataFrame, ``model.predict``; no middleware, no logging; served by uvicorn in its own
process) is loaded in the same rounds: /predict, which parses the body in one pass and gathers
concurrent trips into one model call, should answer more requests per second than it. Then
/health is loaded lightly, alone and while 8 clients keep sending 10,000-trip batches, to show
that batches do not stall the event loop. wrk is used when it is installed (it is
much lighter than the server it loads), locust (a dev dependency) otherwise. Targets, for one
worker at 50 connections: /predict at least 80% of /health's requests per second and at least 1.2x
the bare endpoint's, /predict p99 under 50 ms, a 10,000-trip batch under 100 ms in-process. They
are reported, not asserted: the figures depend on the machine and on whatever else runs on it.

Shadow mode's cost is measured in the same rounds: a second service with ``SERVING__MODE=shadow``
(the challenger alias, or the champion itself when there is no challenger yet: a model of the same
size) is loaded like the first. Targets: shadow /predict at least 85% of champion-only requests
per second, p99 at most 1.5x. The canary share is counted over 1,000 keys with the routing
function the service uses (target: within 5 points of ``SERVING__CANARY_SHARE``).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pandas as pd
from loguru import logger

from {{ cookiecutter.package_name }}.config import ENV_PREFIX, load_settings
from {{ cookiecutter.package_name }}.registry import open_registry
from {{ cookiecutter.package_name }}.serving.app import create_app
from {{ cookiecutter.package_name }}.serving.predictor import trip_columns
from {{ cookiecutter.package_name }}.serving.routing import goes_to_challenger
from {{ cookiecutter.package_name }}.serving.schemas import EXAMPLE_TRIP, batch_request_model

PACKAGE = "{{ cookiecutter.package_name }}"
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "green_tripdata_2024-01.parquet"
BATCH_TRIPS = 10_000
TARGET_RATIO = 0.8
TARGET_SHADOW_RATIO = 0.85
TARGET_SHADOW_P99 = 1.5
CANARY_KEYS = 1_000
CANARY_TOLERANCE = 0.05
SHADOW = "/predict shadow"
TARGET_BARE_RATIO = 1.2
BATCH_CLIENTS = 8
HEALTH_CONNECTIONS = 4  # a light /health load: its latency, not the server's ceiling
BARE = "bare-fastapi"
# The comparison: the same model behind FastAPI's own way to take a pydantic body, as its tutorial
# writes a model endpoint (a plain `def`, which FastAPI runs on its thread pool: the advice for
# blocking calls). It loads the champion the way the service does, from the same settings.
BARE_APP = """
from datetime import datetime

import pandas as pd
from fastapi import FastAPI
from pydantic import BaseModel

from {{ cookiecutter.package_name }}.config import load_settings
from {{ cookiecutter.package_name }}.registry import load_model

model, _ = load_model(load_settings())


class Trip(BaseModel):
    PULocationID: int
    DOLocationID: int
    trip_distance: float
    pickup_datetime: datetime


app = FastAPI()


@app.post("/predict")
def predict(trip: Trip) -> dict[str, float]:
    frame = pd.DataFrame([trip.model_dump()])
    return {"predicted_duration_minutes": float(model.predict(frame)[0])}
"""
TARGET_P99_MS = 50.0
TARGET_BATCH_MS = 100.0
WARM_UP_SECONDS = 5  # locust needs a few seconds to start its users
LOCUSTFILE = """
import os
from locust import FastHttpUser, constant, task

class Client(FastHttpUser):
    wait_time = constant(0)

    @task
    def call(self):
        body = os.environ["BENCH_BODY"]
        if body:
            self.client.post(os.environ["BENCH_PATH"], data=body,
                             headers={"Content-Type": "application/json"})
        else:
            self.client.get(os.environ["BENCH_PATH"])
"""


@dataclass(frozen=True)
class LoadResult:
    path: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_ms_per_request: float | None = None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_ready(url: str, server: subprocess.Popen | None, timeout: float = 180) -> None:
    """Poll /ready; a 503 means the service runs without a model, which is worth saying."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            sys.exit(f"the server exited with code {server.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"{url}/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as error:
            if error.code == 503:
                sys.exit(f"{url} has no model: {json.load(error)['detail']}")
        except OSError:
            pass
        time.sleep(0.5)
    sys.exit(f"{url}/ready did not answer within {timeout:.0f} s")


def start_server(
    port: int, workers: int, log_path: Path, settings: dict[str, str] | None = None
) -> subprocess.Popen:
    """``serve`` with extra ``settings`` (names after the prefix, e.g. SERVING__MODE)."""
    command = [sys.executable, "-m", f"{PACKAGE}.cli", "serve", "--port", str(port)]
    command += ["--workers", str(workers)]
    env = {**os.environ, **{f"{ENV_PREFIX}{k}": v for k, v in (settings or {}).items()}}
    with log_path.open("w") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)


def shadow_settings() -> tuple[dict[str, str], str]:
    """Settings of the shadow service, and which model shadows: the challenger when the
    registry has one, else the champion itself (a challenger of the same size)."""
    settings = load_settings()
    alias = settings.serving.challenger_alias
    if open_registry(settings).get_version(alias) is None:
        alias = settings.serving.model_alias
    mode = {"SERVING__MODE": "shadow", "SERVING__CHALLENGER_ALIAS": alias}
    return mode, alias


def start_shadow(workers: int, log_path: Path) -> tuple[subprocess.Popen, str]:
    """A second service in shadow mode, on its own port."""
    mode, alias = shadow_settings()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    print(f"starting the shadow service on {url}, shadowed by {alias!r}, log: {log_path}")
    return start_server(port, workers, log_path, mode), url


def canary_share_over_keys(share: float, keys: int = CANARY_KEYS) -> float:
    """The share of ``keys`` distinct routing keys the service would send to the challenger."""
    return sum(goes_to_challenger(f"client-{number}", share) for number in range(keys)) / keys


def start_bare_app(folder: Path, port: int, log_path: Path) -> subprocess.Popen:
    (folder / "bare_app.py").write_text(BARE_APP, encoding="utf-8")
    command = [sys.executable, "-m", "uvicorn", "bare_app:app", "--app-dir", str(folder)]
    command += ["--port", str(port), "--no-access-log", "--log-level", "warning"]
    with log_path.open("w") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def wait_until_answering(url: str, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"{url} exited with code {server.returncode} before it answered")
        try:
            with urllib.request.urlopen(f"{url}/openapi.json", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"{url} did not answer within {timeout:.0f} s")


def stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def milliseconds(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, path: str, body: str, seconds: int, connections: int) -> LoadResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        if body:
            script.write(
                f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\n'
                'wrk.headers["Content-Type"] = "application/json"\n'
            )
    try:
        # One load thread: it sends far more than one server worker answers, and on a small
        # machine a second one would take CPU from the server it measures.
        threads = 1
        command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
        command += ["-s", script.name, f"{url}{path}"]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script.name)
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+(?:us|ms|s))\s*$", output, re.M))
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = int(failed.group(1)) if failed else 0
    errors += sum(int(count) for count in socket_errors.groups()) if socket_errors else 0
    return LoadResult(
        path=path,
        requests_per_second=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        p50_ms=milliseconds(percentiles["50"]),
        p99_ms=milliseconds(percentiles["99"]),
        errors=errors,
    )


def run_locust(url: str, path: str, body: str, seconds: int, connections: int) -> LoadResult:
    with tempfile.TemporaryDirectory() as folder:
        locustfile = Path(folder) / "locustfile.py"
        locustfile.write_text(LOCUSTFILE)
        command = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless"]
        command += ["-u", str(connections), "-r", str(connections), "-t", f"{seconds}s"]
        command += ["--only-summary", "--csv", f"{folder}/run", "--host", url]
        env = {**os.environ, "BENCH_PATH": path, "BENCH_BODY": body}
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        stats = Path(f"{folder}/run_stats.csv")
        if not stats.exists():
            sys.exit(f"locust wrote no statistics:\n{done.stderr[-2000:]}")
        with stats.open(newline="") as lines:
            total = next(row for row in csv.DictReader(lines) if row["Name"] == "Aggregated")
    if int(total["Request Count"]) == 0:
        sys.exit(f"locust sent no request to {path} in {seconds} s")
    return LoadResult(
        path=path,
        requests_per_second=float(total["Requests/s"]),
        p50_ms=float(total["50%"]),
        p99_ms=float(total["99%"]),
        errors=int(total["Failure Count"]),
    )


def scrape(url: str) -> dict[str, float]:
    """The service's own metrics that the report uses, summed over their labels (the process's
    CPU time: the worker that answered, with several)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    wanted = r"process_cpu_seconds_total|model_trips_per_call_sum|model_trips_per_call_count"
    found: dict[str, float] = {}
    labelled = "^(" + wanted + r")(?:\{[^}]*\})? (\S+)$"
    for name, value in re.findall(labelled, text, re.M):
        found[name] = found.get(name, 0.0) + float(value)
    return found


def process_cpu_seconds(pid: int) -> float | None:
    """CPU time of a local process from /proc (Linux), for a server without /metrics."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    load,
    url: str,
    path: str,
    body: str,
    *,
    seconds: int,
    connections: int,
    label: str = "",
    pid: int | None = None,
) -> LoadResult:
    """One load phase, plus the server's CPU time per request (robust to other load on the host):
    from its /metrics, or for a server without them (``label``, ``pid``) from /proc."""

    def cpu() -> float | None:
        if pid is not None:
            return process_cpu_seconds(pid)
        return scrape(url).get("process_cpu_seconds_total")

    before = cpu()
    result = load(url, path, body, seconds, connections)
    after = cpu()
    if label:
        result = replace(result, path=label)
    served = result.requests_per_second * seconds
    if before is None or after is None or served == 0:
        return result
    return replace(result, cpu_ms_per_request=(after - before) * 1000 / served)


def combine(rounds: list[LoadResult]) -> LoadResult:
    """One endpoint's rounds as one result: mean req/s (equal durations), median p50, worst p99."""
    cpu = [r.cpu_ms_per_request for r in rounds]
    return LoadResult(
        path=rounds[0].path,
        requests_per_second=statistics.mean(r.requests_per_second for r in rounds),
        p50_ms=statistics.median(r.p50_ms for r in rounds),
        p99_ms=max(r.p99_ms for r in rounds),
        errors=sum(r.errors for r in rounds),
        cpu_ms_per_request=None if None in cpu else statistics.mean(cpu),
    )


def measure_rounds(
    load,
    url: str,
    bare: tuple[str, int],
    body: str,
    args: argparse.Namespace,
    *,
    shadow_url: str | None = None,
) -> list[LoadResult]:
    """/health, /predict, the bare app (and the shadow service's /predict) in alternating rounds,
    so that a change in the machine's other load during the run falls on all alike instead of on
    whichever ran last."""
    seconds = max(1, round(args.duration / args.rounds))
    bare_url, bare_pid = bare
    phases = (("/health", url, "/health", ""), ("/predict", url, "/predict", body))
    phases += ((BARE, bare_url, "/predict", body),)
    if shadow_url is not None:
        phases += ((SHADOW, shadow_url, "/predict", body),)
    rounds: dict[str, list[LoadResult]] = {name: [] for name, *_ in phases}
    for _ in range(args.rounds):
        for name, base, path, payload in phases:
            other: dict[str, object] = {"label": name}
            if base == bare_url:
                other["pid"] = bare_pid
            result = measure(
                load, base, path, payload, seconds=seconds, connections=args.connections, **other
            )
            rounds[name].append(result)
    return [combine(results) for results in rounds.values()]


def send_batches(url: str, body: bytes, stop: threading.Event, answers: list[int]) -> None:
    """POST ``body`` to /predict/batch again and again until ``stop``; collect the statuses."""
    request_headers = {"Content-Type": "application/json"}
    while not stop.is_set():
        request = urllib.request.Request(f"{url}/predict/batch", body, request_headers)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                response.read()
                answers.append(response.status)
        except urllib.error.HTTPError as error:
            answers.append(error.code)
        except OSError:
            answers.append(0)


def health_under_batches(load, url: str, seconds: int) -> tuple[LoadResult, LoadResult, int, int]:
    """/health under a light load, alone and while ``BATCH_CLIENTS`` clients send big batches:
    (alone, with batches, batches answered 200, other batch answers)."""
    alone = load(url, "/health", "", seconds, HEALTH_CONNECTIONS)
    body = batch_body(BATCH_TRIPS)
    stop, answers = threading.Event(), []
    clients = [
        threading.Thread(target=send_batches, args=(url, body, stop, answers))
        for _ in range(BATCH_CLIENTS)
    ]
    for client in clients:
        client.start()
    try:
        time.sleep(1)  # every client has a batch in flight
        during = load(url, "/health", "", seconds, HEALTH_CONNECTIONS)
    finally:
        stop.set()
        for client in clients:
            client.join()
    ok = sum(status == 200 for status in answers)
    return alone, during, ok, len(answers) - ok


def batch_body(trips: int) -> bytes:
    """A JSON batch of real sample trips (drawn with replacement, seeded)."""
    raw = pd.read_parquet(SAMPLE).dropna(subset=["PULocationID", "DOLocationID"])
    raw = raw[(raw["trip_distance"] >= 0) & (raw["trip_distance"] <= 100)]
    rows = raw.sample(n=trips, replace=True, random_state=0)
    return json.dumps(
        {
            "trips": [
                {
                    "PULocationID": int(row.PULocationID),
                    "DOLocationID": int(row.DOLocationID),
                    "trip_distance": float(row.trip_distance),
                    "pickup_datetime": row.lpep_pickup_datetime.isoformat(),
                }
                for row in rows.itertuples()
            ]
        }
    ).encode()


def time_batch(trips: int = BATCH_TRIPS, repeats: int = 5) -> tuple[float, float, int]:
    """Median milliseconds of a whole POST /predict/batch through the app in this process (body
    parsing, validation, prediction, response), of its model call alone, and the model's threads."""
    logger.remove()  # the server's access log lines would bury the report
    settings = load_settings()
    serving = settings.serving.model_copy(update={"max_batch_size": trips})
    app = create_app(settings.model_copy(update={"serving": serving}))
    body = batch_body(trips)

    async def timed_requests() -> list[float]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            seconds = []
            for _ in range(repeats + 1):  # the first call starts the OpenMP threads
                started = time.perf_counter()
                response = await client.post(
                    "/predict/batch", content=body, headers={"Content-Type": "application/json"}
                )
                seconds.append(time.perf_counter() - started)
                response.raise_for_status()
                assert len(response.json()["predicted_duration_minutes"]) == trips
        return seconds[1:]

    async def measure_app() -> tuple[list[float], list[float]]:
        async with app.router.lifespan_context(app):
            request_seconds = await timed_requests()
            loaded = app.state.service.require_predictor().loaded  # the model the app serves
            columns = trip_columns(batch_request_model(trips).model_validate_json(body).trips)
            model_seconds = []
            for _ in range(repeats):
                started = time.perf_counter()
                loaded.predict_columns(columns, serving.batch_threads)
                model_seconds.append(time.perf_counter() - started)
        return request_seconds, model_seconds

    request_seconds, model_seconds = asyncio.run(measure_app())
    return (
        statistics.median(request_seconds) * 1000,
        statistics.median(model_seconds) * 1000,
        serving.batch_threads,
    )


def print_report(results: list[LoadResult], args: argparse.Namespace, tool: str) -> None:
    print(
        f"\n{tool}, {args.connections} connections, {args.duration} s per endpoint in "
        f"{args.rounds} alternating rounds (req/s: mean; p50: median; p99: worst round):"
    )
    header = f"{'endpoint':<14}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>9}"
    print(f"{header}{'server CPU ms/req':>20}")
    for result in results:
        cpu = "n/a" if result.cpu_ms_per_request is None else f"{result.cpu_ms_per_request:.3f}"
        print(
            f"{result.path:<14}{result.requests_per_second:>10.0f}{result.p50_ms:>10.1f}"
            f"{result.p99_ms:>10.1f}{result.errors:>9}{cpu:>20}"
        )


def parse_arguments() -> tuple[argparse.Namespace, str]:
    """The options, and the load tool to use."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="A running service (default: start one on 127.0.0.1).")
    parser.add_argument("--duration", type=int, default=15, help="Seconds per endpoint.")
    parser.add_argument(
        "--rounds", type=int, default=3, help="Alternating rounds the duration is split into."
    )
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--workers", type=int, default=1, help="When starting the service.")
    parser.add_argument("--tool", choices=("auto", "wrk", "locust"), default="auto")
    args = parser.parse_args()
    tool = args.tool
    if tool == "auto":
        tool = "wrk" if shutil.which("wrk") else "locust"
    elif tool == "wrk" and not shutil.which("wrk"):
        sys.exit("wrk is not installed (Debian/Ubuntu: apt-get install wrk); try --tool locust")
    return args, tool


def main() -> int:
    args, tool = parse_arguments()
    load = run_wrk if tool == "wrk" else run_locust

    server, url, shadow, shadow_url = None, args.url, None, None
    log_path = Path(tempfile.gettempdir()) / f"{PACKAGE}-bench-server.log"
    if url is None:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        print(f"starting the service on {url} ({args.workers} worker(s)), log: {log_path}")
        server = start_server(port, args.workers, log_path)
        shadow, shadow_url = start_shadow(args.workers, log_path.with_name(f"{PACKAGE}-shadow.log"))
    bare_folder = Path(tempfile.mkdtemp(prefix=f"{PACKAGE}-bench-"))
    bare_url = f"http://127.0.0.1:{free_port()}"
    bare = start_bare_app(bare_folder, int(bare_url.rsplit(":", 1)[1]), bare_folder / "bare.log")
    try:
        wait_until_ready(url, server)
        wait_until_answering(bare_url, bare)
        body = json.dumps(EXAMPLE_TRIP)
        for base, path, payload in ((url, "/health", ""), (url, "/predict", body)):
            load(base, path, payload, WARM_UP_SECONDS, args.connections)  # not reported
        load(bare_url, "/predict", body, WARM_UP_SECONDS, args.connections)
        if shadow_url is not None:
            wait_until_ready(shadow_url, shadow)
            load(shadow_url, "/predict", body, WARM_UP_SECONDS, args.connections)
        results = measure_rounds(load, url, (bare_url, bare.pid), body, args, shadow_url=shadow_url)
        model_calls = scrape(url)
        shadow_calls = {} if shadow_url is None else scrape_shadow(shadow_url)
        stop_server(bare)
        if shadow is not None:
            stop_server(shadow)
        seconds = max(5, round(args.duration / args.rounds))
        alone, during, batches_ok, batches_failed = health_under_batches(load, url, seconds)
    finally:
        if server is not None:
            stop_server(server)
        if shadow is not None and shadow.poll() is None:
            stop_server(shadow)
        if bare.poll() is None:
            stop_server(bare)
        shutil.rmtree(bare_folder, ignore_errors=True)

    print_report(results, args, tool)
    print_ratios(results, model_calls)
    print_strategies(results, shadow_calls)
    if tool == "locust":
        print("locust is one Python process and often saturates before the server does: trust the")
        print("CPU-per-request ratio over the req/s ratio, or install wrk.")
    request_ms, model_ms, threads = time_batch()
    print(
        f"{BATCH_TRIPS:,}-trip batch in-process: POST /predict/batch through the app (parse, "
        f"validate, predict, respond) = {request_ms:.0f} ms (target < {TARGET_BATCH_MS:.0f} ms); "
        f"the model call alone {model_ms:.0f} ms with {threads} thread(s)"
    )
    print(
        f"/health with {HEALTH_CONNECTIONS} connections, alone: p50 {alone.p50_ms:.1f} ms, p99 "
        f"{alone.p99_ms:.1f} ms; while {BATCH_CLIENTS} clients send {BATCH_TRIPS:,}-trip batches: "
        f"p50 {during.p50_ms:.1f} ms, p99 {during.p99_ms:.1f} ms ({batches_ok} batches answered "
        f"200, {batches_failed} otherwise)"
    )
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


def scrape_shadow(url: str) -> dict[str, float]:
    """What the shadow service's challenger scored and dropped."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    found = {"scored": 0.0, "dropped": 0.0, "failed": 0.0}
    pattern = r'^model_predicted_minutes_count\{[^}]*model_role="challenger"[^}]*\} (\S+)$'
    found["scored"] = sum(float(value) for value in re.findall(pattern, text, re.M))
    for name in ("dropped", "failed"):
        values = re.findall(rf"^shadow_{name}_trips_total (\S+)$", text, re.M)
        found[name] = sum(float(value) for value in values)
    return found


def print_strategies(results: list[LoadResult], shadow_calls: dict[str, float]) -> None:
    """Shadow mode's cost against champion-only (same rounds), and the canary share."""
    by_path = {result.path: result for result in results}
    if SHADOW in by_path:
        alone, shadowed = by_path["/predict"], by_path[SHADOW]
        ratio = shadowed.requests_per_second / alone.requests_per_second
        p99 = shadowed.p99_ms / alone.p99_ms
        print(
            f"\nshadow /predict vs champion-only, req/s: {ratio:.0%} (target >= "
            f"{TARGET_SHADOW_RATIO:.0%}); p99 {shadowed.p99_ms:.1f} vs {alone.p99_ms:.1f} ms = "
            f"{p99:.2f}x (target <= {TARGET_SHADOW_P99:.1f}x)"
        )
        if alone.cpu_ms_per_request and shadowed.cpu_ms_per_request:
            cpu = alone.cpu_ms_per_request / shadowed.cpu_ms_per_request
            print(
                f"shadow vs champion-only by server CPU per request: {cpu:.0%} (the throughput a "
                "busy machine would see, less sensitive to other load than req/s)"
            )
        print(
            f"shadow: {shadow_calls['scored']:.0f} trips scored by the challenger, "
            f"{shadow_calls['dropped']:.0f} dropped (backlog full), "
            f"{shadow_calls['failed']:.0f} failed"
        )
    else:
        print("\nshadow mode is measured only when the benchmark starts the services (no --url)")
    share = load_settings().serving.canary_share
    routed = canary_share_over_keys(share)
    print(
        f"canary: {routed:.1%} of {CANARY_KEYS:,} keys routed to the challenger at "
        f"SERVING__CANARY_SHARE={share:g} (target: within {CANARY_TOLERANCE * 100:.0f} points)"
    )


def print_ratios(results: list[LoadResult], model_calls: dict[str, float]) -> None:
    health, predict, bare_predict = results[:3]
    ratio = predict.requests_per_second / health.requests_per_second
    print(f"\n/predict vs /health req/s: {ratio:.0%} (target >= {TARGET_RATIO:.0%})")
    bare_ratio = predict.requests_per_second / bare_predict.requests_per_second
    print(
        f"/predict vs a bare FastAPI endpoint with a pydantic body, req/s: {bare_ratio:.2f}x "
        f"(target >= {TARGET_BARE_RATIO:.1f}x)"
    )
    if bare_predict.cpu_ms_per_request and predict.cpu_ms_per_request:
        cpu_ratio = bare_predict.cpu_ms_per_request / predict.cpu_ms_per_request
        print(f"/predict vs the bare endpoint by server CPU per request: {cpu_ratio:.2f}x")
    print(f"/predict p99: {predict.p99_ms:.1f} ms (target < {TARGET_P99_MS:.0f} ms)")
    if model_calls.get("model_trips_per_call_count"):
        gathered = (
            model_calls["model_trips_per_call_sum"] / model_calls["model_trips_per_call_count"]
        )
        print(f"trips per model call (concurrent single requests are gathered): {gathered:.1f}")
    if health.cpu_ms_per_request and predict.cpu_ms_per_request:
        cpu_ratio = health.cpu_ms_per_request / predict.cpu_ms_per_request
        print(f"/predict vs /health by server CPU per request: {cpu_ratio:.0%}")


if __name__ == "__main__":
    sys.exit(main())
