"""Read TLC trip files, normalize their types, and account for every row.

Real monthly files disagree on types (location IDs as strings, int32 or int64; extra or
null-typed columns), so everything is normalized to one schema right after reading. Rows that
break a rule are quarantined with the reason, rows outside the modelled duration range are
filtered, and the counts always add up: ``read == used + quarantined + filtered``.

Months are read in batches of ``batch_rows`` through pyarrow datasets: only the needed columns
are decoded, an optional pickup-month filter runs inside the reader, and each batch is normalized
and validated before the next is read, so a year of history never exists as raw columns at once.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from loguru import logger

from .config import ENV_PREFIX, DataSettings
from .months import format_months, month_index, month_name
from .outputs import atomic_write
from .progress import progress_bar, track
from .timing import Stopwatch
from .trip import COLUMNS, DROPOFF, DURATION, PICKUP, SOURCE_NAMES, TRAINING_COLUMNS
from .validation import (
    INFERENCE_RULES,
    TRAINING_RULES,
    Rules,
    counts_by_reason,
    first_violation,
)

DOWNLOAD_CHUNK_BYTES = 1 << 20


class DataError(RuntimeError):
    """A file cannot be used at all; the message names the file and the problem."""


class TooFewRowsError(DataError):
    """The rows are good but too few to fit, measure or compare: wait for more data."""


@dataclass
class RowAccount:
    """Where every row of one file went."""

    source: str
    read: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    filtered_by_duration: int = 0
    used: int = 0
    # Rows the reader skipped because their pickup is outside the file's month (off by default).
    outside_month: int = 0

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())

    @property
    def balanced(self) -> bool:
        removed = self.quarantined_total + self.filtered_by_duration + self.outside_month
        return self.read == self.used + removed

    def add(self, other: RowAccount) -> None:
        """Count ``other``'s rows in this account too (a batch into its month, a month into all)."""
        self.read += other.read
        for reason, count in other.quarantined.items():
            self.quarantined[reason] = self.quarantined.get(reason, 0) + count
        self.quarantined = dict(sorted(self.quarantined.items(), key=lambda item: -item[1]))
        self.filtered_by_duration += other.filtered_by_duration
        self.used += other.used
        self.outside_month += other.outside_month

    def as_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "read": self.read,
            "quarantined": dict(self.quarantined),
            "quarantined_total": self.quarantined_total,
            "filtered_by_duration": self.filtered_by_duration,
            "outside_month": self.outside_month,
            "used": self.used,
        }


@dataclass
class CleanTrips:
    """The rows a job may use, the rows it may not (with a ``reason`` column), and the account.

    ``account`` covers every month read; ``by_month`` keeps each month's own account.
    """

    trips: pd.DataFrame
    quarantined: pd.DataFrame
    account: RowAccount
    by_month: dict[str, RowAccount] = field(default_factory=dict)


def copy_with_progress(
    source: BinaryIO, target: BinaryIO, total: int | None, description: str
) -> None:
    """Copy a download in chunks, advancing a progress bar by the bytes received."""
    with progress_bar(description, total) as advance:
        while chunk := source.read(DOWNLOAD_CHUNK_BYTES):
            target.write(chunk)
            advance(len(chunk))


def download_month(settings: DataSettings, month: str, *, overwrite: bool = False) -> Path:
    """Download one TLC month into ``raw_dir``; the file appears only once it is complete."""
    target = settings.month_file(month, settings.raw_dir)
    if target.exists() and not overwrite:
        logger.info("{} already present, not downloading", target)
        return target
    url = settings.month_url(month)
    logger.info("downloading {} -> {}", url, target)
    with atomic_write(target) as partial:
        try:
            # S310: the URL is the project's own setting (DATA__BASE_URL), never request input.
            with (
                urllib.request.urlopen(url, timeout=60) as response,  # noqa: S310
                partial.open("wb") as out,
            ):
                size = int(response.headers.get("Content-Length") or 0) or None
                copy_with_progress(response, out, size, f"download {month}")
        except OSError as error:  # the network or the disk: either way, not downloaded
            raise DataError(f"{url}: download failed: {error}") from error
    read_trips(target, TRAINING_COLUMNS)  # fail now, not at training time, if it is not usable
    return target


