"""Session-scoped bakes: each answer set is baked once and installed once, then checked often."""

from __future__ import annotations

from pathlib import Path

import pytest

from .baking import ALL_OFF, InstalledProject, bake_or_fail, install

# Session fixtures of the team-server tests: one PostgreSQL cluster and one MLflow server.
from .services import postgres_cluster, team_server  # noqa: F401

# The installed bakes, the slowest session fixtures (an install is 30-90 s). `make test` runs the
# suite on two pytest-xdist workers with --dist loadgroup: every test of one installed bake goes to
# the same worker, so each bake is still installed once per run; a test without one goes with the
# rest of its module, whose module-scoped fixtures (the grid's bakes) are then made once too.
INSTALLED_BAKES = (
    "default_project",
    "minimal_project",
    "file_registry_project",
    "uv_jobs_project",
    "dvc_project",
)


def worker_group(item: pytest.Item) -> str:
    """The installed bake a test uses (by name, or as the parameter of an indirect fixture)."""
    used = set(getattr(item, "fixturenames", ()))
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        used.update(value for value in callspec.params.values() if isinstance(value, str))
    installed = [name for name in INSTALLED_BAKES if name in used]
    if len(installed) > 1:
        raise pytest.UsageError(f"{item.nodeid} uses {installed}: one installed bake per test")
    return installed[0] if installed else item.module.__name__


# First: pytest-xdist reads the groups in its own collection hook, to name each test's group.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.xdist_group(worker_group(item)))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: object, ids: list[str]) -> None:
    """Refuse to run if pytest-xdist did not name the groups in a worker's test ids.

    It names them there for its scheduler; when it cannot (pytest 9.2, pytest-xdist#1386), it
    carries on without groups, and every worker installs every bake. Fail loudly instead."""
    config = getattr(node, "config", None)
    if config is None or config.getvalue("dist") != "loadgroup":
        return
    ungrouped = [nodeid for nodeid in ids if "@" not in nodeid]
    if ungrouped:
        raise pytest.UsageError(
            f"pytest-xdist did not group {len(ungrouped)} tests (first: {ungrouped[0]}); "
            "see the pytest pin in pyproject.toml"
        )


@pytest.fixture(scope="session")
def default_bake(cookies_session) -> Path:
    return bake_or_fail(cookies_session, {})


@pytest.fixture(scope="session")
def minimal_bake(cookies_session) -> Path:
    return bake_or_fail(
        cookies_session,
        {
            **ALL_OFF,
            "project_name": "  Café Trips: NYC v2 ",
            "license": "Apache-2.0",
            "author_name": "Zoë Müller",
        },
    )


@pytest.fixture(scope="session")
def default_project(default_bake: Path) -> InstalledProject:
    return install(default_bake, {})


@pytest.fixture(scope="session")
def minimal_project(minimal_bake: Path) -> InstalledProject:
    return install(minimal_bake, dict(ALL_OFF))


# Served, without MLflow: the same registry interface backed by the file registry; with the demo
# UI on the service, so that one install serves the file-registry and the UI tests.
FILE_REGISTRY = {
    "ui": "gradio",
    "experiment_tracking": "none",
    "hyperparameter_tuning": "none",
    "monitoring": "none",
    "docker": "no",
    "ci": "gitlab",
}


@pytest.fixture(scope="session")
def file_registry_project(cookies_session) -> InstalledProject:
    return install(bake_or_fail(cookies_session, FILE_REGISTRY), dict(FILE_REGISTRY))


# uv, and the jobs' image (docker without serving): one bake, one install, for both.
UV_JOBS = {"package_manager": "uv", "serving": "none", "docker": "yes"}


@pytest.fixture(scope="session")
def uv_jobs_project(cookies_session) -> InstalledProject:
    return install(bake_or_fail(cookies_session, UV_JOBS), dict(UV_JOBS))


# DVC, with monitoring so that the pipeline has all four stages. The Dask tests use this bake too:
# one install for both (every bake has the dask group).
DVC = {**ALL_OFF, "monitoring": "evidently", "data_versioning": "dvc"}


@pytest.fixture(scope="session")
def dvc_project(cookies_session) -> InstalledProject:
    return install(bake_or_fail(cookies_session, DVC), dict(DVC))
