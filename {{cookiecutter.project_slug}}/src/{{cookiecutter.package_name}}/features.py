"""The only definition of the model's inputs, used by training, batch prediction and serving.

``feature_matrix`` takes trip records as they are known when a trip starts (pickup time, the two
zones and the planned distance) and returns the model's input matrix; ``build_features`` is the
same values as a typed frame, for people and reports. Nothing here looks at the dropoff time or the
fare, which are only known after the trip. The computation is plain numpy, far cheaper per request
than a pandas pipeline (docs/benchmarks.md, "Features").
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

import numpy as np
import pandas as pd
from pandas.tseries.holiday import USFederalHolidayCalendar

from .trip import DISTANCE, DROPOFF_ZONE, MAX_LOCATION_ID, MIN_LOCATION_ID, PICKUP, PICKUP_ZONE

ZONE_COLUMNS = (PICKUP_ZONE, DROPOFF_ZONE)
# Fixed categories, so that one record at serving time is encoded exactly as at training time.
ZONE_DTYPE = pd.CategoricalDtype(categories=range(MIN_LOCATION_ID, MAX_LOCATION_ID + 1))
FEATURE_NAMES = (
    PICKUP_ZONE,
    DROPOFF_ZONE,
    DISTANCE,
    "log_trip_distance",
    "same_zone",
    "pickup_hour",
    "pickup_weekday",
    "is_weekend",
    "is_holiday",
)
CATEGORICAL_FEATURES = ZONE_COLUMNS
CATEGORICAL_INDICES = tuple(FEATURE_NAMES.index(name) for name in CATEGORICAL_FEATURES)
INTEGER_FEATURES = ("same_zone", "pickup_weekday", "is_weekend", "is_holiday")
HOLIDAY_YEARS = (1970, 2200)
# 1970-01-01, day 0 of datetime64, was a Thursday; with Monday = 0 that is weekday 3.
EPOCH_WEEKDAY = 3


@lru_cache(maxsize=1)
def federal_holidays() -> np.ndarray:
    """US federal holidays of ``HOLIDAY_YEARS`` as sorted days, computed once (it is slow).

    The calendar works in nanosecond timestamps; outside these years no date can match anyway.
    """
    first_year, last_year = HOLIDAY_YEARS
    calendar = USFederalHolidayCalendar()
    holidays = calendar.holidays(start=f"{first_year}-01-01", end=f"{last_year}-12-31")
    return np.sort(holidays.to_numpy().astype("datetime64[D]"))


def is_federal_holiday(days: np.ndarray) -> np.ndarray:
    """1.0 on US federal holidays, else 0.0. A binary search per day: for one request,
    ``np.isin``'s sorting costs more (docs/benchmarks.md)."""
    holidays = federal_holidays()
    position = np.searchsorted(holidays, days).clip(0, len(holidays) - 1)
    return (holidays[position] == days).astype(float)


def pickup_times(trips: pd.DataFrame | Mapping[str, np.ndarray]) -> np.ndarray:
    """Pickup times as datetime64[us], from typed columns or ISO strings alike."""
    values = np.asarray(trips[PICKUP])
    if values.dtype.kind != "M":
        values = np.asarray(pd.to_datetime(trips[PICKUP]))
    return values.astype("datetime64[us]")


def feature_matrix(trips: pd.DataFrame | Mapping[str, np.ndarray]) -> np.ndarray:
    """Model inputs as a float matrix, one row per trip, columns in ``FEATURE_NAMES`` order.

    ``trips`` is a frame, or a mapping of the same column names to arrays: the service builds
    one of those per request, because a DataFrame would cost more than computing the features.
    """
    pickup = pickup_times(trips)
    pickup_zone = np.asarray(trips[PICKUP_ZONE], dtype=np.float64)
    dropoff_zone = np.asarray(trips[DROPOFF_ZONE], dtype=np.float64)
    distance = np.asarray(trips[DISTANCE], dtype=np.float64)
    days = pickup.astype("datetime64[D]")
    weekday = (days.astype(np.int64) + EPOCH_WEEKDAY) % 7
    columns = {
        PICKUP_ZONE: pickup_zone,
        DROPOFF_ZONE: dropoff_zone,
        DISTANCE: distance,
        "log_trip_distance": np.log1p(distance),
        "same_zone": pickup_zone == dropoff_zone,
        "pickup_hour": (pickup - days) / np.timedelta64(1, "h"),
        "pickup_weekday": weekday,
        "is_weekend": weekday >= 5,
        "is_holiday": is_federal_holiday(days),
    }
    # Filled column by column: np.column_stack's conversions cost more than one request's math.
    matrix = np.empty((len(pickup), len(FEATURE_NAMES)))
    for index, name in enumerate(FEATURE_NAMES):
        matrix[:, index] = columns[name]
    return matrix


def feature_matrix_in_chunks(trips: pd.DataFrame, chunk_rows: int = 1_000_000) -> np.ndarray:
    """``feature_matrix`` of many rows, a chunk at a time into one matrix.

    The same values; only one chunk's temporary columns exist at a time, which keeps a year of
    training rows from needing several copies of itself on the way to the matrix.
    """
    matrix = np.empty((len(trips), len(FEATURE_NAMES)))
    for start in range(0, len(trips), chunk_rows):
        matrix[start : start + chunk_rows] = feature_matrix(trips.iloc[start : start + chunk_rows])
    return matrix


def build_features(trips: pd.DataFrame) -> pd.DataFrame:
    """The values of ``feature_matrix`` as a frame with categorical zones and integer flags."""
    frame = pd.DataFrame(feature_matrix(trips), columns=list(FEATURE_NAMES), index=trips.index)
    for column in CATEGORICAL_FEATURES:
        frame[column] = frame[column].astype("int64").astype(ZONE_DTYPE)
    for column in INTEGER_FEATURES:
        frame[column] = frame[column].astype("int8")
    return frame
