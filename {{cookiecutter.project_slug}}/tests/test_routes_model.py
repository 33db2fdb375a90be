"""GET /model and the description of a loaded model that /ready and the predictions share."""

from __future__ import annotations

import math

import pytest
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }}.features import FEATURE_NAMES
from {{ cookiecutter.package_name }}.serving.app import create_app
from {{ cookiecutter.package_name }}.serving.routes.model import finite_or_none


def test_metrics_that_json_cannot_carry_become_null():
    metrics = {"rmse": 4.2, "mae": math.nan, "r2": -math.inf, "count": 12, "note": "n/a"}
    assert finite_or_none(metrics) == {
        "rmse": 4.2,
        "mae": None,
        "r2": None,
        "count": 12.0,
        "note": None,
    }


@pytest.mark.slow
def test_model_describes_the_served_version(trained):
    settings, result = trained
    with TestClient(create_app(settings)) as client:
        response = client.get("/model")
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["version"]) == (result.version.name, result.version.version)
    assert (body["alias"], body["role"], body["mode"]) == ("champion", "champion", "basic")
    assert body["features"] == list(FEATURE_NAMES)
    assert body["metrics"]["rmse"] == pytest.approx(result.metrics["rmse"])
    assert body["trained_at"].startswith("20")
    assert body["train_month"] == "2023-01"
    assert body["challenger"] is None
    assert body["canary_share"] is None
