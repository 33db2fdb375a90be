"""TLC taxi zones by number: borough and name, for people (forms, reports, error messages).

The model reads zone numbers; nobody recognises "zone 74". The TLC publishes a lookup of its 265
zones beside the trip records; the project bundles it (``data/taxi_zone_lookup.csv``) and reads it
here, once per path.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .trip import MAX_LOCATION_ID, MIN_LOCATION_ID

LOOKUP_COLUMNS = ("LocationID", "Borough", "Zone")
# What the lookup calls its two catch-all zones (264 and 265): no place anyone can pick.
UNKNOWN_BOROUGH = "Unknown"


UNKNOWN_ZONE_MESSAGE = (
    f"unknown zone: TLC zones are numbered {MIN_LOCATION_ID}..{MAX_LOCATION_ID}; their boroughs "
    "and names are in the TLC zone lookup (taxi_zone_lookup.csv)"
)


class ZoneLookupError(ValueError):
    """The zone lookup file is missing or is not the TLC's lookup."""


@dataclass(frozen=True)
class Zone:
    number: int
    borough: str
    name: str

    @property
    def label(self) -> str:
        """How forms show a zone: name, borough and number, so that each label is unique."""
        return f"{self.name}, {self.borough} ({self.number})"


@dataclass(frozen=True)
class Zones:
    """Every TLC zone by number."""

    by_number: dict[int, Zone]

    def __len__(self) -> int:
        return len(self.by_number)

    def borough(self, number: int) -> str:
        zone = self.by_number.get(int(number))
        return zone.borough if zone else UNKNOWN_BOROUGH

    def name(self, number: int) -> str:
        zone = self.by_number.get(int(number))
        return zone.name if zone else f"zone {number}"

    def choices(self) -> list[Zone]:
        """Zones a person can pick (the catch-all ones left out), sorted by borough and name."""
        known = [zone for zone in self.by_number.values() if zone.borough != UNKNOWN_BOROUGH]
        return sorted(known, key=lambda zone: (zone.borough, zone.name, zone.number))


@lru_cache(maxsize=4)
def read_zones(path: Path) -> Zones:
    """The lookup at ``path``; raises ZoneLookupError, naming the file, when it is not usable."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as error:
        raise ZoneLookupError(f"cannot read the zone lookup {path}: {error.strerror}") from error
    if not rows or not set(LOOKUP_COLUMNS) <= set(rows[0]):
        raise ZoneLookupError(f"{path} is not the TLC zone lookup: needs {LOOKUP_COLUMNS}")
    zones = {
        int(row["LocationID"]): Zone(int(row["LocationID"]), row["Borough"], row["Zone"])
        for row in rows
    }
    expected = set(range(MIN_LOCATION_ID, MAX_LOCATION_ID + 1))
    if set(zones) != expected:
        raise ZoneLookupError(
            f"{path} does not list exactly zones {MIN_LOCATION_ID}..{MAX_LOCATION_ID}"
        )
    return Zones(zones)
