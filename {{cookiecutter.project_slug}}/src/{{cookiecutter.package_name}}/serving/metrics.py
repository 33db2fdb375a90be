"""The service's Prometheus metrics per model (version and role), and what /metrics answers.

Every model series is labelled ``model_version`` and ``model_role`` (champion or challenger), so a
dashboard can put the champion and the challenger side by side in shadow and canary modes.

With several uvicorn workers each worker is a process with its own counters. ``cli serve`` then
points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder, prometheus_client keeps every counter and
histogram in files there, and /metrics adds up all workers' files (``MultiProcessCollector``),
whichever worker answers the scrape. Collectors that read the process itself (CPU, memory, the
prediction log's row counts) cannot be added up that way: they describe the worker that answered.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from .schemas import PredictionLogStatus

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
MODEL_LABELS = ("model_version", "model_role")
# Minutes: the trips the model is trained on last 1 to 60 minutes.
PREDICTION_BUCKETS = (1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0)
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CALL_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
# Below this many values a plain loop of observe() is cheaper than numpy's set-up.
BULK_MIN_VALUES = 16


def multiprocess_dir() -> str | None:
    """The folder of the workers' metric files when the service runs several workers."""
    return os.environ.get(MULTIPROCESS_DIR) or None


def prepare_multiprocess_dir() -> Path | None:
    """Point ``PROMETHEUS_MULTIPROC_DIR`` at an empty folder before the workers start.

    A folder given in the environment is used, emptied of an earlier run's files (their counts
    would be added to this run's); otherwise a new temporary one is made and returned, for the
    caller to remove when the workers have stopped.
    """
    given = multiprocess_dir()
    if given is not None:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
        return None
    made = Path(tempfile.mkdtemp(prefix="prometheus-"))
    os.environ[MULTIPROCESS_DIR] = str(made)
    return made


def observe_many(histogram: Histogram, values: np.ndarray) -> None:
    """``histogram.observe(v)`` for every value, in one pass per bucket instead of per value.

    A 10,000-trip batch would otherwise spend milliseconds in Python loops. prometheus_client has
    no bulk observe, so this adds the counts to the histogram's own bucket and sum values (which
    also live in the workers' files in multiprocess mode); a test checks it against observe().
    """
    if len(values) < BULK_MIN_VALUES:
        for value in values.tolist():
            histogram.observe(value)
        return
    bounds = np.asarray(histogram._upper_bounds)
    # observe() puts a value in the first bucket whose upper bound is >= the value.
    counts = np.bincount(np.searchsorted(bounds, values, side="left"), minlength=len(bounds))
    histogram._sum.inc(float(np.sum(values)))
    for bucket, count in zip(histogram._buckets, counts.tolist(), strict=True):
        if count:
            bucket.inc(count)


@dataclass(frozen=True)
class ModelSeries:
    """One model's children of the metrics below: what the predictor and the shadow update."""

    requests: Counter
    latency: Histogram
    predictions: Histogram
    call_seconds: Histogram
    trips_per_call: Histogram


class ModelMetrics:
    """The metrics of every model the service runs, registered once per app."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "model_requests",
            "Prediction requests a model answered, or scored as the shadow.",
            MODEL_LABELS,
            registry=registry,
        )
        self.latency = Histogram(
            "model_request_seconds",
            "From a request's trips reaching the model's queue to their predictions (the shadow: "
            "from the champion's answer).",
            MODEL_LABELS,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.predictions = Histogram(
            "model_predicted_minutes",
            "Distribution of the predicted durations, per trip.",
            MODEL_LABELS,
            buckets=PREDICTION_BUCKETS,
            registry=registry,
        )
        self.call_seconds = Histogram(
            "model_call_seconds",
            "Time of one model call: input columns, features and estimator.",
            MODEL_LABELS,
            buckets=CALL_BUCKETS,
            registry=registry,
        )
        self.trips_per_call = Histogram(
            "model_trips_per_call",
            "Trips predicted per model call.",
            MODEL_LABELS,
            buckets=(1, 10, 100, 1_000, 10_000),
            registry=registry,
        )
        self.shadow_dropped = Counter(
            "shadow_dropped_trips",
            "Trips the shadow model never scored because too many were waiting.",
            registry=registry,
        )
        self.shadow_failed = Counter(
            "shadow_failed_trips",
            "Trips the shadow model failed to score (the champion's answers were not affected).",
            registry=registry,
        )

    def series(self, version: int, role: str) -> ModelSeries:
        labels = (str(version), role)
        return ModelSeries(
            requests=self.requests.labels(*labels),
            latency=self.latency.labels(*labels),
            predictions=self.predictions.labels(*labels),
            call_seconds=self.call_seconds.labels(*labels),
            trips_per_call=self.trips_per_call.labels(*labels),
        )


class LogStatusSource(Protocol):
    def prediction_log_status(self) -> PredictionLogStatus: ...


class PredictionLogCollector(Collector):
    """The prediction log's row counts as Prometheus counters, read when /metrics is scraped."""

    def __init__(self, source: LogStatusSource) -> None:
        self.source = source

    def collect(self) -> Iterator[CounterMetricFamily]:
        status = self.source.prediction_log_status()
        yield CounterMetricFamily(
            "prediction_log_written_rows",
            "Served predictions written to the prediction log.",
            value=status.written_rows,
        )
        yield CounterMetricFamily(
            "prediction_log_dropped_rows",
            "Served predictions the prediction log lost (disk full or read-only, writer behind, "
            "or a log folder that could not be created).",
            value=status.dropped_rows,
        )


def exposition(registry: CollectorRegistry, process_collectors: Sequence[Collector]) -> bytes:
    """The text /metrics answers: this process's registry, or every worker's files added up."""
    folder = multiprocess_dir()
    if folder is None:
        return generate_latest(registry)
    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged, path=folder)  # type: ignore[no-untyped-call]
    for collector in process_collectors:
        merged.register(collector)
    return generate_latest(merged)
