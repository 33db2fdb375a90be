"""Slow tier: install each bake once, then run its own checks and pipeline on the bundled sample."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from .baking import InstalledProject, tool

pytestmark = pytest.mark.slow

# The default model on the bundled 4,000-row sample (see the project's test_train.py).
SAMPLE_RMSE_BOUND = 7.5


@pytest.fixture(
    scope="module",
    params=["default_project", "minimal_project", "uv_jobs_project", "file_registry_project"],
)
def project(request) -> InstalledProject:
    return request.getfixturevalue(request.param)


def manager(project: InstalledProject) -> str:
    """The make variable that points the bake at the template's pinned package manager."""
    if project.answers.get("package_manager") == "uv":
        return f"UV={tool('uv')}"
    return f"POETRY={tool('poetry')}"


def test_own_lint_passes(project: InstalledProject):
    """ruff (with bandit's rules), black and mypy (strict): the project's own `make lint`."""
    result = project.run("make", "lint", manager(project))
    assert "Success: no issues found" in result.stdout


def test_own_test_suite_passes(project: InstalledProject):
    """The project's tests pass, and coverage stays above the floor in its pyproject.toml."""
    result = project.run("make", "test", manager(project), timeout=1200)
    assert "Required test coverage of" in result.stdout
    summary = next(
        line
        for line in reversed(result.stdout.splitlines())
        if line.startswith("=") and " in " in line
    )
    assert " passed" in summary
    assert "failed" not in summary
    assert "error" not in summary


def test_train_then_predict_on_the_bundled_sample(project: InstalledProject):
    trained = project.cli("train")
    metrics = json.loads(trained.stdout[: trained.stdout.rindex("}") + 1])
    assert metrics["rmse"] < SAMPLE_RMSE_BOUND
    assert metrics["r2"] > 0.5
    assert (project.root / "models" / "metrics.json").is_file()

    source = project.root / "data" / "sample" / "green_tripdata_2024-01.parquet"
    target = project.root / "predictions" / "sample.parquet"
    predicted = project.cli("predict", str(source), str(target))
    assert "predicted" in predicted.stdout
    scored = pd.read_parquet(target)
    assert len(scored) == len(pd.read_parquet(source))
    predictions = scored["predicted_duration"].dropna()
    assert len(predictions) > 0.9 * len(scored)
    assert predictions.between(0, 120).all()
    # Real trips: the predictions should track the actual durations, not be a constant.
    actual = (
        scored["lpep_dropoff_datetime"] - scored["lpep_pickup_datetime"]
    ).dt.total_seconds() / 60
    kept = actual.between(1, 60) & scored["predicted_duration"].notna()
    assert scored.loc[kept, "predicted_duration"].corr(actual[kept]) > 0.6
