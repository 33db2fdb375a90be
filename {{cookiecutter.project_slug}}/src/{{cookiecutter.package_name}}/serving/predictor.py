"""The loaded model, and the one path from validated trips to predictions.

Requests become the four input columns that batch prediction reads from a file, as arrays, and go
through ``features.feature_matrix`` and ``TripDurationModel.predict_features``, the calls
``TripDurationModel.predict`` makes, so the API and the batch job cannot disagree (a test compares
them on sample rows).

Single trips are predicted on the event loop, gathered: the trips of all requests that arrive
together go through one model call, scheduled right after those requests are parsed (never after a
timer, so an idle service adds no delay). Features and the booster call for a few trips take tens
of microseconds, less than handing the work to a thread and back, and most of that is a fixed cost
per call. A batch runs on a worker thread (with several OpenMP threads when it is large), so the
loop keeps answering meanwhile. A lock keeps model calls one at a time: LightGBM's prediction
set-up is not safe to run concurrently on one booster. Single trips that find a batch running wait
for it on the worker thread, never on the event loop.

Each model (the champion, and the challenger in shadow or canary mode) has a Predictor of its own:
its own lock, worker thread and metric series. A shadow hook, when given, receives the input
columns of every call after the answer is computed; it must only queue them (``shadow.py``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import pandas as pd

from ..explain import Explanations, explain_matrix
from ..features import feature_matrix
from ..model import TripDurationModel
from ..prediction_log import DisabledPredictionLog, PredictionSink
from ..trip import INFERENCE_COLUMNS, INPUTS, Column
from ..versions import ModelVersion
from .metrics import ModelSeries, observe_many
from .schemas import Trip

EPOCH = datetime(1970, 1, 1)
MICROSECOND = timedelta(microseconds=1)
# Below this many trips, starting OpenMP threads costs more than they save.
PARALLEL_MIN_TRIPS = 1_000
Role = Literal["champion", "challenger"]
# Receives the input columns of a model call and how many requests they came from.
ShadowHook = Callable[[dict[str, np.ndarray], int], None]


def microseconds(times: list[datetime]) -> np.ndarray:
    """Times as datetime64[us]: exact for years 1..9999, and faster than
    ``np.array(datetimes, dtype="datetime64[us]")`` on a large batch (docs/benchmarks.md)."""
    micros = [(time - EPOCH) // MICROSECOND for time in times]
    return np.array(micros, dtype=np.int64).view("datetime64[us]")


def column_values(column: Column, trips: Sequence[Trip]) -> np.ndarray:
    """One input of every trip, as an array of the column's type in ``trip.py``."""
    values = [getattr(trip, column.name) for trip in trips]
    if column.kind == "time":
        return microseconds(values)
    return np.array(values, dtype=column.value_dtype)


def trip_columns(trips: Sequence[Trip]) -> dict[str, np.ndarray]:
    """Validated trips as the canonical input columns (``trip.INPUTS``: names and types)."""
    return {column.name: column_values(column, trips) for column in INPUTS}


