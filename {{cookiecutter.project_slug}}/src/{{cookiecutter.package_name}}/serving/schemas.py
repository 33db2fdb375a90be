"""The API's request and response bodies, with the same bounds as the batch validation rules.

Numbers are checked by hand before pydantic's own coercion: its lax mode would turn ``false`` into
``0.0`` and ``"7"`` into ``7``, which the OpenAPI schema says are invalid, while its strict mode
would refuse ``94.0`` for an integer, which JSON Schema calls an integer. The validators below
accept exactly what the schema describes, and the ``ge``/``le`` bounds stay in the schema.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from ..validation import MAX_LOCATION_ID, MAX_TRIP_DISTANCE_MILES, MIN_LOCATION_ID

NEW_YORK = ZoneInfo("America/New_York")
# Time of day and weekday, all the model reads from a date, repeat every 400 Gregorian years.
GREGORIAN_CYCLE_YEARS = 400
# A date and a time, as ISO 8601 writes them; pydantic parses the rest (seconds, fraction, offset).
DATE_TIME_PREFIX = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")

EXAMPLE_TRIP: dict[str, Any] = {
    "PULocationID": 74,
    "DOLocationID": 42,
    "trip_distance": 2.1,
    "pickup_datetime": "2024-01-15T08:30:00",
}
SECOND_EXAMPLE_TRIP: dict[str, Any] = {
    "PULocationID": 166,
    "DOLocationID": 236,
    "trip_distance": 3.4,
    "pickup_datetime": "2024-01-15T18:05:00-05:00",
}


def whole_number(value: object) -> object:
    """Accept JSON integers, including ``94.0``; refuse booleans, strings and fractions."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a whole number (a JSON number, not a string or boolean)")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be a whole number")
        return int(value)
    return value


def real_number(value: object) -> object:
    """Accept JSON numbers; refuse booleans and strings, which pydantic would coerce."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number (a JSON number, not a string or boolean)")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def new_york_wall_time(value: datetime) -> datetime:
    """The pickup time as a New York clock shows it, which is what the model was trained on."""
    if value.tzinfo is None:
        return value
    try:
        return value.astimezone(NEW_YORK).replace(tzinfo=None)
    except OverflowError:
        # Within a day of 0001-01-01 or 9999-12-31 the converted time leaves the calendar; a
        # whole Gregorian cycle away it has the same weekday, time of day and time-zone rules.
        cycles = 1 if value.year < GREGORIAN_CYCLE_YEARS else -1
        shifted = value.replace(year=value.year + cycles * GREGORIAN_CYCLE_YEARS)
        return shifted.astimezone(NEW_YORK).replace(tzinfo=None)


class Trip(BaseModel):
    """One trip as known when it starts: where, when and how far."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [EXAMPLE_TRIP, SECOND_EXAMPLE_TRIP]},
    )

    pickup_zone: int = Field(
        alias="PULocationID",
        ge=MIN_LOCATION_ID,
        le=MAX_LOCATION_ID,
        description="TLC taxi zone of the pickup.",
    )
    dropoff_zone: int = Field(
        alias="DOLocationID",
        ge=MIN_LOCATION_ID,
        le=MAX_LOCATION_ID,
        description="TLC taxi zone of the dropoff.",
    )
    trip_distance: float = Field(
        ge=0, le=MAX_TRIP_DISTANCE_MILES, description="Planned distance in miles."
    )
    pickup_datetime: datetime = Field(
        description=(
            "Pickup time, ISO 8601. Without an offset it is New York local time; with one, it is "
            "converted to New York time. The model reads the time of day and the weekday."
        ),
    )

    @field_validator("pickup_zone", "dropoff_zone", mode="before")
    @classmethod
    def _zone_is_whole(cls, value: object) -> object:
        return whole_number(value)

    @field_validator("trip_distance", mode="before")
    @classmethod
    def _distance_is_number(cls, value: object) -> object:
        return real_number(value)

    @field_validator("pickup_datetime", mode="before")
    @classmethod
    def _iso_date_time(cls, value: object) -> object:
        # Pydantic alone would also read numbers and numeric strings as Unix timestamps.
        if not isinstance(value, str) or not DATE_TIME_PREFIX.match(value):
            raise ValueError("must be an ISO 8601 date and time, e.g. 2024-01-15T08:30:00")
        return value

    @field_validator("pickup_datetime", mode="after")
    @classmethod
    def _in_new_york(cls, value: datetime) -> datetime:
        return new_york_wall_time(value)


def batch_request_model(max_trips: int) -> type[BaseModel]:
    """The batch body, with its size limit in the schema (the limit is a setting)."""
    return create_model(
        "BatchRequest",
        __config__=ConfigDict(
            extra="forbid",
            json_schema_extra={"examples": [{"trips": [EXAMPLE_TRIP, SECOND_EXAMPLE_TRIP]}]},
        ),
        __doc__=f"Up to {max_trips} trips, predicted in one call.",
        trips=(list[Trip], Field(max_length=max_trips, description="Trips to predict.")),
    )


class ModelRef(BaseModel):
    """Which registered model answered."""

    name: str = Field(examples=["trip-duration"])
    version: int = Field(examples=[3])


class Prediction(BaseModel):
    predicted_duration_minutes: float = Field(ge=0, examples=[11.7])
    model: ModelRef


class BatchPrediction(BaseModel):
    predicted_duration_minutes: list[float] = Field(
        description="One prediction per trip, in the order of the request.",
        examples=[[11.7, 19.2]],
    )
    model: ModelRef


class ModelInfo(BaseModel):
    """What the service knows about the model it serves."""

    name: str
    version: int
    alias: str = Field(description="The registry alias the service loaded at start.")
    trained_at: str | None = Field(description="When training finished (ISO 8601, UTC).")
    train_month: str | None = None
    val_month: str | None = None
    metrics: dict[str, float | None] = Field(description="Validation metrics at training time.")
    features: list[str] = Field(description="The model's inputs, as features.py builds them.")


class Status(BaseModel):
    status: str = Field(examples=["ok"])


class Readiness(BaseModel):
    status: str = Field(examples=["ready"])
    model: ModelRef


class ErrorMessage(BaseModel):
    """Every error that is not a validation error: one message a client can act on."""

    detail: str


class Problem(BaseModel):
    """One thing wrong with a request body."""

    loc: list[str | int] = Field(description="Where: `body`, then the field path.")
    msg: str = Field(description="What is wrong, in words a client can act on.")
    type: str = Field(description="pydantic's error type, for programs.")


class InvalidBody(BaseModel):
    """The body is JSON but not a valid request: every problem found, not only the first."""

    detail: list[Problem]
