"""Batch prediction: parquet in, parquet out, every input row accounted for.

Rows that cannot be scored keep their place in the output with an empty prediction and the reason,
so a downstream job can join on position and see exactly what was not predicted and why.

Files are streamed: read ``batch_rows`` rows at a time, scored, and appended to the output as a row
group, so memory stays flat however large the input. Input columns are copied as they are (same
Arrow types). An output appears only once it is complete: it is written under a hidden temporary
name in the target folder and renamed into place.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from loguru import logger

from .config import DataSettings, usable_cpus
from .data import DataError, source_columns, split_for_inference, to_trips
from .features import feature_matrix
from .model import TripDurationModel
from .months import parse_months
from .outputs import atomic_write
from .progress import progress_bar
from .trip import INFERENCE_COLUMNS, PREDICTION

REJECTION = "rejection_reason"
OUTPUT_FIELDS = (pa.field(PREDICTION, pa.float64()), pa.field(REJECTION, pa.string()))
DEFAULT_BATCH_ROWS = DataSettings.model_fields["batch_rows"].default


@dataclass(frozen=True)
class BatchSummary:
    rows: int
    predicted: int
    rejected: int
    files: int = 1

    def __add__(self, other: BatchSummary) -> BatchSummary:
        return BatchSummary(
            rows=self.rows + other.rows,
            predicted=self.predicted + other.predicted,
            rejected=self.rejected + other.rejected,
            files=self.files + other.files,
        )


def score_rows(
    raw: pd.DataFrame, model: TripDurationModel, origin: object
) -> tuple[np.ndarray, pd.Series]:
    """Prediction (NaN when rejected) and rejection reason (NA when predicted) for each row."""
    trips = to_trips(raw.reset_index(drop=True), INFERENCE_COLUMNS, origin)
    valid, rejected = split_for_inference(trips)
    predictions = np.full(len(trips), np.nan)
    if len(valid):
        # Threads for this machine's CPUs, not those of the machine that trained the model.
        matrix = feature_matrix(valid)
        predictions[valid.index.to_numpy()] = model.predict_features(matrix, usable_cpus())
    reasons = pd.Series(pd.NA, index=trips.index, dtype="string")
    reasons[rejected.index] = rejected["reason"]
    return predictions, reasons


def predict_frame(raw: pd.DataFrame, model: TripDurationModel) -> pd.DataFrame:
    """The input rows, all columns kept, plus the prediction (NaN when rejected) and the reason."""
    predictions, reasons = score_rows(raw, model, "input")
    out = raw.reset_index(drop=True).copy()
    out[PREDICTION] = predictions
    out[REJECTION] = reasons
    return out


def score_batch(batch: pa.RecordBatch, model: TripDurationModel, origin: object) -> pa.Table:
    """One batch of input rows, columns untouched, with the two output columns appended."""
    table = pa.Table.from_batches([batch])
    needed = list(source_columns(table.schema.names, INFERENCE_COLUMNS, origin))
    predictions, reasons = score_rows(table.select(needed).to_pandas(), model, origin)
    for field, values in zip(OUTPUT_FIELDS, (predictions, reasons), strict=True):
        if field.name in table.schema.names:
            table = table.drop_columns([field.name])  # scoring an earlier output again
        table = table.append_column(field, pa.array(values, type=field.type, from_pandas=True))
    return table


def open_parquet(source: Path) -> pq.ParquetFile:
    if not source.exists():
        raise DataError(f"{source}: file not found")
    try:
        parquet = pq.ParquetFile(source)
    except (pa.ArrowException, OSError) as error:
        raise DataError(f"{source}: not a readable parquet file ({error})") from error
    if parquet.metadata.num_rows == 0:
        raise DataError(f"{source}: the file has no rows")
    return parquet


def scored_batches(source: Path, model: TripDurationModel, batch_rows: int) -> Iterator[pa.Table]:
    parquet = open_parquet(source)
    try:
        with progress_bar(f"predicting {source.name}", parquet.metadata.num_rows) as advance:
            for batch in parquet.iter_batches(batch_size=batch_rows):
                yield score_batch(batch, model, source)
                advance(batch.num_rows)
    except (pa.ArrowException, OSError) as error:
        # A truncated or corrupt file can pass the footer check and fail inside a column chunk.
        raise DataError(f"{source}: cannot read the parquet data ({error})") from error


def predict_file(
    source: Path, target: Path, model: TripDurationModel, batch_rows: int = DEFAULT_BATCH_ROWS
) -> BatchSummary:
    """Score one parquet file into ``target``, streamed batch by batch, written atomically."""
    rows = rejected = 0
    with atomic_write(target) as partial:
        writer = None
        try:
            for table in scored_batches(source, model, batch_rows):
                if writer is None:
                    writer = pq.ParquetWriter(partial, table.schema.remove_metadata())
                writer.write_table(table.replace_schema_metadata(None))
                rows += table.num_rows
                rejected += table.num_rows - table.column(REJECTION).null_count
        finally:
            if writer is not None:
                writer.close()
    summary = BatchSummary(rows=rows, predicted=rows - rejected, rejected=rejected)
    logger.info("{} -> {}: {}", source, target, summary)
    return summary


def predict_files(
    sources: list[Path],
    target_dir: Path,
    model: TripDurationModel,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> BatchSummary:
    """Score several files, each into a file of the same name in ``target_dir``."""
    if not sources:
        raise DataError("no input files to predict")
    summaries = [
        predict_file(source, target_dir / source.name, model, batch_rows) for source in sources
    ]
    total = summaries[0]
    for summary in summaries[1:]:
        total = total + summary
    return total


def parquet_files(folder: Path) -> list[Path]:
    """The parquet files of a folder, by name; hidden (partial) files are not inputs."""
    files = sorted(
        path
        for path in folder.iterdir()
        if path.suffix == ".parquet" and not path.name.startswith(".")
    )
    if not files:
        raise DataError(f"{folder}: no .parquet files in this folder")
    return files


def prediction_jobs(source: str, target: Path, data: DataSettings) -> list[tuple[Path, Path]]:
    """(input, output) files: a parquet file into the file ``target``, or a folder of them or a
    months spec (``2023-01..2023-06``, files in ``data.data_dir``) into the folder ``target``."""
    path = Path(source)
    if path.is_dir():
        return [(file, target / file.name) for file in parquet_files(path)]
    if not path.exists():
        try:
            months = parse_months(source)
        except ValueError:
            months = ()  # not a months spec either: report the missing file when reading it
        if months:
            files = [data.month_file(month) for month in months]
            return [(file, target / file.name) for file in files]
    return [(path, target)]


def predict_source(
    source: str, target: Path, model: TripDurationModel, data: DataSettings
) -> BatchSummary:
    """Score every file of ``prediction_jobs``, streamed batch by batch."""
    jobs = prediction_jobs(source, target, data)
    if len(jobs) == 1 and jobs[0][1] == target:
        return predict_file(jobs[0][0], target, model, data.batch_rows)
    return predict_files([path for path, _ in jobs], target, model, data.batch_rows)
