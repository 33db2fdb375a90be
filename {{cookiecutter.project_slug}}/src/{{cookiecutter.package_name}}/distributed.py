"""Training and batch prediction on a Dask cluster, with the same code per partition as locally.

Used when ``DASK__SCHEDULER_ADDRESS`` is set. Every partition goes through the functions a local
run uses batch by batch: ``data.to_trips`` (normalized types) and ``data.clean_batch`` (the
validation rules of ``validation.py``) for training, ``predict.score_batch`` for prediction, and,
inside the model, ``features.feature_matrix``. Only the orchestration differs: LightGBM's own Dask
estimator trains data-parallel on the workers (each builds histograms of its partitions, they
merge them), and metrics are sums gathered from the partitions, so no month is ever collected on
this machine.

The files must be readable at the same path here and on every worker (a shared volume), because
Dask reads their footers here to plan the partitions and the workers read the rows. Dask and
distributed are imported only in this module, which only runs with a scheduler address.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask
import dask.dataframe as dd
import lightgbm
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dask.delayed import delayed
from dask.distributed import Client, Future, wait
from lightgbm import DaskLGBMRegressor
from loguru import logger

from .config import ENV_PREFIX, DaskSettings, DataSettings, Settings, TrainingSettings
from .data import (
    CleanTrips,
    DataError,
    RowAccount,
    TooFewRowsError,
    clean_batch,
    log_account,
    source_columns,
    to_trips,
    write_quarantine,
)
from .features import CATEGORICAL_INDICES, FEATURE_NAMES, feature_matrix
from .model import TUNABLE_PARAMS, TripDurationModel, build_estimator
from .months import format_months
from .outputs import atomic_write
from .predict import REJECTION, BatchSummary, open_parquet, prediction_jobs, score_batch
from .timing import Stopwatch
from .train import Fitted
from .trip import DURATION, INFERENCE_COLUMNS, PICKUP, TRAINING_COLUMNS

# Partial sums of one partition: rows, squared error, absolute error, y, y squared.
# Validation rows gathered from the workers for the model card's pictures (a sample).
CARD_ROWS = 100_000
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
    address = client.scheduler_info()["address"]
    logger.info("connected to Dask at {}: {} workers", address, workers(client))
    return client


def workers(client: Client) -> int:
    return len(client.scheduler_info()["workers"])


@dataclass
class ClusterTrips:
    """Months cleaned on the workers: the kept rows stay there; the accounts come back here."""

    trips: dd.DataFrame
    account: RowAccount
    by_month: dict[str, RowAccount] = field(default_factory=dict)


def read_month(path: Path) -> dd.DataFrame:
    """A file as a Dask frame, only the training columns read (the workers read the row groups)."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        available = pq.read_schema(path).names
    except (pa.ArrowException, OSError) as error:
        raise DataError(f"{path}: not a readable parquet file ({error})") from error
    names = list(source_columns(available, TRAINING_COLUMNS, path))
    # Dask would turn text columns into pyarrow strings; keep pandas' own types, as a local read.
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.read_parquet(str(path.resolve()), columns=names)


def clean_partition(
    raw: pd.DataFrame, settings: DataSettings, path: Path, month: str
) -> CleanTrips:
    """One partition through the local cleaning: normalized types, validation rules, filters.

    With ``pickups_in_month_only``, rows picked up outside ``month`` are skipped first and
    counted in ``outside_month``, as the local reader does.
    """
    trips = to_trips(raw, TRAINING_COLUMNS, path)
    outside = 0
    if settings.pickups_in_month_only:
        start = pd.Timestamp(f"{month}-01")
        inside = trips[PICKUP].between(start, start + pd.offsets.MonthBegin(1), inclusive="left")
        outside = int((~inside).sum())
        trips = trips[inside.to_numpy()].reset_index(drop=True)
    clean = clean_batch(trips, settings, str(path))
    clean.account.read += outside
    clean.account.outside_month = outside
    return clean


