"""Drift of a current batch against the reference batch the champion was trained on, by Evidently.

Both batches go through the same steps as serving: inference rules (rows that could not be scored
are counted, not compared), ``features.build_features`` for every model input, and the champion's
predictions (prediction drift). Evidently's ``DataDriftPreset`` picks a method per column (by type
and size; distances such as Wasserstein and Jensen-Shannon on large batches, so a big month does
not flag a negligible change) and decides which columns drifted. The share of drifted columns is
the verdict a scheduler acts on: at or above ``monitoring.drift_share``, ``monitor`` exits with
``DRIFT_EXIT_CODE``.

Evidently takes seconds to import: only this module imports it, and the CLI imports this module
only in the ``monitor`` command.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
from loguru import logger

from .config import ENV_PREFIX, Settings
from .data import (
    DataError,
    TooFewRowsError,
    read_folder,
    read_trips,
    split_for_inference,
    to_trips,
)
from .features import CATEGORICAL_FEATURES, FEATURE_NAMES, build_features
from .model import TripDurationModel
from .months import MONTH_PATTERN
from .outputs import atomic_write
from .registry import load_model
from .reports_index import write_reports_index
from .trip import INFERENCE_COLUMNS, PREDICTION, ROLE
from .versions import CHAMPION

DRIFT_EXIT_CODE = 4
# Inputs with a handful of values are compared as categories: a shift of Saturdays into Sundays
# is a change of shares, not of a mean.
DISCRETE_FEATURES = (*CATEGORICAL_FEATURES, "same_zone", "pickup_weekday", "is_weekend")
CATEGORICAL_COLUMNS = [name for name in FEATURE_NAMES if name in DISCRETE_FEATURES]
NUMERICAL_COLUMNS = [name for name in FEATURE_NAMES if name not in DISCRETE_FEATURES] + [PREDICTION]


@dataclass
class Batch:
    """One side of the comparison: where it came from and which rows could be compared."""

    source: str
    trips: pd.DataFrame
    read: int
    rejected: dict[str, int]
    # A prediction log's rows that another model than the champion scored (see champion_rows).
    set_aside: int = 0

    def describe(self) -> dict[str, object]:
        return {
            "source": self.source,
            "rows_read": self.read,
            "rows_rejected": self.rejected,
            "rows_of_other_models_set_aside": self.set_aside,
            "rows_compared": len(self.trips),
        }


@dataclass
class ColumnDrift:
    kind: str  # "feature" or "prediction"
    method: str
    threshold: float
    score: float
    drifted: bool


@dataclass
class DriftSummary:
    """What ``monitor`` writes as JSON; ``drift_detected`` decides the exit status."""

    reference: dict[str, object]
    current: dict[str, object]
    model_version: int
    drift_share_threshold: float
    drifted_columns: int
    share_of_drifted_columns: float
    drift_detected: bool
    prediction_drifted: bool
    columns: dict[str, ColumnDrift]
    html_report: str = ""
    json_summary: str = ""
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def headline(self) -> dict[str, object]:
        """The lines an operator reads first."""
        return {
            "drift_detected": self.drift_detected,
            "share_of_drifted_columns": round(self.share_of_drifted_columns, 3),
            "drift_share_threshold": self.drift_share_threshold,
            "drifted": [name for name, column in self.columns.items() if column.drifted],
            "prediction_drifted": self.prediction_drifted,
            "html_report": self.html_report,
            "json_summary": self.json_summary,
        }


def resolve_source(source: str, settings: Settings) -> Path:
    """A month (YYYY-MM, from the data folder), a parquet file, or a prediction-log folder."""
    if MONTH_PATTERN.fullmatch(source):
        return settings.data.month_file(source)
    return Path(source)


def champion_rows(log: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """A prediction log's champion rows, and how many rows of other models were set aside.

    In shadow mode the service logs every trip twice, once per model: compared as they are, the
    traffic would count double and drift tests would be twice as sure as the data allows. In
    canary mode the challenger's rows are its share of the traffic, routed by client key; the
    champion's share is a sample of the same traffic. A log written before roles were logged is
    the champion's alone.
    """
    if ROLE not in log.columns:
        return log, 0
    champion = log[ROLE].isna() | (log[ROLE] == CHAMPION)
    return log[champion], int((~champion).sum())


def load_batch(source: str, settings: Settings) -> Batch:
    """Read a batch, keep the rows a model can score, and count the others by reason."""
    path = resolve_source(source, settings)
    set_aside = 0
    if path.is_dir():
        log, set_aside = champion_rows(read_folder(path))
        trips = to_trips(log, INFERENCE_COLUMNS, path)
    else:
        trips = read_trips(path, INFERENCE_COLUMNS)
    valid, rejected = split_for_inference(trips)
    if valid.empty:
        raise DataError(f"{path}: no row can be scored ({len(rejected)} rejected)")
    minimum = settings.monitoring.min_rows
    if len(valid) < minimum:
        # Drift tests on a handful of rows flag noise, or nothing: no verdict is better than either.
        raise TooFewRowsError(
            f"{path}: {len(valid)} row(s) can be compared ({len(rejected)} rejected), fewer than "
            f"{minimum} ({ENV_PREFIX}MONITORING__MIN_ROWS): too few to judge drift"
        )
    counts = {str(k): int(v) for k, v in rejected["reason"].value_counts().items()}
    read = len(trips) + set_aside
    return Batch(str(path), valid, read=read, rejected=counts, set_aside=set_aside)


def model_inputs(trips: pd.DataFrame, model: TripDurationModel) -> pd.DataFrame:
    """The model's inputs and its prediction, as plain columns Evidently can compare."""
    frame = build_features(trips)
    for column in CATEGORICAL_FEATURES:
        frame[column] = frame[column].astype("int64")  # zone IDs as values, not 265 categories
    frame[PREDICTION] = model.predict(trips)
    return frame.reset_index(drop=True)