def source_columns(
    available: list[str], columns: tuple[str, ...], origin: object
) -> dict[str, str]:
    """Map the file's column names to canonical ones; a missing column is a ``DataError``."""
    selected = {}
    missing = []
    for column in columns:
        found = [name for name in SOURCE_NAMES.get(column, (column,)) if name in available]
        if found:
            selected[found[0]] = column
        else:
            missing.append(column)
    if missing:
        raise DataError(f"{origin}: missing required column(s) {', '.join(missing)}")
    return selected


def read_parquet_checked(path: Path, columns: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Read a parquet file (all columns, or the canonical ``columns``) with one clear error."""
    if not path.exists():
        raise DataError(f"{path}: file not found")
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as error:
        raise DataError(f"{path}: not a readable parquet file ({error})") from error
    names = None if columns is None else list(source_columns(schema.names, columns, path))
    try:
        table = pq.read_table(path, columns=names)
        if table.num_rows == 0:
            raise DataError(f"{path}: the file has no rows")
        return table.to_pandas()
    except (pa.ArrowException, OSError) as error:
        # A truncated or corrupt file can pass the footer check and fail inside a column chunk.
        raise DataError(f"{path}: cannot read the parquet data ({error})") from error


def read_folder(folder: Path) -> pd.DataFrame:
    """Every parquet and JSON-lines file of a folder (a prediction log, say), oldest name first.

    Hidden files are skipped: a writer that renames finished files into place keeps its partial
    files hidden, so a reader never sees half a file.
    """
    files = sorted(
        path
        for path in folder.iterdir()
        if path.suffix in {".parquet", ".jsonl"} and not path.name.startswith(".")
    )
    if not files:
        raise DataError(f"{folder}: no .parquet or .jsonl files in this folder")
    frames = []
    for path in files:
        if path.suffix == ".parquet":
            frames.append(read_parquet_checked(path))
            continue
        try:
            frames.append(pd.read_json(path, lines=True))
        except ValueError as error:
            raise DataError(f"{path}: not a readable JSON-lines file ({error})") from error
    return pd.concat(frames, ignore_index=True)


def to_trips(raw: pd.DataFrame, columns: tuple[str, ...], origin: object) -> pd.DataFrame:
    """The canonical, normalized columns of a raw frame (TLC names or canonical names)."""
    selected = source_columns(list(raw.columns), columns, origin)
    try:
        return normalize(raw[list(selected)].rename(columns=selected))
    except (TypeError, ValueError) as error:
        # Values that do not parse become NA; only a column type that cannot convert at all is here.
        kinds = ", ".join(f"{name} is {raw[name].dtype}" for name in selected)
        raise DataError(f"{origin}: columns of unusable types ({kinds}): {error}") from error


def read_trips(path: Path, columns: tuple[str, ...] = TRAINING_COLUMNS) -> pd.DataFrame:
    """Read only the needed columns of one parquet file and normalize them to one schema."""
    return to_trips(read_parquet_checked(path, columns), columns, path)


def normalize(frame: pd.DataFrame) -> pd.DataFrame:
    """Coerce the known type variants to the types of ``trip.py``; what cannot be coerced is NA."""
    out = frame.copy()
    for name in out.columns.intersection(list(COLUMNS)):
        kind = COLUMNS[name].kind
        if kind == "time":
            values = pd.to_datetime(out[name], errors="coerce")
        elif kind == "integer":
            values = whole_numbers(pd.to_numeric(out[name], errors="coerce"))
        else:
            values = pd.to_numeric(out[name], errors="coerce")
        out[name] = values.astype(COLUMNS[name].frame_dtype)
    return out.reset_index(drop=True)


def duration_minutes(frame: pd.DataFrame) -> pd.Series:
    """Duration in minutes, vectorized (no per-row Python)."""
    return (frame[DROPOFF] - frame[PICKUP]).dt.total_seconds() / 60.0


def whole_numbers(values: pd.Series) -> pd.Series:
    """Nullable integers; a fraction or an absurd size becomes NA instead of failing the file."""
    whole = (values % 1 == 0) & (values.abs() < 2**31)
    return values.where(whole.fillna(False).astype(bool)).astype("Int64")


def split_by_rules(frame: pd.DataFrame, rules: Rules) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Separate valid rows from rows that break a rule; the latter get a ``reason`` column."""
    reasons = first_violation(frame, rules)
    bad = reasons.notna()
    quarantined = frame[bad].assign(reason=reasons[bad])
    return frame[~bad], quarantined


def clean_for_training(frame: pd.DataFrame, settings: DataSettings, source: str) -> CleanTrips:
    """Quarantine invalid rows, then keep durations inside the modelled range."""
    clean = clean_batch(frame, settings, source)
    log_account(clean.account, settings)
    return clean


def log_account(account: RowAccount, settings: DataSettings) -> None:
    logger.info(
        "{}: read {} rows, quarantined {} {}, removed {} outside {}..{} min{}, using {}",
        account.source,
        account.read,
        account.quarantined_total,
        account.quarantined,
        account.filtered_by_duration,
        settings.min_duration_minutes,
        settings.max_duration_minutes,
        (
            f", skipped {account.outside_month} picked up outside the month"
            if account.outside_month
            else ""
        ),
        account.used,
    )


def clean_batch(frame: pd.DataFrame, settings: DataSettings, source: str) -> CleanTrips:
    """``clean_for_training`` without the log line: months are cleaned batch by batch."""
    account = RowAccount(source=source, read=len(frame))
    reasons = first_violation(frame, TRAINING_RULES)
    bad = reasons.notna().to_numpy()
    quarantined = frame[bad].assign(reason=reasons[bad])
    account.quarantined = counts_by_reason(quarantined["reason"])
    # One selection of the kept rows, not one copy per step: months can have millions of rows.
    duration = duration_minutes(frame)
    in_range = duration.between(
        settings.min_duration_minutes, settings.max_duration_minutes
    ).to_numpy()
    account.filtered_by_duration = int((~bad & ~in_range).sum())
    keep = ~bad & in_range
    trips = frame[keep].assign(**{DURATION: duration[keep]}).reset_index(drop=True)
    account.used = len(trips)
    return CleanTrips(trips=trips, quarantined=quarantined.reset_index(drop=True), account=account)


def load_month(settings: DataSettings, month: str) -> CleanTrips:
    """Read, validate and filter one month; quarantined rows are written beside the account."""
    return load_months(settings, (month,))


def load_months(
    settings: DataSettings, months: Iterable[str], watch: Stopwatch | None = None
) -> CleanTrips:
    """Read, validate and filter several months into one set of rows, with one account each.

    Every month is read batch by batch (see ``scan_trips``); only the kept rows of a batch stay in
    memory. Quarantined rows are written per month, beside that month's account. ``watch``, when
    given, is charged the reading and the cleaning separately.
    """
    watch = watch or Stopwatch()
    months = tuple(months)
    kept: list[pd.DataFrame] = []
    quarantined: list[pd.DataFrame] = []
    by_month: dict[str, RowAccount] = {}
    for month in track(months, "reading months"):
        path = settings.month_file(month)
        account = RowAccount(source=str(path))
        month_quarantine: list[pd.DataFrame] = []
        for batch in scan_trips(path, TRAINING_COLUMNS, settings, month, account):
            watch.lap("read")
            clean = clean_batch(batch, settings, str(path))
            watch.lap("clean")
            account.add(clean.account)
            kept.append(clean.trips)
            if len(clean.quarantined):
                month_quarantine.append(clean.quarantined)
        log_account(account, settings)
        if month_quarantine:
            rows = pd.concat(month_quarantine, ignore_index=True)
            write_quarantine(rows, settings.quarantine_dir / path.name)
            quarantined.append(rows)
        if account.used == 0:
            raise DataError(f"{path}: no usable rows left after validation and filtering")
        if account.used < settings.min_rows:
            raise TooFewRowsError(
                f"{path}: {account.used} usable row(s) left after validation and filtering, "
                f"fewer than {settings.min_rows} ({ENV_PREFIX}DATA__MIN_ROWS)"
            )
        by_month[month] = account
        watch.lap("read")
    # One month's total is that month's own account (its file as the source), as it always was.
    total = RowAccount(source=format_months(months) if len(months) > 1 else str(path))
    for account in by_month.values():
        total.add(account)
    trips = pd.concat(kept, ignore_index=True) if len(kept) > 1 else kept[0]
    kept.clear()  # the batches' rows now live in ``trips`` only
    return CleanTrips(
        trips=trips,  # batches are already numbered from 0, and concat renumbers
        quarantined=(
            pd.concat(quarantined, ignore_index=True)
            if quarantined
            else trips.iloc[:0].assign(reason=pd.Series(dtype="string"))
        ),
        account=total,
        by_month=by_month,
    )


def open_dataset(path: Path) -> ds.Dataset:
    """One parquet file as a pyarrow dataset, with the same clear errors as a whole-file read."""
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if not path.is_file():  # a dataset of a folder would read its files: a month is one file
        raise DataError(f"{path}: not a readable parquet file (it is a folder)")
    try:
        return ds.dataset(path, format="parquet")
    except (pa.ArrowException, OSError) as error:
        raise DataError(f"{path}: not a readable parquet file ({error})") from error


def pickup_month_filter(
    dataset: ds.Dataset, pickup_name: str, month: str, path: Path
) -> ds.Expression:
    """Pickup inside ``month``, as an expression the parquet reader applies while decoding."""
    kind = dataset.schema.field(pickup_name).type
    if not pa.types.is_timestamp(kind):
        raise DataError(
            f"{path}: {pickup_name} is {kind}, not a timestamp, so pickups cannot be filtered "
            "by month in the reader; turn DATA__PICKUPS_IN_MONTH_ONLY off for this file"
        )
    start, stop = (
        pa.scalar(datetime.fromisoformat(f"{name}-01"), type=kind)
        for name in (month, month_name(month_index(month) + 1))
    )
    return (ds.field(pickup_name) >= start) & (ds.field(pickup_name) < stop)


def scan_trips(
    path: Path,
    columns: tuple[str, ...],
    settings: DataSettings,
    month: str | None = None,
    account: RowAccount | None = None,
) -> Iterator[pd.DataFrame]:
    """Normalized trips of one parquet file, ``settings.batch_rows`` at a time.

    Only ``columns`` are decoded (column projection). With ``pickups_in_month_only`` and a
    ``month``, rows picked up outside it are skipped inside the reader (a pushed-down filter) and
    counted in ``account.outside_month``, so the account still adds up.
    """
    dataset = open_dataset(path)
    try:
        total = dataset.count_rows()
    except (pa.ArrowException, OSError) as error:
        raise DataError(f"{path}: not a readable parquet file ({error})") from error
    if total == 0:
        raise DataError(f"{path}: the file has no rows")
    selected = source_columns(dataset.schema.names, columns, path)
    row_filter = None
    if settings.pickups_in_month_only and month is not None:
        pickup_name = next(name for name, column in selected.items() if column == PICKUP)
        row_filter = pickup_month_filter(dataset, pickup_name, month, path)
    scanned = 0
    try:
        batches = dataset.to_batches(
            columns=list(selected), filter=row_filter, batch_size=settings.batch_rows
        )
        for batch in batches:
            if batch.num_rows:
                scanned += batch.num_rows
                yield to_trips(batch.to_pandas(), columns, path)
    except (pa.ArrowException, OSError) as error:
        # A truncated or corrupt file can pass the footer check and fail inside a column chunk.
        raise DataError(f"{path}: cannot read the parquet data ({error})") from error
    if account is not None:
        account.read += total - scanned
        account.outside_month += total - scanned


def write_quarantine(rows: pd.DataFrame, path: Path) -> None:
    with atomic_write(path) as partial:
        rows.to_parquet(partial, index=False)
    logger.warning("{} quarantined rows written to {}", len(rows), path)


def split_for_inference(trips: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows a model can score, and rows it cannot (with the reason), for batch prediction."""
    return split_by_rules(trips, INFERENCE_RULES)
