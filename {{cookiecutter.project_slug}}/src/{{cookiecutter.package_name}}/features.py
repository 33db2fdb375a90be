"""The only definition of the model's inputs, used by training, batch prediction and serving.

``build_features`` takes trip records as they are known when a trip starts (pickup time, the two
zones and the planned distance) and returns the model's input frame. Nothing here looks at the
dropoff time or the fare, which are only known after the trip.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .validation import MAX_LOCATION_ID, MIN_LOCATION_ID

ZONE_COLUMNS = ("PULocationID", "DOLocationID")
# Fixed categories, so that one record at serving time is encoded exactly as at training time.
ZONE_DTYPE = pd.CategoricalDtype(categories=range(MIN_LOCATION_ID, MAX_LOCATION_ID + 1))
FEATURE_NAMES = (
    "PULocationID",
    "DOLocationID",
    "trip_distance",
    "log_trip_distance",
    "same_zone",
    "pickup_hour",
    "pickup_weekday",
    "is_weekend",
)
CATEGORICAL_FEATURES = ZONE_COLUMNS


def build_features(trips: pd.DataFrame) -> pd.DataFrame:
    """Turn validated trip records into model inputs, in ``FEATURE_NAMES`` order."""
    pickup = pd.to_datetime(trips["pickup_datetime"])
    distance = trips["trip_distance"].astype(float).to_numpy()
    pickup_zone = trips["PULocationID"].astype("int64")
    dropoff_zone = trips["DOLocationID"].astype("int64")
    features = pd.DataFrame(
        {
            "PULocationID": pickup_zone.astype(ZONE_DTYPE).to_numpy(),
            "DOLocationID": dropoff_zone.astype(ZONE_DTYPE).to_numpy(),
            "trip_distance": distance,
            "log_trip_distance": np.log1p(distance),
            "same_zone": (pickup_zone.to_numpy() == dropoff_zone.to_numpy()).astype("int8"),
            "pickup_hour": (pickup.dt.hour + pickup.dt.minute / 60.0).to_numpy(),
            "pickup_weekday": pickup.dt.weekday.to_numpy().astype("int8"),
            "is_weekend": (pickup.dt.weekday >= 5).to_numpy().astype("int8"),
        },
        index=trips.index,
    )
    for column in CATEGORICAL_FEATURES:
        features[column] = features[column].astype(ZONE_DTYPE)
    return features[list(FEATURE_NAMES)]
