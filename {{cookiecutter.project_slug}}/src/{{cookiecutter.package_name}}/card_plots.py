"""The model card's pictures: where the model is right, where it is wrong, and what it reads.

Drawn headless (matplotlib's Agg backend: no display needed, in CI or a container) from the
validation month, as PNG files beside the card; the card links them by file name, so the links
work wherever card and pictures travel together (the models folder, a registry version).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")  # before pyplot is imported: no display in CI, containers or schedulers

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .explain import explain
from .features import build_features
from .model import TripDurationModel
from .outputs import atomic_write
from .trip import DISTANCE, DURATION, PICKUP_ZONE
from .zones import Zones

# Miles; the last band is open-ended up to the validation rules' limit.
DISTANCE_BANDS = (0.0, 1.0, 2.0, 5.0, 10.0, 20.0, np.inf)
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# TreeSHAP costs about 0.2 ms a row. On a 3M-row month, 1,000 rows gave every feature's mean
# |contribution| within 5% of a 20,000-row estimate, in the same order (docs/benchmarks.md).
IMPORTANCE_SAMPLE = 1_000
DPI = 100


@dataclass(frozen=True)
class CardFigures:
    """The pictures (title -> PNG file) and the per-borough error table of one model."""

    files: dict[str, Path]
    borough_rows: list[tuple[str, int, str, str]]


def residual_frame(trips: pd.DataFrame, predicted: np.ndarray, zones: Zones) -> pd.DataFrame:
    """One row per validation trip: actual and predicted minutes, and what the errors group by.

    ``predicted`` are the model's predictions for ``trips``, made once by training's evaluation:
    a month-scale validation set is not predicted a second time for its pictures."""
    if len(predicted) != len(trips):
        raise ValueError(f"{len(predicted)} predictions for {len(trips)} validation trips")
    features = build_features(trips)
    actual = trips[DURATION].to_numpy()
    pickup_zones = trips[PICKUP_ZONE]
    boroughs = {zone: zones.borough(zone) for zone in pickup_zones.unique()}
    bands = pd.cut(trips[DISTANCE], DISTANCE_BANDS, right=False, include_lowest=True)
    return pd.DataFrame(
        {
            "actual": actual,
            "predicted": predicted,
            "residual": predicted - actual,
            "error": np.abs(predicted - actual),
            "hour": features["pickup_hour"].astype(int).to_numpy(),
            "weekday": features["pickup_weekday"].to_numpy(),
            "distance band": bands.astype(str).to_numpy(),
            "borough": pickup_zones.map(boroughs).to_numpy(),
        }
    )


def save(figure: Figure, path: Path) -> Path:
    figure.tight_layout()
    try:
        with atomic_write(path) as partial:
            figure.savefig(partial, dpi=DPI, format="png")
    finally:
        plt.close(figure)
    return path


def error_by(frame: pd.DataFrame, column: str, order: list[object]) -> pd.DataFrame:
    grouped = frame.groupby(column, observed=True).agg(
        mae=("error", "mean"), mean_residual=("residual", "mean")
    )
    return grouped.reindex([key for key in order if key in grouped.index])


def bar_chart(
    errors: pd.DataFrame, title: str, xlabel: str, path: Path, labels: list[str] | None = None
) -> Path:
    figure, axes = plt.subplots(figsize=(8, 3.5))
    errors.rename(columns={"mae": "mean absolute error", "mean_residual": "mean residual"}).plot(
        kind="bar", ax=axes, width=0.8
    )
    if labels is not None:
        axes.set_xticklabels(labels)
    axes.tick_params(axis="x", rotation=0)
    axes.axhline(0, color="black", linewidth=0.8)
    axes.set(title=title, xlabel=xlabel, ylabel="minutes (predicted - actual)")
    return save(figure, path)


def importance_chart(model: TripDurationModel, trips: pd.DataFrame, path: Path) -> Path:
    sample = trips.sample(min(len(trips), IMPORTANCE_SAMPLE), random_state=0)
    importance = explain(model, sample).mean_absolute().iloc[::-1]
    figure, axes = plt.subplots(figsize=(7, 3.5))
    axes.barh(importance.index, importance.to_numpy(), color="tab:blue")
    axes.set(title="Global importance", xlabel="mean |contribution| (minutes)")
    return save(figure, path)


def predicted_vs_actual(frame: pd.DataFrame, path: Path) -> Path:
    figure, axes = plt.subplots(figsize=(5, 5))
    axes.hexbin(frame["actual"], frame["predicted"], gridsize=40, mincnt=1, bins="log")
    top = float(max(frame["actual"].max(), frame["predicted"].max(), 1.0))
    axes.plot([0, top], [0, top], color="black", linewidth=0.8)
    axes.set(title="Predicted vs actual", xlabel="actual minutes", ylabel="predicted minutes")
    return save(figure, path)


def render_card_figures(
    folder: Path,
    model: TripDurationModel,
    trips: pd.DataFrame,
    predicted: np.ndarray,
    zones: Zones,
) -> CardFigures:
    """Draw every picture of the card into ``folder`` from the validation ``trips`` and the
    model's ``predicted`` minutes for them."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = residual_frame(trips, predicted, zones)
    band_order = sorted(
        frame["distance band"].unique(), key=lambda band: float(band[1:].split(",")[0])
    )
    by_weekday = error_by(frame, "weekday", list(range(7)))
    by_borough = error_by(frame, "borough", sorted(frame["borough"].unique()))
    files = {
        "Global importance": importance_chart(model, trips, folder / "card_importance.png"),
        "Residuals by hour of day": bar_chart(
            error_by(frame, "hour", list(range(24))),
            "Residuals by hour of day",
            "pickup hour",
            folder / "card_residuals_hour.png",
        ),
        "Residuals by weekday": bar_chart(
            by_weekday,
            "Residuals by weekday",
            "pickup weekday",
            folder / "card_residuals_weekday.png",
            labels=[WEEKDAYS[int(day)] for day in by_weekday.index],
        ),
        "Residuals by distance band": bar_chart(
            error_by(frame, "distance band", band_order),
            "Residuals by distance band",
            "miles",
            folder / "card_residuals_distance.png",
        ),
        "Predicted vs actual": predicted_vs_actual(frame, folder / "card_predicted_actual.png"),
        "Error by borough": bar_chart(
            by_borough, "Error by pickup borough", "borough", folder / "card_error_borough.png"
        ),
    }
    counts = frame["borough"].value_counts()
    rows = [
        (borough, int(counts[borough]), f"{row.mae:.2f}", f"{row.mean_residual:+.2f}")
        for borough, row in by_borough.iterrows()
    ]
    return CardFigures(files=files, borough_rows=rows)
