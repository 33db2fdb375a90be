"""The rules a trip record must satisfy, as a table: one place to read and change them.

Each rule names the problem in words an operator can act on. A row that breaks several rules is
reported under the first one, so counts by reason add up to the number of quarantined rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

MIN_LOCATION_ID = 1
MAX_LOCATION_ID = 265
MAX_TRIP_DISTANCE_MILES = 100.0


@dataclass(frozen=True)
class Rule:
    reason: str
    violated: Callable[[pd.DataFrame], pd.Series]


def _location_invalid(column: str) -> Callable[[pd.DataFrame], pd.Series]:
    def violated(frame: pd.DataFrame) -> pd.Series:
        ids = frame[column]
        inside = ids.between(MIN_LOCATION_ID, MAX_LOCATION_ID)
        return ~inside.fillna(False).astype(bool)

    return violated


def _distance_invalid(frame: pd.DataFrame) -> pd.Series:
    inside = frame["trip_distance"].between(0, MAX_TRIP_DISTANCE_MILES)
    return ~inside.fillna(False).astype(bool)


INFERENCE_RULES: tuple[Rule, ...] = (
    Rule("pickup time missing or unparseable", lambda f: f["pickup_datetime"].isna()),
    Rule(
        f"PULocationID missing or outside {MIN_LOCATION_ID}..{MAX_LOCATION_ID}",
        _location_invalid("PULocationID"),
    ),
    Rule(
        f"DOLocationID missing or outside {MIN_LOCATION_ID}..{MAX_LOCATION_ID}",
        _location_invalid("DOLocationID"),
    ),
    Rule(
        f"trip_distance missing or outside 0..{MAX_TRIP_DISTANCE_MILES:g} miles",
        _distance_invalid,
    ),
)

TRAINING_RULES: tuple[Rule, ...] = (
    *INFERENCE_RULES,
    Rule("dropoff time missing or unparseable", lambda f: f["dropoff_datetime"].isna()),
    Rule("dropoff before pickup", lambda f: f["dropoff_datetime"] < f["pickup_datetime"]),
)


def first_violation(frame: pd.DataFrame, rules: tuple[Rule, ...]) -> pd.Series:
    """For each row, the reason of the first rule it breaks, or NA when it breaks none."""
    reasons = pd.Series(pd.NA, index=frame.index, dtype="string")
    for rule in rules:
        broken = rule.violated(frame).fillna(False).astype(bool) & reasons.isna()
        reasons[broken] = rule.reason
    return reasons