def month_on_cluster(
    client: Client, settings: DataSettings, month: str
) -> tuple[list[Any], RowAccount]:
    """Read, validate and filter one month on the workers; quarantined rows are written here."""
    path = settings.month_file(month)
    raw = read_month(path)
    cleaned = [delayed(clean_partition)(part, settings, path, month) for part in raw.to_delayed()]
    # Cleaned once and kept on the workers; the trips, accounts and quarantine read from that.
    cleaned = client.persist(cleaned)
    accounts, quarantined = client.gather(
        client.compute(([part.account for part in cleaned], [part.quarantined for part in cleaned]))
    )
    account = RowAccount(source=str(path))
    for part in accounts:
        account.add(part)
    log_account(account, settings)
    if account.quarantined_total:
        write_quarantine(
            pd.concat(quarantined, ignore_index=True), settings.quarantine_dir / path.name
        )
    if account.used == 0:
        raise DataError(f"{path}: no usable rows left after validation and filtering")
    if account.used < settings.min_rows:
        raise TooFewRowsError(
            f"{path}: {account.used} usable row(s) left after validation and filtering, "
            f"fewer than {settings.min_rows} ({ENV_PREFIX}DATA__MIN_ROWS)"
        )
    return [part.trips for part in cleaned], account


def months_on_cluster(
    client: Client, settings: DataSettings, months: tuple[str, ...]
) -> ClusterTrips:
    """Several months cleaned on the workers as one frame, with one account per month."""
    parts: list[Any] = []
    by_month: dict[str, RowAccount] = {}
    for month in months:
        month_parts, by_month[month] = month_on_cluster(client, settings, month)
        parts += month_parts
    first = settings.month_file(months[0])
    meta = to_trips(read_month(first)._meta, TRAINING_COLUMNS, first).assign(
        **{DURATION: pd.Series(dtype=float)}
    )
    trips = dd.from_delayed(parts, meta=meta, verify_meta=False)
    names = sorted(client.scheduler_info()["workers"])
    if trips.npartitions < len(names):
        trips = trips.repartition(npartitions=len(names))
    # Partitions dealt to the workers in turn: LightGBM trains on the workers that hold data, and
    # Dask alone would keep a small month on the worker that read it.
    placed = [
        client.compute(part, workers=[names[index % len(names)]])
        for index, part in enumerate(trips.to_delayed())
    ]
    # Until the trips exist on the workers, they need the cleaned partitions this function holds.
    wait(placed)
    trips = dd.from_delayed(placed, meta=meta, verify_meta=False)
    total = RowAccount(source=format_months(months) if len(months) > 1 else str(first))
    for account in by_month.values():
        total.add(account)
    logger.info("{}: {} rows in {} partitions", total.source, total.used, trips.npartitions)
    return ClusterTrips(trips=trips, account=total, by_month=by_month)


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


