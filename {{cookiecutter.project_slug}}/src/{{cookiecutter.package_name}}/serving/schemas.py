"""The API's request and response bodies, with the bounds of batch validation (``trip.py``).

Numbers are checked by hand before pydantic's own coercion: its lax mode would turn ``false`` into
``0.0`` and ``"7"`` into ``7``, which the OpenAPI schema says are invalid, while its strict mode
would refuse ``94.0`` for an integer, which JSON Schema calls an integer. The validators below
accept exactly what the schema describes, and the ``ge``/``le`` bounds stay in the schema.

JSON Schema has no bounds for a date, so the pickup's years are in its ``pattern``, a regular
expression of the valid calendar dates of those years; the validator uses the same expression. The
schema leaves out ``format: date-time``: RFC 3339 requires seconds and an offset, which the API
does not (a time without an offset is New York time), and a client or a test generator reading
both would only produce the values they share.
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from ..trip import FIRST_YEAR, INPUTS, LAST_YEAR, Column, Kind, example_trip

NEW_YORK = ZoneInfo("America/New_York")


def years_pattern(first: int, last: int) -> str:
    """The years ``first..last`` as a regular expression, one alternative per decade."""
    parts = []
    for decade in range(first // 10, last // 10 + 1):
        low, high = max(first, decade * 10), min(last, decade * 10 + 9)
        parts.append(str(low) if low == high else f"{decade}[{low % 10}-{high % 10}]")
    return "|".join(parts)


def date_time_pattern(first: int, last: int) -> str:
    """ISO 8601 date and time of a real calendar day in ``first..last``, as pydantic parses it.

    Written in the subset of regular expressions that Python and JSON Schema (ECMA 262) read
    alike: ``[0-9]``, not ``\\d``, which Python extends to every Unicode digit.
    """
    leap_years = "|".join(str(year) for year in range(first, last + 1) if calendar.isleap(year))
    month_day = (
        "(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
        "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
        "|02-(?:0[1-9]|1[0-9]|2[0-8]))"
    )
    date = f"(?:(?:{years_pattern(first, last)})-{month_day}|(?:{leap_years})-02-29)"
    time = "[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:[.][0-9]{1,9})?)?"
    offset = "(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):?[0-5][0-9])?"
    return f"^{date}{time}{offset}$"


PICKUP_PATTERN = re.compile(date_time_pattern(FIRST_YEAR, LAST_YEAR))


def pickup_json_schema(schema: dict[str, Any]) -> None:
    """The pickup as a string of ``PICKUP_PATTERN``, without ``format`` (see the module doc)."""
    schema.pop("format", None)
    schema["pattern"] = PICKUP_PATTERN.pattern


EXAMPLE_TRIP: dict[str, Any] = example_trip(0)
SECOND_EXAMPLE_TRIP: dict[str, Any] = example_trip(1)
TIME_FORMAT = (
    f" ISO 8601 (`2024-01-15T08:30:00`), in the years {FIRST_YEAR}..{LAST_YEAR} as written."
    " Without an offset it is New York local time; with one, it is converted to New York time."
)


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
    return value.astimezone(NEW_YORK).replace(tzinfo=None)


def iso_date_time(value: object) -> object:
    """Accept ISO 8601 strings of ``PICKUP_PATTERN``; pydantic alone would also read numbers and
    numeric strings as Unix timestamps."""
    if not isinstance(value, str) or not PICKUP_PATTERN.fullmatch(value):
        raise ValueError(
            f"must be an ISO 8601 date and time in {FIRST_YEAR}..{LAST_YEAR}, "
            "e.g. 2024-01-15T08:30:00"
        )
    return value


def trip_field(column: Column) -> Any:
    """A request field for a column of ``trip.py``: its type, bounds and description."""
    if column.kind == "time":
        field = Field(
            description=column.description + TIME_FORMAT, json_schema_extra=pickup_json_schema
        )
        return datetime, field
    kind = int if column.kind == "integer" else float
    return kind, Field(ge=column.minimum, le=column.maximum, description=column.description)


def kind_validators() -> dict[str, Any]:
    """The before/after checks of each kind, for the request fields of that kind."""
    checks: dict[tuple[Kind, Literal["before", "after"]], Callable[[Any], Any]] = {
        ("integer", "before"): whole_number,
        ("number", "before"): real_number,
        ("time", "before"): iso_date_time,
        ("time", "after"): new_york_wall_time,
    }
    validators: dict[str, Any] = {}
    for (kind, mode), check in checks.items():
        names = [column.name for column in INPUTS if column.kind == kind]
        if names:
            first, *others = names
            validators[f"{kind}_{mode}"] = field_validator(first, *others, mode=mode)(check)
    return validators


# Built from ``trip.INPUTS``: a new raw input there is a new request field here, with its checks.
_TripFields: type[BaseModel] = create_model(
    "TripFields",
    __config__=ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [EXAMPLE_TRIP, SECOND_EXAMPLE_TRIP]},
    ),
    __validators__=kind_validators(),
    **{column.name: trip_field(column) for column in INPUTS},
)


class Trip(_TripFields):
    """One trip as known when it starts: where, when and how far."""


class TripBatch(BaseModel):
    """Trips predicted in one call; ``batch_request_model`` adds the limit of a service."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"trips": [EXAMPLE_TRIP, SECOND_EXAMPLE_TRIP]}]},
    )

    trips: list[Trip] = Field(description="Trips to predict.")