def drift_snapshot(reference: pd.DataFrame, current: pd.DataFrame, settings: Settings) -> Any:
    """Run Evidently's data drift preset (with its per-column tests) on the two frames."""
    monitoring = settings.monitoring
    definition = DataDefinition(
        numerical_columns=NUMERICAL_COLUMNS, categorical_columns=CATEGORICAL_COLUMNS
    )
    preset = DataDriftPreset(
        drift_share=monitoring.drift_share,
        method=monitoring.column_method,
        threshold=monitoring.column_threshold,
    )
    return Report([preset], include_tests=True).run(
        current_data=Dataset.from_pandas(current, data_definition=definition),
        reference_data=Dataset.from_pandas(reference, data_definition=definition),
    )


def column_results(snapshot_dict: dict[str, Any]) -> tuple[dict[str, ColumnDrift], float, int]:
    """Per-column drift (Evidently's scores and test verdicts) and the share of drifted columns."""
    verdicts: dict[str, bool] = {}
    for test in snapshot_dict["tests"]:
        params = test.get("metric_config", {}).get("params", {})
        if params.get("type", "").endswith("ValueDrift"):
            verdicts[params["column"]] = test["status"] != "SUCCESS"
    columns: dict[str, ColumnDrift] = {}
    share, count = 0.0, 0
    for metric in snapshot_dict["metrics"]:
        config = metric["config"]
        if config["type"].endswith("DriftedColumnsCount"):
            share, count = float(metric["value"]["share"]), int(metric["value"]["count"])
        elif config["type"].endswith("ValueDrift"):
            name = config["column"]
            columns[name] = ColumnDrift(
                kind="prediction" if name == PREDICTION else "feature",
                method=str(config["method"]),
                threshold=float(config["threshold"]),
                score=float(metric["value"]),
                drifted=verdicts[name],
            )
    missing = set(NUMERICAL_COLUMNS + CATEGORICAL_COLUMNS) - set(columns)
    if missing:
        raise RuntimeError(f"Evidently reported no drift for {sorted(missing)}")
    return columns, share, count


def label(batch: Batch) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(batch.source).stem)


def run_monitor(
    settings: Settings,
    current: str,
    reference: str | None = None,
    alias: str = CHAMPION,
    output_dir: Path | None = None,
) -> DriftSummary:
    """Compare ``current`` with ``reference`` (default: the last month the model was trained on).

    A model trained on several months is compared with the latest of them: one file, the
    nearest in time to what it serves now.
    """
    model, version = load_model(settings, alias)
    # A version registered without a run record: the configured training months are the best guess.
    months = version.record.train_months if version.record else settings.data.train_months
    trained_on = months[-1]
    reference = reference or trained_on
    reference_batch = load_batch(reference, settings)
    current_batch = load_batch(current, settings)
    logger.info(
        "monitoring {} against {} with model version {}",
        current_batch.source,
        reference_batch.source,
        version.version,
    )
    snapshot = drift_snapshot(
        model_inputs(reference_batch.trips, model),
        model_inputs(current_batch.trips, model),
        settings,
    )
    columns, share, count = column_results(snapshot.dict())
    threshold = settings.monitoring.drift_share
    summary = DriftSummary(
        reference=reference_batch.describe(),
        current=current_batch.describe(),
        model_version=version.version,
        drift_share_threshold=threshold,
        drifted_columns=count,
        share_of_drifted_columns=share,
        drift_detected=share >= threshold,
        prediction_drifted=columns[PREDICTION].drifted,
        columns=columns,
    )
    folder = output_dir or settings.monitoring.reports_dir
    stem = folder / f"drift_{label(reference_batch)}_vs_{label(current_batch)}"
    summary.html_report = str(stem.with_suffix(".html"))
    summary.json_summary = str(stem.with_suffix(".json"))
    with atomic_write(Path(summary.html_report)) as partial:
        snapshot.save_html(str(partial))  # Evidently writes only to a str path
    with atomic_write(Path(summary.json_summary)) as partial:
        partial.write_text(json.dumps(summary.as_dict(), indent=2), "utf-8")
    write_reports_index(folder, settings.registry.models_dir / "model_card.html")
    log = logger.warning if summary.drift_detected else logger.info
    log(
        "drift: {} of {} columns ({:.0%}, threshold {:.0%}); report {}",
        count,
        len(columns),
        share,
        threshold,
        summary.html_report,
    )
    return summary
