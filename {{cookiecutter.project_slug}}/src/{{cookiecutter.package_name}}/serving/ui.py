"""A demo form for business users, mounted on the service at ``/ui`` (Gradio).

It predicts with the service's own loaded model, through the same predictor as ``/predict``
(no second copy of the model in memory, the same validation and the same numbers): pickup and
dropoff zones chosen by name, the distance and the pickup time in, the predicted minutes and a
bar chart of what moved the prediction out.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pandas as pd
from fastapi import FastAPI, HTTPException
from pydantic import ValidationError
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from ..config import Settings
from ..trip import DISTANCE, DROPOFF_ZONE, PICKUP, PICKUP_ZONE
from ..zones import Zones, read_zones
from .predictor import Predictor
from .schemas import EXAMPLE_TRIP, Trip

UI_PATH = "/ui"
# The chart speaks the form's language, not the feature matrix's column names.
INPUT_LABELS = {
    PICKUP_ZONE: "pickup zone",
    DROPOFF_ZONE: "dropoff zone",
    DISTANCE: "distance",
    "log_trip_distance": "distance (log)",
    "same_zone": "same zone",
    "pickup_hour": "hour of day",
    "pickup_weekday": "weekday",
    "is_weekend": "weekend",
    "is_holiday": "holiday",
}
# Gradio would otherwise report usage to its authors from every service that mounts it.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402 - after the switch above, which gradio reads at import


def form_trip(pickup: Any, dropoff: Any, distance: Any, pickup_time: Any) -> Trip:
    """The form's values as an API trip, validated by the same rules; gr.Error names the field."""
    try:
        return Trip.model_validate(
            {
                PICKUP_ZONE: pickup,
                DROPOFF_ZONE: dropoff,
                DISTANCE: distance,
                PICKUP: str(pickup_time or "").strip(),
            }
        )
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}"
            for problem in error.errors(include_url=False)
        )
        raise gr.Error(f"Check the form: {problems}") from None


def contribution_frame(contributions: dict[str, float]) -> pd.DataFrame:
    """The explanation as a bar chart's rows, largest effect first."""
    frame = pd.DataFrame(
        {
            "input": [INPUT_LABELS.get(name, name) for name in contributions],
            "minutes": [round(value, 3) for value in contributions.values()],
        }
    )
    return frame.reindex(frame["minutes"].abs().sort_values(ascending=False).index)


def build_ui(predictor_of: Callable[[], Predictor], zones: Zones) -> gr.Blocks:
    """The form; ``predictor_of`` returns the service's predictor (or raises 503 without one)."""
    choices = [(zone.label, zone.number) for zone in zones.choices()]
    when = datetime.fromisoformat(EXAMPLE_TRIP[PICKUP]).strftime("%Y-%m-%d %H:%M")

    async def predict(
        pickup: Any, dropoff: Any, distance: Any, pickup_time: Any
    ) -> tuple[float, pd.DataFrame]:
        trip = form_trip(pickup, dropoff, distance, pickup_time)
        try:
            predictor = predictor_of()
        except HTTPException as error:
            raise gr.Error(str(error.detail)) from None
        [minutes], explained = await predictor.explain_many([trip])
        [why] = explained.rows()
        return round(minutes, 2), contribution_frame(why["contributions"])  # type: ignore[arg-type]

    with gr.Blocks(title="Trip duration") as blocks:
        gr.Markdown(
            "# How long will this taxi trip take?\n"
            "Pick the zones, the distance and when the trip starts. The prediction comes from "
            "the model this service serves; the chart shows how each input moved it."
        )
        with gr.Row():
            pickup = gr.Dropdown(
                choices, value=EXAMPLE_TRIP[PICKUP_ZONE], label="Pickup zone", elem_id="pickup"
            )
            dropoff = gr.Dropdown(
                choices, value=EXAMPLE_TRIP[DROPOFF_ZONE], label="Dropoff zone", elem_id="dropoff"
            )
        with gr.Row():
            distance = gr.Number(
                EXAMPLE_TRIP[DISTANCE], label="Distance (miles)", elem_id="distance"
            )
            pickup_time = gr.Textbox(
                when, label="Pickup time (New York, YYYY-MM-DD HH:MM)", elem_id="pickup-time"
            )
        submit = gr.Button("Predict", variant="primary", elem_id="predict")
        minutes = gr.Number(label="Predicted minutes", elem_id="minutes", interactive=False)
        chart = gr.BarPlot(
            x="input", y="minutes", label="Minutes each input adds or removes", elem_id="why"
        )
        submit.click(
            predict, inputs=[pickup, dropoff, distance, pickup_time], outputs=[minutes, chart]
        )
    return blocks


class OpaqueApp:
    """An ASGI app that shows no routes of its own.

    The metrics middleware names each request by walking the routes of mounted apps, and fails on
    the routers inside Gradio's app; behind this wrapper every form request is counted as ``/ui``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def mount_ui(app: FastAPI, predictor_of: Callable[[], Predictor], settings: Settings) -> None:
    """Mount the form at ``/ui``; zone names come from the bundled TLC lookup."""
    blocks = build_ui(predictor_of, read_zones(settings.data.zone_lookup))
    # Gradio's own helper also starts its queue with the service (it wraps the app's lifespan).
    gr.mount_gradio_app(app, blocks, path=UI_PATH)
    routes = app.router.routes
    [index] = [i for i, route in enumerate(routes) if getattr(route, "path", "") == UI_PATH]
    mounted = routes[index]
    if not isinstance(mounted, Mount):  # a Gradio release that mounts differently: fail loudly
        raise TypeError(f"{UI_PATH} is a {type(mounted).__name__}, not the Mount Gradio adds")
    routes[index] = Mount(UI_PATH, app=OpaqueApp(mounted.app), name=mounted.name)
