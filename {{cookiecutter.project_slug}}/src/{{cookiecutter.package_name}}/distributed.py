"""Training and batch prediction on a Dask cluster, with the same code per partition as locally.

Used when ``DASK__SCHEDULER_ADDRESS`` is set. Every partition of a month goes through the
functions a local run uses on the whole month: ``data.to_trips`` (normalized types),
``data.clean_for_training`` or ``predict.predict_frame`` (the validation rules of
``validation.py``) and, inside the model, ``features.feature_matrix``. Only the orchestration
differs: LightGBM's own Dask estimator trains data-parallel on the workers (each builds histograms
of its partitions, they merge them), and metrics are sums gathered from the partitions, so no
month is ever collected on this machine.

The files must be readable at the same path here and on every worker (a shared volume), because
Dask reads their footers here to plan the partitions and the workers read the rows. Dask and
distributed are imported only in this module, which only runs with a scheduler address.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dask
import dask.dataframe as dd
import lightgbm
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dask.distributed import Client, wait
from lightgbm import DaskLGBMRegressor
from loguru import logger

from .config import ENV_PREFIX, DaskSettings, DataSettings, Settings, TrainingSettings
from .data import (
    DURATION,
    INFERENCE_COLUMNS,
    TRAINING_COLUMNS,
    CleanTrips,
    DataError,
    RowAccount,
    TooFewRowsError,
    clean_for_training,
    source_columns,
    to_trips,
    write_quarantine,
)
from .features import CATEGORICAL_INDICES, FEATURE_NAMES, feature_matrix
from .model import TUNABLE_PARAMS, TripDurationModel, build_estimator
from .outputs import atomic_write
from .predict import REJECTION, BatchSummary, predict_frame
from .registry import ModelRegistry
from .versions import CHAMPION

# Partial sums of one partition: rows, squared error, absolute error, y, y squared.
SUMS = ("rows", "squared_error", "absolute_error", "target", "target_squared")


class ClusterUnreachableError(DataError):
    """The scheduler does not answer; a ``DataError`` so the CLI reports it in one line."""


def connect(settings: DaskSettings) -> Client:
    """A client of the configured scheduler; fails with the address when it cannot be reached."""
    try:
        client = Client(settings.scheduler_address, timeout=settings.connect_timeout)
    except OSError as error:
        raise ClusterUnreachableError(
            f"cannot reach the Dask scheduler at {settings.scheduler_address}: {error}"
        ) from error
    workers = worker_count(client)
    logger.info("connected to Dask at {}: {} workers", client.scheduler.address, workers)
    return client


def worker_count(client: Client) -> int:
    return len(client.scheduler_info()["workers"])


@dataclass
class ClusterTrips:
    """A month cleaned on the workers: the kept rows stay there; the account comes back here."""

    trips: dd.DataFrame
    account: RowAccount


def read_month(path: Path, columns: tuple[str, ...] | None) -> dd.DataFrame:
    """A file as a Dask frame, only the needed columns read (the workers read the row groups)."""
    if not path.exists():
        raise DataError(f"{path}: file not found")
    try:
        available = pq.read_schema(path).names
    except (pa.ArrowException, OSError) as error:
        raise DataError(f"{path}: not a readable parquet file ({error})") from error
    names = None if columns is None else list(source_columns(available, columns, path))
    # Dask would turn text columns into pyarrow strings; keep pandas' own types, as a local read.
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.read_parquet(str(path.resolve()), columns=names)


def clean_partition(raw: pd.DataFrame, settings: DataSettings, source: str) -> CleanTrips:
    """One partition through the local cleaning: normalized types, validation rules, filters."""
    return clean_for_training(to_trips(raw, TRAINING_COLUMNS, source), settings, source)


def add_accounts(source: str, accounts: list[RowAccount]) -> RowAccount:
    """The partitions' accounts as one account of the whole file."""
    total = RowAccount(source=source)
    for account in accounts:
        total.read += account.read
        total.used += account.used
        total.filtered_by_duration += account.filtered_by_duration
        for reason, count in account.quarantined.items():
            total.quarantined[reason] = total.quarantined.get(reason, 0) + count
    total.quarantined = dict(sorted(total.quarantined.items(), key=lambda item: -item[1]))
    return total


