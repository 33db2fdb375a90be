"""Append served trips and their predictions to files, in batches, off the request path.

The caller only puts a reference to its frame and predictions on a queue; a background thread
gathers them and writes one file per batch (once ``max_rows`` rows wait, at least every
``max_seconds``, and at ``close``). Each file is written under a hidden name and renamed, so a
reader (``data.read_folder``) never sees half a file, and each process names its files with its
host and pid, so several server workers, and several pods on one shared volume, can share the
folder. When the writer falls behind by more than ``max_pending`` rows, new rows are dropped and
counted rather than slowing the service.
"""

from __future__ import annotations

import os
import queue
import re
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
from loguru import logger
from pandas.api.extensions import ExtensionDtype

from .config import PredictionLogSettings
from .trip import MODEL_VERSION, PREDICTION, ROLE

LOGGED_AT = "logged_at"
FILE_PREFIX = "predictions"
# Containers' pids repeat (the server is often pid 1 in every replica): the host name (each
# replica's own) keeps the replicas writing to one shared volume apart.
HOST = re.sub(r"[^A-Za-z0-9.-]+", "_", socket.gethostname()) or "host"


class PredictionSink(Protocol):
    """What the service calls; ``open_prediction_log`` picks the real log or a no-op one."""

    written_rows: int
    dropped_rows: int

    def record(
        self,
        trips: pd.DataFrame,
        predictions: Sequence[float] | np.ndarray,
        model_version: int | str | None = None,
        model_role: str | None = None,
    ) -> bool: ...

    def close(self) -> None: ...


class DisabledPredictionLog:
    """The sink when logging is off (it costs one method call), or when it could not start:
    then ``problem`` says why and the rows are counted as dropped, so that the loss shows."""

    def __init__(self, problem: str | None = None) -> None:
        self.problem = problem
        self.written_rows = 0
        self.dropped_rows = 0

    def record(
        self,
        trips: pd.DataFrame,
        predictions: Sequence[float] | np.ndarray,
        model_version: int | str | None = None,
        model_role: str | None = None,
    ) -> bool:
        if self.problem is not None:
            self.dropped_rows += len(trips)
        return False

    def close(self) -> None:
        return None


@dataclass(frozen=True)
class _Batch:
    logged_at: datetime
    trips: pd.DataFrame
    predictions: np.ndarray
    model_version: int | str | None
    model_role: str | None = None


_STOP = object()


class PredictionLog:
    """A buffered, thread-backed sink; use as a context manager or call ``close`` at shutdown."""

    def __init__(self, settings: PredictionLogSettings) -> None:
        self.settings = settings
        self.folder = settings.dir
        self.folder.mkdir(parents=True, exist_ok=True)
        self.written_rows = 0
        self.dropped_rows = 0
        self.files: list[Path] = []
        self._pending = 0
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._sequence = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def record(
        self,
        trips: pd.DataFrame,
        predictions: Sequence[float] | np.ndarray,
        model_version: int | str | None = None,
        model_role: str | None = None,
    ) -> bool:
        """Queue the rows for writing (the frame must not be changed afterwards).

        Returns False when the rows were dropped: the log is closed or too far behind.
        """
        rows = len(trips)
        if rows != len(predictions):
            raise ValueError(f"{rows} trips but {len(predictions)} predictions")
        with self._lock:
            if self._closed or self._pending + rows > self.settings.max_pending:
                self.dropped_rows += rows
                return False
            self._pending += rows
        batch = _Batch(datetime.now(UTC), trips, np.asarray(predictions), model_version, model_role)
        self._queue.put(batch)
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Write what is waiting and stop the writer thread; later records are dropped."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self.dropped_rows:
            logger.warning("prediction log dropped {} rows", self.dropped_rows)

    def __enter__(self) -> PredictionLog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _run(self) -> None:
        waiting: list[_Batch] = []
        rows = 0
        deadline: float | None = None  # when the oldest waiting rows must be written
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            if isinstance(item, _Batch):
                if not waiting:
                    deadline = time.monotonic() + self.settings.max_seconds
                waiting.append(item)
                rows += len(item.trips)
            stopping = item is _STOP
            if waiting and (stopping or rows >= self.settings.max_rows or item is None):
                self._write(waiting, rows)
                waiting, rows, deadline = [], 0, None
            if stopping:
                return

    def _write(self, batches: list[_Batch], rows: int) -> None:
        try:
            frame = combine(batches)
            path = self._next_path()
            partial = path.with_name(f".{path.name}.part")
            if self.settings.file_format == "parquet":
                frame.to_parquet(partial, index=False)
            else:
                frame.to_json(partial, orient="records", lines=True, date_format="iso")
            partial.replace(path)
            self.files.append(path)
            self.written_rows += rows
        except Exception as error:  # a full disk must not take the service down
            logger.error("prediction log could not write {} rows: {}", rows, error)
            with self._lock:
                self.dropped_rows += rows
        finally:
            with self._lock:
                self._pending -= rows

    def _next_path(self) -> Path:
        self._sequence += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        suffix = "parquet" if self.settings.file_format == "parquet" else "jsonl"
        name = f"{FILE_PREFIX}-{stamp}-{HOST}-{os.getpid()}-{self._sequence:06d}.{suffix}"
        return self.folder / name


def combine(batches: list[_Batch]) -> pd.DataFrame:
    """The logged rows: the trips' columns, the prediction, the model's version and role, the time.

    Column by column with numpy: the service logs one-row frames, and concatenating thousands of
    small DataFrames costs about a millisecond each, slower than the service answers.
    """
    columns = list(batches[0].trips.columns)
    if any(list(batch.trips.columns) != columns for batch in batches):
        return pd.concat([combine([batch]) for batch in batches], ignore_index=True)
    data: dict[str, object] = {}
    for name in columns:
        dtype = batches[0].trips[name].dtype
        values = np.concatenate([batch.trips[name].to_numpy() for batch in batches])
        data[name] = pd.array(values, dtype=dtype) if isinstance(dtype, ExtensionDtype) else values
    sizes = [len(batch.trips) for batch in batches]
    versions = [None if b.model_version is None else str(b.model_version) for b in batches]
    data[PREDICTION] = np.concatenate([batch.predictions for batch in batches]).astype(float)
    data[MODEL_VERSION] = np.repeat(np.array(versions, dtype=object), sizes)
    roles = [batch.model_role for batch in batches]
    data[ROLE] = np.repeat(np.array(roles, dtype=object), sizes)
    stamps = np.array([batch.logged_at.replace(tzinfo=None) for batch in batches], "datetime64[us]")
    data[LOGGED_AT] = pd.DatetimeIndex(np.repeat(stamps, sizes)).tz_localize(UTC)
    return pd.DataFrame(data)


def open_prediction_log(settings: PredictionLogSettings) -> PredictionSink:
    """The configured sink: a ``PredictionLog`` when enabled, else one that does nothing.

    A folder that cannot be created (a read-only or full disk) disables the log with a warning
    instead of stopping the caller: predictions matter more than their record.
    """
    if not settings.enabled:
        return DisabledPredictionLog()
    try:
        settings.dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        problem = f"cannot create the folder {settings.dir}: {error.strerror or error}"
        logger.warning("prediction log disabled: {}", problem)
        return DisabledPredictionLog(problem)
    logger.info("logging predictions to {} ({})", settings.dir, settings.file_format)
    return PredictionLog(settings)