def columns_frame(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """The columns as a frame: what batch prediction reads and the prediction log writes."""
    return pd.DataFrame({name: columns[name] for name in INFERENCE_COLUMNS}, copy=False)


def trips_frame(trips: Sequence[Trip]) -> pd.DataFrame:
    return columns_frame(trip_columns(trips))


def resolve(waiting: list[tuple[Trip, asyncio.Future[float]]], values: list[float]) -> None:
    for (_, future), value in zip(waiting, values, strict=True):
        if not future.done():  # the client may have gone away
            future.set_result(value)


def fail(waiting: list[tuple[Trip, asyncio.Future[float]]], error: Exception) -> None:
    for _, future in waiting:
        if not future.done():
            future.set_exception(error)


@dataclass(frozen=True)
class LoadedModel:
    """A model from the registry with the version it was registered as."""

    model: TripDurationModel
    version: ModelVersion
    alias: str
    role: Role = "champion"

    def predict(self, trips: Sequence[Trip], num_threads: int | None = None) -> list[float]:
        return self.predict_columns(trip_columns(trips), num_threads).tolist()

    def predict_columns(
        self, columns: dict[str, np.ndarray], num_threads: int | None = None
    ) -> np.ndarray:
        return self.predict_matrix(feature_matrix(columns), num_threads)

    def predict_matrix(self, matrix: np.ndarray, num_threads: int | None = None) -> np.ndarray:
        """Predictions for a ``features.feature_matrix`` of input columns."""
        return self.model.predict_features(matrix, num_threads)


class Predictor:
    """Serves model calls one at a time: single trips on the event loop, batches on a thread."""

    def __init__(
        self,
        loaded: LoadedModel,
        series: ModelSeries,
        batch_threads: int = 1,
        sink: PredictionSink | None = None,
        shadow: ShadowHook | None = None,
    ) -> None:
        self.loaded = loaded
        self.series = series
        self.shadow = shadow
        self._batch_threads = batch_threads
        self.sink = sink or DisabledPredictionLog()
        # A log that could not start still counts what it loses.
        self._logging = not isinstance(self.sink, DisabledPredictionLog) or bool(self.sink.problem)
        self._model_lock = threading.Lock()
        self._waiting: list[tuple[Trip, asyncio.Future[float]]] = []
        self._queued: set[asyncio.Task[None]] = set()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")

    async def predict_one(self, trip: Trip) -> float:
        """One trip's prediction, made in one model call with the trips that arrived with it."""
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[float] = loop.create_future()
        self._waiting.append((trip, future))
        if len(self._waiting) == 1:
            # Runs after the request tasks that are ready now, so it takes all of their trips.
            loop.call_soon(self._predict_waiting)
        value = await future
        self._count_request(started)
        return value

    def _count_request(self, started: float) -> None:
        self.series.requests.inc()
        self.series.latency.observe(time.perf_counter() - started)

    def _predict_waiting(self) -> None:
        """Predict every waiting trip in one model call and answer each request."""
        waiting, self._waiting = self._waiting, []
        if not self._model_lock.acquire(blocking=False):
            # A batch holds the model: queue behind it on the worker thread, off the loop.
            task = asyncio.create_task(self._predict_after_batch(waiting))
            self._queued.add(task)  # a task nobody references may be garbage-collected
            task.add_done_callback(self._queued.discard)
            return
        try:
            values, _ = self._timed_predict([trip for trip, _ in waiting], 1, len(waiting))
        except Exception as error:  # handed to each waiting request, which answers 500
            fail(waiting, error)
        else:
            resolve(waiting, values)
        finally:
            self._model_lock.release()

    async def _predict_after_batch(self, waiting: list[tuple[Trip, asyncio.Future[float]]]) -> None:
        loop = asyncio.get_running_loop()
        trips = [trip for trip, _ in waiting]
        try:
            values = await loop.run_in_executor(
                self._executor, self._locked_predict, trips, len(waiting)
            )
        except Exception as error:
            fail(waiting, error)
        else:
            resolve(waiting, values)

    async def predict_many(self, trips: Sequence[Trip]) -> list[float]:
        """A whole batch in one call on the worker thread, after the calls already queued."""
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        values = await loop.run_in_executor(self._executor, self._locked_predict, trips, 1)
        self._count_request(started)
        return values

    async def explain_many(self, trips: Sequence[Trip]) -> tuple[list[float], Explanations]:
        """Predictions with their explanations, on the worker thread: TreeSHAP costs several
        predictions' time, so only callers who ask for it pay, and never on the event loop."""
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        explained = await loop.run_in_executor(self._executor, self._locked_explain, trips)
        self._count_request(started)
        return explained

    def _locked_explain(self, trips: Sequence[Trip]) -> tuple[list[float], Explanations]:
        threads = self._batch_threads if len(trips) >= PARALLEL_MIN_TRIPS else 1
        with self._model_lock:
            values, matrix = self._timed_predict(trips, threads, 1)
            return values, explain_matrix(self.loaded.model, matrix, threads)

    def _locked_predict(self, trips: Sequence[Trip], requests: int) -> list[float]:
        threads = self._batch_threads if len(trips) >= PARALLEL_MIN_TRIPS else 1
        with self._model_lock:
            values, _ = self._timed_predict(trips, threads, requests)
            return values

    def _timed_predict(
        self, trips: Sequence[Trip], threads: int, requests: int
    ) -> tuple[list[float], np.ndarray]:
        """The model's answers, logged and shadowed, and the feature matrix they came from."""
        started = time.perf_counter()
        columns = trip_columns(trips)
        matrix = feature_matrix(columns)
        values = self.loaded.predict_matrix(matrix, threads)
        self.series.call_seconds.observe(time.perf_counter() - started)
        self.series.trips_per_call.observe(len(trips))
        observe_many(self.series.predictions, values)
        if self._logging:  # queued here, written by the log's own thread
            self.sink.record(
                columns_frame(columns), values, self.loaded.version.version, self.loaded.role
            )
        if self.shadow is not None:  # queued here, scored on the shadow's own thread
            self.shadow(columns, requests)
        return values.tolist(), matrix

    def close_calls(self) -> None:
        """Finish the model calls under way (the prediction log may serve other models)."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        """Finish the model calls under way, then write what the prediction log holds."""
        self.close_calls()
        self.sink.close()
