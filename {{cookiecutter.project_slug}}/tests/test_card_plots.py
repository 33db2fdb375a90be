"""The model card's pictures: drawn, linked from the card, and registered with the model."""

from __future__ import annotations

import re

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.card_plots import residual_frame
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.data import load_month
from {{ cookiecutter.package_name }}.train import TrainingResult
from {{ cookiecutter.package_name }}.trip import DURATION, PICKUP_ZONE
from {{ cookiecutter.package_name }}.zones import read_zones

from .helpers import ZONE_LOOKUP

pytestmark = pytest.mark.slow

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PICTURES = (
    "card_importance.png",
    "card_residuals_hour.png",
    "card_residuals_weekday.png",
    "card_residuals_distance.png",
    "card_predicted_actual.png",
    "card_error_borough.png",
)


def test_every_picture_is_a_png_that_the_card_links(trained: tuple[Settings, TrainingResult]):
    settings, _ = trained
    models_dir = settings.registry.models_dir
    card = (models_dir / "model_card.md").read_text(encoding="utf-8")
    page = (models_dir / "model_card.html").read_text(encoding="utf-8")
    for name in PICTURES:
        picture = models_dir / name
        assert picture.read_bytes()[:8] == PNG_SIGNATURE, name
        assert picture.stat().st_size > 5_000, name  # a drawn chart, not an empty canvas
        assert f"]({name})" in card
        assert f'<img src="{name}"' in page


def test_the_card_has_a_table_of_error_by_borough(trained: tuple[Settings, TrainingResult]):
    settings, _ = trained
    card = (settings.registry.models_dir / "model_card.md").read_text(encoding="utf-8")
    section = card.split("## Error by borough", 1)[1].split("\n## ", 1)[0]
    boroughs = set(re.findall(r"^\| ([A-Za-z ]+) \| \d+ \|", section, flags=re.MULTILINE))
    known = {zone.borough for zone in read_zones(ZONE_LOOKUP).by_number.values()}
    assert {"Manhattan", "Brooklyn", "Queens"} <= boroughs <= known


def test_the_residuals_come_from_the_predictions_training_made(settings: Settings):
    trips = load_month(settings.data, settings.data.val_month).trips
    predicted = np.linspace(1.0, 60.0, len(trips))
    zones = read_zones(ZONE_LOOKUP)
    frame = residual_frame(trips, predicted, zones)
    np.testing.assert_array_equal(frame["predicted"].to_numpy(), predicted)
    np.testing.assert_allclose(frame["residual"].to_numpy(), predicted - trips[DURATION].to_numpy())
    assert frame["borough"].tolist() == [zones.borough(zone) for zone in trips[PICKUP_ZONE]]


def test_predictions_of_other_rows_are_refused(settings: Settings):
    trips = load_month(settings.data, settings.data.val_month).trips
    with pytest.raises(ValueError, match=f"3 predictions for {len(trips)} validation trips"):
        residual_frame(trips, np.ones(3), read_zones(ZONE_LOOKUP))
