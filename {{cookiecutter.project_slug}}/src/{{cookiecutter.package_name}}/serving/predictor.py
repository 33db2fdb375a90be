"""The loaded model, and the one path from validated trips to predictions.

Requests become the same canonical frame that batch prediction builds, and go through
``TripDurationModel.predict`` (hence ``features.build_features``), so the API and the batch job
cannot disagree. Most of the cost of one prediction is fixed per call (pandas and LightGBM set-up),
so concurrent single-trip requests are gathered into one call: a request that arrives while the
model is busy waits for the next call, never for a timer, and an idle service adds no delay.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from prometheus_client import CollectorRegistry, Histogram

from ..data import INFERENCE_COLUMNS, PICKUP
from ..model import TripDurationModel
from ..prediction_log import DisabledPredictionLog, PredictionSink
from ..versions import ModelVersion
from .schemas import Trip


def trips_frame(trips: Sequence[Trip]) -> pd.DataFrame:
    """Validated trips as the canonical columns, with the dtypes ``data.normalize`` gives."""
    columns = {
        PICKUP: np.array([trip.pickup_datetime for trip in trips], dtype="datetime64[us]"),
        "PULocationID": np.array([trip.pickup_zone for trip in trips], dtype="int64"),
        "DOLocationID": np.array([trip.dropoff_zone for trip in trips], dtype="int64"),
        "trip_distance": np.array([trip.trip_distance for trip in trips], dtype="float64"),
    }
    return pd.DataFrame({name: columns[name] for name in INFERENCE_COLUMNS}, copy=False)


@dataclass(frozen=True)
class LoadedModel:
    """A model from the registry with the version it was registered as."""

    model: TripDurationModel
    version: ModelVersion
    alias: str

    def predict(self, trips: Sequence[Trip]) -> list[float]:
        return self.predict_frame(trips_frame(trips)).tolist()

    def predict_frame(self, frame: pd.DataFrame) -> np.ndarray:
        return self.model.predict(frame)


class Predictor:
    """Runs every model call on one thread, off the event loop, gathering concurrent requests.

    One thread, because the model is not documented as safe to call concurrently and the work is
    CPU-bound: a second thread would only compete for the same cores.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        max_gathered: int,
        registry: CollectorRegistry | None = None,
        sink: PredictionSink | None = None,
    ) -> None:
        self.loaded = loaded
        self._max_gathered = max_gathered
        self._sink = sink or DisabledPredictionLog()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self._trips_per_call = Histogram(
            "model_trips_per_call",
            "Trips predicted per model call (single requests are gathered).",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 10_000),
            registry=registry,
        )
        self._call_seconds = Histogram(
            "model_call_seconds",
            "Time of one model call: frame, features and estimator.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=registry,
        )
        self._waiting: list[tuple[Trip, asyncio.Future[float]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def predict_one(self, trip: Trip) -> float:
        """One trip's prediction, computed together with whatever else is waiting."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting.append((trip, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        return await future

    async def predict_many(self, trips: Sequence[Trip]) -> list[float]:
        """A whole batch in one call, queued behind the calls already running."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._timed_predict, trips)

    def _timed_predict(self, trips: Sequence[Trip]) -> list[float]:
        started = time.perf_counter()
        frame = trips_frame(trips)
        values = self.loaded.predict_frame(frame)
        self._call_seconds.observe(time.perf_counter() - started)
        self._trips_per_call.observe(len(trips))
        self._sink.record(frame, values, self.loaded.version.version)  # queued, written elsewhere
        return values.tolist()

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            gathered = self._waiting[: self._max_gathered]
            del self._waiting[: self._max_gathered]
            try:
                values = await loop.run_in_executor(
                    self._executor, self._timed_predict, [trip for trip, _ in gathered]
                )
            except Exception as error:  # handed to each waiting request, which answers 500
                for _, future in gathered:
                    if not future.done():
                        future.set_exception(error)
            else:
                for (_, future), value in zip(gathered, values, strict=True):
                    if not future.done():  # the client may have gone away
                        future.set_result(value)

    def close(self) -> None:
        """Finish the model calls under way, then write what the prediction log holds."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._sink.close()
