"""A trip record's raw columns and their bounds: the one place the input rules are written.

Batch validation (``validation.py``), the file reader (``data.py``) and, when the project has one,
the API's request schema take their column names and limits from here: a trip that batch
prediction refuses is refused by the API too, and a bound changes in one line.
"""

from __future__ import annotations

from datetime import datetime

# Canonical column names, as ``data.normalize`` produces them and the API's JSON spells them.
PICKUP = "pickup_datetime"
DROPOFF = "dropoff_datetime"
PICKUP_ZONE = "PULocationID"
DROPOFF_ZONE = "DOLocationID"
DISTANCE = "trip_distance"
# Columns that predictions add: batch outputs and the prediction log carry the predicted minutes;
# the log also names the model version and the part it played: champion (answered), challenger
# (canary: answered; shadow: scored).
PREDICTION = "predicted_duration"
MODEL_VERSION = "model_version"
ROLE = "role"

# TLC taxi zones, as numbered in the TLC zone lookup.
MIN_LOCATION_ID = 1
MAX_LOCATION_ID = 265
MIN_TRIP_DISTANCE_MILES = 0.0
MAX_TRIP_DISTANCE_MILES = 100.0
# The TLC records start in 2009; an earlier time is a broken clock or a misread integer column.
# A time's year, as written (New York wall time for files), must be within FIRST_YEAR..LAST_YEAR.
FIRST_YEAR = 2009
LAST_YEAR = 2099
EARLIEST_TIME = datetime(FIRST_YEAR, 1, 1)
END_OF_TIME = datetime(LAST_YEAR + 1, 1, 1)  # exclusive: the whole of LAST_YEAR is allowed
