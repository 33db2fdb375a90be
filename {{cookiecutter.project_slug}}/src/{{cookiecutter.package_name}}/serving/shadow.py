"""Shadow scoring: the challenger predicts what the champion answered, off the response path.

The champion's predictor hands over the input columns of each model call (``submit``); that only
appends to a queue, so a request never waits for the challenger. One thread of its own takes all
that is waiting, predicts it in one call and writes the predictions to the prediction log as the
challenger's. When more than ``max_pending`` trips wait (a slow or stuck challenger), new ones are
dropped and counted; when the challenger fails, the trips are counted and the error is logged (at
most once a minute), and the champion's answers are unaffected.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np
from loguru import logger
from prometheus_client import Counter

from ..prediction_log import DisabledPredictionLog, PredictionSink
from .metrics import ModelSeries, observe_many
from .predictor import LoadedModel, columns_frame

ERROR_LOG_INTERVAL_SECONDS = 60.0
# The thread lets work gather this long before it scores it: a model call has a large fixed cost,
# and each time this thread takes the GIL the event loop may wait for it (up to Python's switch
# interval, 5 ms), which shows in the answers' p99. Fewer, larger calls cost both less.
GATHER_SECONDS = 0.02


@dataclass(frozen=True)
class _Work:
    columns: dict[str, np.ndarray]
    requests: int
    submitted: float


def concatenate(works: list[_Work]) -> dict[str, np.ndarray]:
    if len(works) == 1:
        return works[0].columns
    names = works[0].columns
    return {name: np.concatenate([work.columns[name] for work in works]) for name in names}


class ShadowScorer:
    """Scores the champion's inputs with the challenger on a thread; see the module doc."""

    def __init__(
        self,
        challenger: LoadedModel,
        series: ModelSeries,
        *,
        max_pending: int,
        dropped: Counter,
        failed: Counter,
        sink: PredictionSink | None = None,
    ) -> None:
        self.loaded = challenger
        self.series = series
        self.max_pending = max_pending
        self.sink = sink or DisabledPredictionLog()
        self.scored_trips = 0
        self.dropped_trips = 0
        self.failed_trips = 0
        self._dropped = dropped
        self._failed = failed
        self._pending = 0
        self._waiting: deque[_Work] = deque()
        self._ready = threading.Condition(threading.Lock())
        self._closed = False
        self._last_error_logged = -ERROR_LOG_INTERVAL_SECONDS
        self._thread = threading.Thread(target=self._run, name="shadow", daemon=True)
        self._thread.start()

    def submit(self, columns: dict[str, np.ndarray], requests: int) -> None:
        """Queue a call's input columns (not to be changed afterwards); never blocks."""
        trips = len(next(iter(columns.values())))
        with self._ready:
            if self._closed or self._pending + trips > self.max_pending:
                self.dropped_trips += trips
                self._dropped.inc(trips)
                return
            self._pending += trips
            self._waiting.append(_Work(columns, requests, time.perf_counter()))
            self._ready.notify()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._waiting and not self._closed:
                    self._ready.wait()
                if not self._waiting:
                    return  # closed, and nothing left
                closing = self._closed
            if not closing:
                time.sleep(GATHER_SECONDS)
            with self._ready:
                works = list(self._waiting)
                self._waiting.clear()
            trips = sum(len(next(iter(work.columns.values()))) for work in works)
            try:
                self._score(works)
            # The challenger is on trial: whatever it raises is counted, never passed on.
            except Exception as error:
                self.failed_trips += trips
                self._failed.inc(trips)
                self._log_failure(error)
            finally:
                with self._ready:
                    self._pending -= trips

    def _score(self, works: list[_Work]) -> None:
        columns = concatenate(works)
        started = time.perf_counter()
        values = self.loaded.predict_columns(columns, 1)
        done = time.perf_counter()
        self.series.call_seconds.observe(done - started)
        self.series.trips_per_call.observe(len(values))
        observe_many(self.series.predictions, values)
        for work in works:
            self.series.requests.inc(work.requests)
            for _ in range(work.requests):
                self.series.latency.observe(done - work.submitted)
        self.sink.record(
            columns_frame(columns), values, self.loaded.version.version, self.loaded.role
        )
        self.scored_trips += len(values)

    def _log_failure(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._last_error_logged >= ERROR_LOG_INTERVAL_SECONDS:
            self._last_error_logged = now
            logger.opt(exception=error).error(
                "shadow model version {} failed ({} trips so far); the champion answers as usual",
                self.loaded.version.version,
                self.failed_trips,
            )

    def close(self, timeout: float = 30.0) -> None:
        """Score what is waiting, then stop the thread (later submissions are dropped)."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._thread.join(timeout)
