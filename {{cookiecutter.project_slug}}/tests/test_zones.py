"""The bundled TLC zone lookup: every zone 1..265 with its borough and name, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.trip import MAX_LOCATION_ID, MIN_LOCATION_ID
from {{ cookiecutter.package_name }}.zones import ZoneLookupError, read_zones

from .helpers import ZONE_LOOKUP


def test_the_lookup_names_every_tlc_zone():
    zones = read_zones(ZONE_LOOKUP)
    assert len(zones) == 265
    assert sorted(zones.by_number) == list(range(MIN_LOCATION_ID, MAX_LOCATION_ID + 1))
    assert zones.name(1) == "Newark Airport"
    assert zones.borough(1) == "EWR"
    assert (zones.name(74), zones.borough(74)) == ("East Harlem North", "Manhattan")


def test_choices_leave_out_the_catch_all_zones_and_have_unique_labels():
    choices = read_zones(ZONE_LOOKUP).choices()
    numbers = {zone.number for zone in choices}
    assert 264 not in numbers
    assert 265 not in numbers
    assert len({zone.label for zone in choices}) == len(choices)
    assert "East Harlem North, Manhattan (74)" in {zone.label for zone in choices}


def test_a_missing_or_wrong_lookup_is_a_clear_error(tmp_path: Path):
    with pytest.raises(ZoneLookupError, match="cannot read the zone lookup"):
        read_zones(tmp_path / "missing.csv")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("id,name\n1,a\n", encoding="utf-8")
    with pytest.raises(ZoneLookupError, match="is not the TLC zone lookup"):
        read_zones(wrong)
    short = tmp_path / "short.csv"
    short.write_text('"LocationID","Borough","Zone"\n1,"EWR","Newark Airport"\n', encoding="utf-8")
    with pytest.raises(ZoneLookupError, match=r"does not list exactly zones 1\.\.265"):
        read_zones(short)
