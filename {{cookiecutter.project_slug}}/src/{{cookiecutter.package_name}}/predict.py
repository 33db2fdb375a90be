"""Batch prediction: parquet in, parquet out, every input row accounted for.

Rows that cannot be scored keep their place in the output with an empty prediction and the reason,
so a downstream job can join on position and see exactly what was not predicted and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from loguru import logger

from .data import INFERENCE_COLUMNS, read_parquet_checked, split_for_inference, to_trips
from .model import TripDurationModel
from .outputs import atomic_write
from .progress import track
from .trip import PREDICTION

REJECTION = "rejection_reason"
# Rows per model call: enough to keep LightGBM busy, few enough for the progress bar to move.
CHUNK_ROWS = 100_000


@dataclass(frozen=True)
class BatchSummary:
    rows: int
    predicted: int
    rejected: int


def predict_frame(raw: pd.DataFrame, model: TripDurationModel) -> pd.DataFrame:
    """The input rows, all columns kept, plus the prediction (NaN when rejected) and the reason."""
    out = raw.reset_index(drop=True)
    valid, rejected = split_for_inference(to_trips(out, INFERENCE_COLUMNS, "input"))
    out = out.copy()
    out[PREDICTION] = np.nan
    out[REJECTION] = pd.Series(pd.NA, index=out.index, dtype="string")
    out.loc[valid.index, PREDICTION] = predict_in_chunks(valid, model)
    out.loc[rejected.index, REJECTION] = rejected["reason"]
    return out


def predict_in_chunks(trips: pd.DataFrame, model: TripDurationModel) -> np.ndarray:
    """The model's predictions, chunk by chunk, with a progress bar on a terminal."""
    starts = range(0, len(trips), CHUNK_ROWS)
    parts = [
        model.predict(trips.iloc[start : start + CHUNK_ROWS])
        for start in track(starts, "predicting")
    ]
    return np.concatenate(parts) if parts else np.empty(0, dtype=float)


def predict_file(source: Path, target: Path, model: TripDurationModel) -> BatchSummary:
    scored = predict_frame(read_parquet_checked(source), model)
    with atomic_write(target) as partial:
        scored.to_parquet(partial, index=False)
    rejected = int(scored[REJECTION].notna().sum())
    summary = BatchSummary(rows=len(scored), predicted=len(scored) - rejected, rejected=rejected)
    logger.info("{} -> {}: {}", source, target, summary)
    return summary