def batch_request_model(max_trips: int) -> type[TripBatch]:
    """The batch body, with its size limit in the schema (the limit is a setting)."""
    return create_model(
        "BatchRequest",
        __base__=TripBatch,
        __doc__=f"Up to {max_trips} trips, predicted in one call.",
        trips=(list[Trip], Field(max_length=max_trips, description="Trips to predict.")),
    )


class ModelRef(BaseModel):
    """Which registered model answered, and as what (also in the X-Model-Version and
    X-Model-Role headers of a prediction)."""

    name: str = Field(examples=["trip-duration"])
    version: int = Field(examples=[3])
    role: Literal["champion", "challenger"] = Field(
        "champion",
        description="champion, or challenger when a canary routed the request to it.",
    )


class Explanation(BaseModel):
    """Why the model predicted this: LightGBM's exact TreeSHAP values, in minutes.

    ``base_value`` plus every contribution equals the prediction (unless the model's output was
    negative, which is answered as 0 minutes).
    """

    base_value: float = Field(
        description="The model's average prediction over its training data.", examples=[14.2]
    )
    contributions: dict[str, float] = Field(
        description="Minutes each model input (as features.py builds it) adds or removes.",
        examples=[{"trip_distance": -2.1, "pickup_hour": 0.4}],
    )


EXPLANATION_FIELD = Field(
    None, description="Only with `?explain=true`: each model input's contribution."
)


class Prediction(BaseModel):
    predicted_duration_minutes: float = Field(ge=0, examples=[11.7])
    model: ModelRef
    explanation: Explanation | None = EXPLANATION_FIELD


class BatchPrediction(BaseModel):
    predicted_duration_minutes: list[float] = Field(
        description="One prediction per trip, in the order of the request.",
        examples=[[11.7, 19.2]],
    )
    model: ModelRef
    explanations: list[Explanation] | None = Field(
        None, description="Only with `?explain=true`: one explanation per trip, in order."
    )


class ModelInfo(BaseModel):
    """What the service knows about the model it serves."""

    name: str
    version: int
    alias: str = Field(description="The registry alias the service loaded the model by.")
    role: Literal["champion", "challenger"] = "champion"
    trained_at: str | None = Field(description="When training finished (ISO 8601, UTC).")
    train_month: str | None = None
    val_month: str | None = None
    metrics: dict[str, float | None] = Field(description="Validation metrics at training time.")
    features: list[str] = Field(description="The model's inputs, as features.py builds them.")


class ServiceModels(ModelInfo):
    """The champion (the top-level fields, as before), the serving mode and the challenger."""

    mode: Literal["basic", "shadow", "canary"] = Field(
        description="basic: the champion answers; shadow: the champion answers and the challenger "
        "scores every request too; canary: the challenger answers `canary_share` of the keys."
    )
    canary_share: float | None = Field(
        None, description="Share of routing keys the challenger answers (canary mode)."
    )
    challenger: ModelInfo | None = Field(
        None, description="The second model (shadow and canary modes), when it could be loaded."
    )
    challenger_problem: str | None = Field(
        None, description="Why the mode runs without its challenger (missing or unreadable)."
    )


class Status(BaseModel):
    status: str = Field(examples=["ok"])


class PredictionLogStatus(BaseModel):
    """What became of the served predictions this process was to log (since it started)."""

    enabled: bool = Field(description="Whether predictions are being written to the log.")
    written_rows: int = Field(ge=0)
    dropped_rows: int = Field(
        ge=0, description="Rows lost: the disk was full or read-only, or the writer fell behind."
    )
    problem: str | None = Field(None, description="Why the log is off although it was enabled.")


class Readiness(BaseModel):
    status: str = Field(examples=["ready"])
    model: ModelRef
    prediction_log: PredictionLogStatus


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