def fit_model(
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
    # The booster alone: what the registry stores and the service loads, as after a local fit.
    return TripDurationModel(
        booster=estimator.to_local().booster_, params=chosen, num_threads=params.n_jobs
    )


def error_sums(trips: pd.DataFrame, model: TripDurationModel) -> np.ndarray:
    """One partition's partial sums (``SUMS``) of the model's errors."""
    target = trips[DURATION].to_numpy(dtype=float)
    error = target - model.predict(trips)
    return np.array(
        [[len(target), error @ error, np.abs(error).sum(), target.sum(), target @ target]]
    )


def metrics_on_cluster(
    client: Client, trips: ClusterTrips, model: TripDurationModel
) -> dict[str, float]:
    """RMSE, MAE and R² of ``model`` on rows held by the workers, from partition sums."""
    # Scattered once (otherwise every task would carry a copy of the model), under a new key:
    # a hashed key could name a copy that an earlier call has just released.
    [shared] = client.scatter([model], broadcast=True, hash=False)
    parts = [delayed(error_sums)(part, shared) for part in trips.trips.to_delayed()]
    rows, squared, absolute, target, target_squared = np.vstack(
        client.gather(client.compute(parts))
    ).sum(axis=0)
    total_squares = target_squared - target**2 / rows
    return {
        "rmse": float(np.sqrt(squared / rows)),
        "mae": float(absolute / rows),
        "r2": float(1 - squared / total_squares) if total_squares > 0 else 0.0,
    }


@contextmanager
def fit_on_cluster(
    settings: Settings, params: TrainingSettings, watch: Stopwatch
) -> Iterator[Fitted]:
    """Clean the months and fit on the workers; the client stays open while the caller
    registers, so that the champion is scored on the workers too (``Fitted.score``)."""
    data = settings.data
    with connect(settings.dask) as client:
        train = months_on_cluster(client, data, data.train_months)
        val = months_on_cluster(client, data, data.val_months)
        watch.lap("read")
        started = time.perf_counter()
        model = fit_model(client, train, params, settings.seed)
        fit_seconds = time.perf_counter() - started
        watch.lap("fit")
        metrics = metrics_on_cluster(client, val, model)
        metrics["train_rmse"] = metrics_on_cluster(client, train, model)["rmse"]
        metrics["fit_seconds"] = round(fit_seconds, 3)
        # The card's pictures from a sample gathered from the workers, not the whole months.
        card_trips = val.trips.head(CARD_ROWS, npartitions=-1)
        watch.lap("evaluate")
        yield Fitted(
            model=model,
            metrics=metrics,
            accounts={"train": train.account.as_dict(), "validation": val.account.as_dict()},
            accounts_by_month={
                role: {month: account.as_dict() for month, account in trips.by_month.items()}
                for role, trips in (("train", train), ("validation", val))
            },
            score=lambda other: metrics_on_cluster(client, val, other)["rmse"],
            input_example=val.trips[list(INFERENCE_COLUMNS)].head(5),
            card_trips=card_trips,
            card_predicted=model.predict(card_trips),
            compute=f"dask {client.scheduler_info()['address']} ({workers(client)} workers)",
        )


def score_row_group(source: Path, index: int, model: TripDurationModel) -> pa.Table:
    """One row group of a file, scored on a worker exactly as a local batch is."""
    table = pq.ParquetFile(source).read_row_group(index)
    batches = table.to_batches() or [pa.RecordBatch.from_pylist([], schema=table.schema)]
    return pa.concat_tables([score_batch(batch, model, source) for batch in batches])


def scored_row_groups(client: Client, source: Path, model: TripDurationModel) -> Iterator[pa.Table]:
    """The scored row groups of a file, in input order, a few in flight at a time."""
    groups = open_parquet(source).num_row_groups
    [shared] = client.scatter([model], broadcast=True, hash=False)
    window = 2 * max(workers(client), 1)
    pending: dict[int, Future[Any]] = {}
    for index in range(groups):
        # Up to ``window`` row groups in flight; a written one is released (the cluster forgets it).
        for ahead in range(index, min(index + window, groups)):
            if ahead not in pending:
                pending[ahead] = client.submit(score_row_group, source, ahead, shared)
        try:
            yield pending.pop(index).result()
        except (pa.ArrowException, OSError) as error:
            raise DataError(f"{source}: cannot read the parquet data ({error})") from error


def predict_file_on_cluster(
    client: Client, source: Path, target: Path, model: TripDurationModel
) -> BatchSummary:
    """Like ``predict.predict_file``: every input row with a prediction or a reason, in order.

    The workers read and score the row groups; this machine writes them one after the other
    into one parquet file, so the output is the file a local run writes.
    """
    rows = rejected = 0
    with atomic_write(target) as partial:
        writer: pq.ParquetWriter | None = None
        try:
            for table in scored_row_groups(client, source.resolve(), model):
                if writer is None:
                    writer = pq.ParquetWriter(partial, table.schema.remove_metadata())
                writer.write_table(table.replace_schema_metadata(None))
                rows += table.num_rows
                rejected += table.num_rows - table.column(REJECTION).null_count
        finally:
            if writer is not None:
                writer.close()
    summary = BatchSummary(rows=rows, predicted=rows - rejected, rejected=rejected)
    logger.info("{} -> {} on the cluster: {}", source, target, summary)
    return summary


def predict_on_cluster(
    settings: Settings, source: str, target: Path, model: TripDurationModel
) -> BatchSummary:
    """``predict.predict_source`` on the configured cluster: a file, a folder or months."""
    with connect(settings.dask) as client:
        summaries = [
            predict_file_on_cluster(client, path, out, model)
            for path, out in prediction_jobs(source, target, settings.data)
        ]
    total = summaries[0]
    for summary in summaries[1:]:
        total = total + summary
    return total