def load_month_on_cluster(client: Client, settings: DataSettings, month: str) -> ClusterTrips:
    """Read, validate and filter one month on the workers; quarantined rows are written here."""
    path = settings.month_file(month)
    raw = read_month(path, TRAINING_COLUMNS)
    cleaned = [
        dask.delayed(clean_partition)(part, settings, str(path)) for part in raw.to_delayed()
    ]
    # Cleaned once and kept on the workers; the trips, accounts and quarantine read from that.
    cleaned = client.persist(cleaned)
    accounts, quarantined = client.gather(
        client.compute(([part.account for part in cleaned], [part.quarantined for part in cleaned]))
    )
    account = add_accounts(str(path), accounts)
    if account.quarantined_total:
        rows = pd.concat(quarantined, ignore_index=True)
        write_quarantine(rows, settings.quarantine_dir / path.name)
    if account.used == 0:
        raise DataError(f"{path}: no usable rows left after validation and filtering")
    if account.used < settings.min_rows:
        raise TooFewRowsError(
            f"{path}: {account.used} usable row(s) left after validation and filtering, "
            f"fewer than {settings.min_rows} ({ENV_PREFIX}DATA__MIN_ROWS)"
        )
    meta = to_trips(raw._meta, TRAINING_COLUMNS, path).assign(**{DURATION: pd.Series(dtype=float)})
    trips = dd.from_delayed([part.trips for part in cleaned], meta=meta, verify_meta=False)
    workers = sorted(client.scheduler_info()["workers"])
    if trips.npartitions < len(workers):
        trips = trips.repartition(npartitions=len(workers))
    # Partitions dealt to the workers in turn: LightGBM trains on the workers that hold data, and
    # Dask alone would keep a small month on the worker that read it.
    placed = [
        client.compute(part, workers=[workers[index % len(workers)]])
        for index, part in enumerate(trips.to_delayed())
    ]
    # Until the trips exist on the workers, they need the cleaned partitions this function holds.
    wait(placed)
    trips = dd.from_delayed(placed, meta=meta, verify_meta=False)
    logger.info("{}: {} rows in {} partitions", path, account.used, trips.npartitions)
    return ClusterTrips(trips=trips, account=account)


def features_of(trips: pd.DataFrame) -> pd.DataFrame:
    """``feature_matrix`` of one partition, as a frame Dask can hand to LightGBM."""
    return pd.DataFrame(feature_matrix(trips), columns=list(FEATURE_NAMES), index=trips.index)


class LightGBMMessages:
    """LightGBM's messages in this project's log instead of on standard output."""

    def info(self, message: str) -> None:
        logger.debug("lightgbm: {}", message)

    def warning(self, message: str) -> None:
        # LightGBM says the Dask estimator ignores n_jobs; each worker still trains with that
        # many threads, which matters: bagging draws rows per block of threads.
        log = logger.debug if "n_jobs will be ignored" in message else logger.warning
        log("lightgbm: {}", message)


def fit_on_cluster(
    client: Client, train: ClusterTrips, params: TrainingSettings, seed: int
) -> TripDurationModel:
    """LightGBM's Dask estimator with the local estimator's parameters; returns a local model."""
    features = train.trips.map_partitions(features_of, meta=features_of(train.trips._meta))
    estimator = DaskLGBMRegressor(client=client, **build_estimator(params, seed).get_params())
    # LightGBM prints its messages, onto the command's output (JSON that scripts read).
    lightgbm.register_logger(LightGBMMessages())
    estimator.fit(
        features,
        train.trips[DURATION],
        feature_name=list(FEATURE_NAMES),
        categorical_feature=list(CATEGORICAL_INDICES),
    )
    chosen = {name: getattr(params, name) for name in TUNABLE_PARAMS}
    # The plain LGBMRegressor: what the registry stores and the service loads, as after a local fit.
    return TripDurationModel(estimator=estimator.to_local(), params=chosen)


def error_sums(trips: pd.DataFrame, model: TripDurationModel) -> np.ndarray:
    """One partition's partial sums (``SUMS``) of the model's errors."""
    target = trips[DURATION].to_numpy(dtype=float)
    error = target - model.predict(trips)
    return np.array(
        [[len(target), error @ error, np.abs(error).sum(), target.sum(), target @ target]]
    )


