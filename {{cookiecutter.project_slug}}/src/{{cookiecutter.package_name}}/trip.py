"""The trip record: every raw column's name, kind, bounds, source names and meaning, in one place.

A raw input is declared once, as a ``Column`` in ``INPUTS``; everything else is derived from it:
the file reader's aliases and types (``data.py``), the quarantine rules (``validation.py``), the
API's request fields and examples (``serving/schemas.py``), the arrays the service builds
(``serving/predictor.py``), the input table of the model card and the prediction log's columns.
Adding a raw input is a ``Column`` here plus its use in ``features.py`` (docs: "Add a feature").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

# What a column holds, which decides its type, its rule and its API field:
# "time": a date and time (New York wall time), within FIRST_YEAR..LAST_YEAR;
# "integer": a whole number within minimum..maximum; "number": a real number within them.
Kind = Literal["time", "integer", "number"]
# The type ``data.normalize`` gives each kind (nullable: a value that does not parse becomes NA)...
FRAME_DTYPES: dict[Kind, str] = {"time": "datetime64[us]", "integer": "Int64", "number": "float64"}
# ...and the NumPy type of the same values once validated (no NA left), which the service builds.
VALUE_DTYPES: dict[Kind, str] = {"time": "datetime64[us]", "integer": "int64", "number": "float64"}

# The TLC records start in 2009; an earlier time is a broken clock or a misread integer column.
# A time's year, as written (New York wall time for files), must be within FIRST_YEAR..LAST_YEAR.
FIRST_YEAR = 2009
LAST_YEAR = 2099
EARLIEST_TIME = datetime(FIRST_YEAR, 1, 1)
END_OF_TIME = datetime(LAST_YEAR + 1, 1, 1)  # exclusive: the whole of LAST_YEAR is allowed
# TLC taxi zones, as numbered in the TLC zone lookup.
MIN_LOCATION_ID = 1
MAX_LOCATION_ID = 265
MIN_TRIP_DISTANCE_MILES = 0.0
MAX_TRIP_DISTANCE_MILES = 100.0


@dataclass(frozen=True)
class Column:
    """One raw column of a trip record.

    ``sources`` are the other names it has in the TLC files (read as ``name``); ``examples`` are
    the values of the API's two example trips; ``unit`` ends the rule's reason ("... miles").
    """

    name: str
    kind: Kind
    description: str
    examples: tuple[object, object]
    minimum: float | None = None
    maximum: float | None = None
    unit: str = ""
    sources: tuple[str, ...] = ()

    @property
    def frame_dtype(self) -> str:
        return FRAME_DTYPES[self.kind]

    @property
    def value_dtype(self) -> str:
        return VALUE_DTYPES[self.kind]

    @property
    def bounds(self) -> str:
        """The valid range as people read it: ``1..265``, ``0..100 miles``, ``2009..2099``."""
        if self.kind == "time":
            return f"{FIRST_YEAR}..{LAST_YEAR}"
        text = f"{self.minimum:g}..{self.maximum:g}"
        return f"{text} {self.unit}" if self.unit else text


# Canonical column names, as ``data.normalize`` produces them and the API's JSON spells them.
PICKUP = "pickup_datetime"
DROPOFF = "dropoff_datetime"
PICKUP_ZONE = "PULocationID"
DROPOFF_ZONE = "DOLocationID"
DISTANCE = "trip_distance"
# The target, computed from the two times, and the columns that predictions add: batch outputs
# and the prediction log carry the predicted minutes; the log also names the model version and
# the part it played: champion (answered), challenger (canary: answered; shadow: scored).
DURATION = "duration_minutes"
PREDICTION = "predicted_duration"
MODEL_VERSION = "model_version"
ROLE = "role"

# What is known when a trip starts: the model's raw inputs, in this order everywhere.
INPUTS: tuple[Column, ...] = (
    Column(
        PICKUP,
        "time",
        "When the trip starts (New York time).",
        examples=("2024-01-15T08:30:00", "2024-01-15T18:05:00-05:00"),
        sources=("lpep_pickup_datetime", "tpep_pickup_datetime"),
    ),
    Column(
        PICKUP_ZONE,
        "integer",
        "TLC taxi zone of the pickup.",
        examples=(74, 166),
        minimum=MIN_LOCATION_ID,
        maximum=MAX_LOCATION_ID,
    ),
    Column(
        DROPOFF_ZONE,
        "integer",
        "TLC taxi zone of the dropoff.",
        examples=(42, 236),
        minimum=MIN_LOCATION_ID,
        maximum=MAX_LOCATION_ID,
    ),
    Column(
        DISTANCE,
        "number",
        "Planned distance in miles.",
        examples=(2.1, 3.4),
        minimum=MIN_TRIP_DISTANCE_MILES,
        maximum=MAX_TRIP_DISTANCE_MILES,
        unit="miles",
    ),
)
# Known only when the trip ends: read for training (the target), never an input.
DROPOFF_COLUMN = Column(
    DROPOFF,
    "time",
    "When the trip ends (training only: the target is dropoff - pickup).",
    examples=("2024-01-15T08:41:00", "2024-01-15T18:24:00-05:00"),
    sources=("lpep_dropoff_datetime", "tpep_dropoff_datetime"),
)
COLUMNS: dict[str, Column] = {column.name: column for column in (*INPUTS, DROPOFF_COLUMN)}

INFERENCE_COLUMNS = tuple(column.name for column in INPUTS)
TRAINING_COLUMNS = (*INFERENCE_COLUMNS, DROPOFF)
# Canonical column -> the names it has in the TLC files (green uses lpep_, yellow tpep_).
SOURCE_NAMES: dict[str, tuple[str, ...]] = {
    column.name: (*column.sources, column.name) for column in COLUMNS.values()
}


def example_trip(which: int) -> dict[str, object]:
    """Example ``which`` (0 or 1) of a request, one value per input."""
    return {column.name: column.examples[which] for column in INPUTS}
