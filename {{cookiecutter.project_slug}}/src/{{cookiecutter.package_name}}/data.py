"""Read TLC trip files, normalize their types, and account for every row.

Real monthly files disagree on types (location IDs as strings, int32 or int64; extra or
null-typed columns), so everything is normalized to one schema right after reading. Rows that
break a rule are quarantined with the reason, rows outside the modelled duration range are
filtered, and the counts always add up: ``read == used + quarantined + filtered``.
"""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from loguru import logger

from .config import ENV_PREFIX, DataSettings
from .outputs import atomic_write
from .progress import progress_bar
from .trip import DISTANCE, DROPOFF, DROPOFF_ZONE, PICKUP, PICKUP_ZONE
from .validation import (
    INFERENCE_RULES,
    TRAINING_RULES,
    Rules,
    counts_by_reason,
    first_violation,
)

DURATION = "duration_minutes"
# Canonical column -> the names it has in the TLC files (green uses lpep_, yellow tpep_).
SOURCE_NAMES: dict[str, tuple[str, ...]] = {
    PICKUP: ("lpep_pickup_datetime", "tpep_pickup_datetime", PICKUP),
    DROPOFF: ("lpep_dropoff_datetime", "tpep_dropoff_datetime", DROPOFF),
    PICKUP_ZONE: (PICKUP_ZONE,),
    DROPOFF_ZONE: (DROPOFF_ZONE,),
    DISTANCE: (DISTANCE,),
}
INFERENCE_COLUMNS = (PICKUP, PICKUP_ZONE, DROPOFF_ZONE, DISTANCE)
TRAINING_COLUMNS = (*INFERENCE_COLUMNS, DROPOFF)
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

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())

    @property
    def balanced(self) -> bool:
        return self.read == self.used + self.quarantined_total + self.filtered_by_duration

    def as_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "read": self.read,
            "quarantined": dict(self.quarantined),
            "quarantined_total": self.quarantined_total,
            "filtered_by_duration": self.filtered_by_duration,
            "used": self.used,
        }


@dataclass
class CleanTrips:
    """The rows a job may use, the rows it may not (with a ``reason`` column), and the account."""

    trips: pd.DataFrame
    quarantined: pd.DataFrame
    account: RowAccount


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
    """Coerce the known type variants to one schema; values that cannot be coerced become NA."""
    out = frame.copy()
    for column in (PICKUP, DROPOFF):
        if column in out:
            out[column] = pd.to_datetime(out[column], errors="coerce").astype("datetime64[us]")
    for column in (PICKUP_ZONE, DROPOFF_ZONE):
        if column in out:
            out[column] = whole_numbers(pd.to_numeric(out[column], errors="coerce"))
    if DISTANCE in out:
        out[DISTANCE] = pd.to_numeric(out[DISTANCE], errors="coerce").astype(float)
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
    logger.info(
        "{}: read {} rows, quarantined {} {}, removed {} outside {}..{} min, using {}",
        source,
        account.read,
        account.quarantined_total,
        account.quarantined,
        account.filtered_by_duration,
        settings.min_duration_minutes,
        settings.max_duration_minutes,
        account.used,
    )
    return CleanTrips(trips=trips, quarantined=quarantined.reset_index(drop=True), account=account)


def load_month(settings: DataSettings, month: str) -> CleanTrips:
    """Read, validate and filter one month; quarantined rows are written beside the account."""
    path = settings.month_file(month)
    clean = clean_for_training(read_trips(path, TRAINING_COLUMNS), settings, str(path))
    if len(clean.quarantined):
        write_quarantine(clean.quarantined, settings.quarantine_dir / path.name)
    if clean.account.used == 0:
        raise DataError(f"{path}: no usable rows left after validation and filtering")
    if clean.account.used < settings.min_rows:
        raise TooFewRowsError(
            f"{path}: {clean.account.used} usable row(s) left after validation and filtering, "
            f"fewer than {settings.min_rows} ({ENV_PREFIX}DATA__MIN_ROWS)"
        )
    return clean


def write_quarantine(rows: pd.DataFrame, path: Path) -> None:
    with atomic_write(path) as partial:
        rows.to_parquet(partial, index=False)
    logger.warning("{} quarantined rows written to {}", len(rows), path)


def split_for_inference(trips: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows a model can score, and rows it cannot (with the reason), for batch prediction."""
    return split_by_rules(trips, INFERENCE_RULES)