def metrics_on_cluster(client: Client, trips: ClusterTrips, model: TripDurationModel) -> dict:
    """RMSE, MAE and R² of ``model`` on a month held by the workers, from partition sums."""
    # Scattered once (otherwise every task would carry a copy of the model), under a new key:
    # a hashed key could name a copy that an earlier call has just released.
    [shared] = client.scatter([model], broadcast=True, hash=False)
    parts = [dask.delayed(error_sums)(part, shared) for part in trips.trips.to_delayed()]
    rows, squared, absolute, target, target_squared = np.vstack(
        client.gather(client.compute(parts))
    ).sum(axis=0)
    total_squares = target_squared - target**2 / rows
    return {
        "rmse": float(np.sqrt(squared / rows)),
        "mae": float(absolute / rows),
        "r2": float(1 - squared / total_squares) if total_squares > 0 else 0.0,
    }


def scored_partitions(
    client: Client, source: Path, model: TripDurationModel
) -> Iterator[pd.DataFrame]:
    """The scored partitions of a file, in input order, a few in flight at a time."""
    raw = read_month(source, None)
    [shared] = client.scatter([model], broadcast=True, hash=False)
    parts = [dask.delayed(predict_frame)(part, shared) for part in raw.to_delayed()]
    window = 2 * max(worker_count(client), 1)
    futures = client.compute(parts[:window])
    for index in range(len(parts)):
        if index + window < len(parts):
            futures.append(client.compute(parts[index + window]))
        yield futures[index].result()
        futures[index] = None  # the cluster may forget a partition once it is written


def predict_file_on_cluster(
    client: Client, source: Path, target: Path, model: TripDurationModel
) -> BatchSummary:
    """Like ``predict.predict_file``: every input row with a prediction or a reason, in order.

    The workers read and score the partitions; this machine writes them one after the other into
    one parquet file, so the output is the same file a local run writes.
    """
    rows = rejected = 0
    # Whole or absent, as a local run's output: written under a hidden name, renamed at the end.
    with atomic_write(target) as partial:
        writer: pq.ParquetWriter | None = None
        try:
            for scored in scored_partitions(client, source, model):
                table = pa.Table.from_pandas(
                    scored, schema=writer.schema if writer else None, preserve_index=False
                )
                if writer is None:
                    writer = pq.ParquetWriter(partial, table.schema)
                writer.write_table(table)
                rows += len(scored)
                rejected += int(scored[REJECTION].notna().sum())
        finally:
            if writer is not None:
                writer.close()
        if rows == 0:
            raise DataError(f"{source}: the file has no rows")
    summary = BatchSummary(rows=rows, predicted=rows - rejected, rejected=rejected)
    logger.info("{} -> {} on the cluster: {}", source, target, summary)
    return summary


@dataclass
class ClusterFit:
    """What a training run on the cluster hands to the registration step of ``train``."""

    model: TripDurationModel
    metrics: dict[str, float]
    accounts: dict[str, dict[str, object]]
    champion_rmse: float | None
    input_example: pd.DataFrame
    compute: str


def train_on_cluster(
    settings: Settings, params: TrainingSettings, registry: ModelRegistry
) -> ClusterFit:
    """Clean both months and fit on the workers; score the model and the champion there too."""
    data = settings.data
    with connect(settings.dask) as client:
        train = load_month_on_cluster(client, data, data.train_month)
        val = load_month_on_cluster(client, data, data.val_month)
        started = time.perf_counter()
        model = fit_on_cluster(client, train, params, settings.seed)
        fit_seconds = time.perf_counter() - started
        metrics = metrics_on_cluster(client, val, model)
        metrics["train_rmse"] = metrics_on_cluster(client, train, model)["rmse"]
        metrics["fit_seconds"] = round(fit_seconds, 3)
        champion = registry.get_version(CHAMPION)
        champion_rmse = (
            metrics_on_cluster(client, val, registry.load(champion.version))["rmse"]
            if champion is not None
            else None
        )
        example = val.trips[list(INFERENCE_COLUMNS)].head(5)
        compute = f"dask {client.scheduler.address} ({worker_count(client)} workers)"
    return ClusterFit(
        model=model,
        metrics=metrics,
        accounts={"train": train.account.as_dict(), "validation": val.account.as_dict()},
        champion_rmse=champion_rmse,
        input_example=example,
        compute=compute,
    )


def predict_on_cluster(
    settings: DaskSettings, source: Path, target: Path, model: TripDurationModel
) -> BatchSummary:
    """``predict_file_on_cluster`` with a client of the configured scheduler."""
    with connect(settings) as client:
        return predict_file_on_cluster(client, source, target, model)
