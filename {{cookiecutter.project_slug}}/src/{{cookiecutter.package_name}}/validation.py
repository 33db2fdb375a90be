"""The rules a trip record must satisfy, as a pandera schema built from the bounds in ``trip.py``.

The schema says what a normalized record is: column types, nullability, location IDs inside the
TLC zone range, distances inside a sane range, and (for training) a dropoff that is not before the
pickup. Each column carries the reason an operator reads when a row breaks it.

Rows are checked with pandera's own vectorized checks, and each row gets the reason of the *first*
rule it breaks (column order, then the frame-level checks), so counts by reason add up to the
number of quarantined rows. pandera's lazy validation would list every failure of every row as a
failure-case frame; that is several times slower on a multi-million-row month and we need one
reason per row, so the checks' boolean outputs are combined here instead. Column types are checked
by pandera on the frame's empty head: a type is a property of the column, not of its rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.config import ValidationDepth, config_context
from pandera.engines import pandas_engine

from .trip import (
    DISTANCE,
    DROPOFF,
    DROPOFF_ZONE,
    EARLIEST_TIME,
    END_OF_TIME,
    FIRST_YEAR,
    LAST_YEAR,
    MAX_LOCATION_ID,
    MAX_TRIP_DISTANCE_MILES,
    MIN_LOCATION_ID,
    MIN_TRIP_DISTANCE_MILES,
    PICKUP,
    PICKUP_ZONE,
)

REASON = "reason"
# pandera declares DateTime's fields in a way mypy cannot read; `unit` exists at run time.
TIMESTAMP = pandas_engine.DateTime(unit="us")  # type: ignore[call-arg]


class SchemaMismatchError(TypeError):
    """A frame does not have the normalized columns or types: a bug upstream, not bad data."""


def _column(dtype: object, reason: str, *checks: pa.Check) -> pa.Column:
    # Nulls are checked with the range under one reason: "missing or outside" is what an
    # operator fixes in one place, and it keeps the reasons stable for dashboards.
    return pa.Column(dtype, checks=list(checks), nullable=False, metadata={REASON: reason})


def _location(column: str) -> pa.Column:
    return _column(
        "Int64",
        f"{column} missing or outside {MIN_LOCATION_ID}..{MAX_LOCATION_ID}",
        pa.Check.in_range(MIN_LOCATION_ID, MAX_LOCATION_ID),
    )


def _time(column: str) -> pa.Column:
    return _column(
        TIMESTAMP,
        f"{column} missing, unparseable or outside {FIRST_YEAR}..{LAST_YEAR}",
        pa.Check.in_range(
            pd.Timestamp(EARLIEST_TIME), pd.Timestamp(END_OF_TIME), include_max=False
        ),
    )


def _dropoff_not_before_pickup(frame: pd.DataFrame) -> pd.Series:
    # A missing time is reported by its column's rule; here it passes.
    return ~(frame[DROPOFF] < frame[PICKUP]).fillna(False)


INFERENCE_COLUMNS: dict[str, pa.Column] = {
    PICKUP: _time(PICKUP),
    PICKUP_ZONE: _location(PICKUP_ZONE),
    DROPOFF_ZONE: _location(DROPOFF_ZONE),
    DISTANCE: _column(
        "float64",
        f"{DISTANCE} missing or outside "
        f"{MIN_TRIP_DISTANCE_MILES:g}..{MAX_TRIP_DISTANCE_MILES:g} miles",
        pa.Check.in_range(MIN_TRIP_DISTANCE_MILES, MAX_TRIP_DISTANCE_MILES),
    ),
}

INFERENCE_SCHEMA = pa.DataFrameSchema(INFERENCE_COLUMNS, name="trip records to score")
TRAINING_SCHEMA = pa.DataFrameSchema(
    {
        **INFERENCE_COLUMNS,
        DROPOFF: _time(DROPOFF),
    },
    checks=[
        pa.Check(
            _dropoff_not_before_pickup,
            name="dropoff_not_before_pickup",
            error="dropoff before pickup",
        )
    ],
    name="trip records to train on",
)


@dataclass(frozen=True)
class Rules:
    """A schema plus the order its reasons are given in; ``first_violation`` applies it."""

    schema: pa.DataFrameSchema

    @property
    def reasons(self) -> tuple[str, ...]:
        column_reasons = [column.metadata[REASON] for column in self.schema.columns.values()]
        return (*column_reasons, *(check.error for check in self.schema.checks))

    def check_types(self, frame: pd.DataFrame) -> None:
        """Columns and types as the schema says; raises ``SchemaMismatchError`` otherwise."""
        try:
            with config_context(validation_depth=ValidationDepth.SCHEMA_ONLY):
                self.schema.validate(frame.head(0), lazy=True)
        except pa.errors.SchemaErrors as error:
            problems = "; ".join(
                (
                    f"missing column {case.failure_case}"
                    if case.check == "column_in_dataframe"
                    else f"{case.column}: expected {case.check}, got {case.failure_case}"
                )
                for case in error.failure_cases.itertuples()
            )
            message = f"{self.schema.name}: unexpected columns or types ({problems})"
            raise SchemaMismatchError(message) from error

    def violations(self, frame: pd.DataFrame) -> list[np.ndarray]:
        """One boolean array per reason, in ``reasons`` order: True where the row breaks it."""
        if not frame.index.is_unique:
            frame = frame.reset_index(drop=True)
        masks = []
        for name, column in self.schema.columns.items():
            values = frame[name]
            broken = values.isna().to_numpy()
            for check in column.checks:
                broken |= ~_passed(check, values)
            masks.append(broken)
        for check in self.schema.checks:
            masks.append(~_passed(check, frame))
        return masks


def _passed(check: pa.Check, data: pd.Series | pd.DataFrame) -> np.ndarray:
    """pandera's vectorized check output, one boolean per row of ``data``."""
    passed = check(data).check_output
    if len(passed) != len(data):
        # pandera leaves out the NA rows it ignores; a missing value has its own rule.
        passed = passed.reindex(data.index, fill_value=True)
    return passed.to_numpy(dtype=bool)


INFERENCE_RULES = Rules(INFERENCE_SCHEMA)
TRAINING_RULES = Rules(TRAINING_SCHEMA)


def first_violation(frame: pd.DataFrame, rules: Rules) -> pd.Series:
    """For each row, the reason of the first rule it breaks, or NA when it breaks none."""
    rules.check_types(frame)
    reasons = pd.Series(pd.NA, index=frame.index, dtype="string")
    if len(frame) == 0:
        return reasons
    masks = np.vstack(rules.violations(frame))
    broken = masks.any(axis=0)
    if broken.any():
        first = masks[:, broken].argmax(axis=0)
        reasons[broken] = np.asarray(rules.reasons, dtype=object)[first]
    return reasons


def counts_by_reason(reasons: pd.Series) -> dict[str, int]:
    """Quarantined rows per reason, most frequent first (NA, the valid rows, not counted)."""
    return {str(reason): int(count) for reason, count in reasons.value_counts().items()}
