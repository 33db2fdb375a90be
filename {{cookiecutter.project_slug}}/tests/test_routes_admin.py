"""POST /admin/reload: absent unless enabled, then guarded by its bearer token.

A reload that picks up a promotion, over real HTTP, is in ``test_strategies.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.serving.app import create_app
from {{ cookiecutter.package_name }}.serving.routes.admin import authorized

TOKEN = "a-test-token-0123456789"  # pragma: allowlist secret


def with_reload(settings: Settings) -> Settings:
    serving = settings.serving.model_copy(
        update={"reload_enabled": True, "reload_token": SecretStr(TOKEN)}
    )
    return settings.model_copy(update={"serving": serving})


@pytest.fixture
def enabled(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(with_reload(settings))) as client:
        yield client


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"Bearer {TOKEN}", True),
        (None, False),
        (TOKEN, False),
        (f"bearer {TOKEN}", False),
        (f"Bearer {TOKEN}x", False),
        ("Bearer ", False),
    ],
)
def test_only_the_exact_bearer_token_is_authorized(header: str | None, expected: bool):
    assert authorized(header, TOKEN) is expected


def test_without_the_setting_there_is_no_reload_endpoint(settings: Settings):
    with TestClient(create_app(settings)) as client:
        assert client.post("/admin/reload").status_code == 404
        assert "/admin/reload" not in client.get("/openapi.json").json()["paths"]


def test_reload_needs_the_token_and_reports_a_missing_model(enabled: TestClient):
    assert enabled.post("/admin/reload").status_code == 401
    wrong = enabled.post("/admin/reload", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.json() == {"detail": "a valid bearer token is required"}
    allowed = enabled.post("/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
    assert allowed.status_code == 409  # no champion registered in these settings
    assert "champion" in allowed.json()["detail"]
    operation = enabled.get("/openapi.json").json()["paths"]["/admin/reload"]["post"]
    assert {"401", "409"} <= set(operation["responses"])
    assert [p["name"] for p in operation["parameters"]] == ["authorization"]
