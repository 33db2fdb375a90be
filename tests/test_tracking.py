"""Slow tier: the registry and its quality gate in baked projects, with MLflow and with files.

Each project trains twice on the same months (the second model is no better, so it must stay the
challenger), then retrains on a later month pair: promoted only if it beats the champion on that
pair's validation month, which the test measures itself. The service must then report the
champion. Every command writes below a temporary folder given through the environment, so other
tests that train in the same bake neither disturb nor are disturbed.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from .baking import InstalledProject

pytestmark = pytest.mark.slow

NOT_PROMOTED_EXIT_CODE = 3
# The registry's state and the service's /model answer, read inside the baked venv.
INSPECT = """
import json
from fastapi.testclient import TestClient
from PACKAGE.config import load_settings
from PACKAGE.registry import open_registry
from PACKAGE.serving.app import create_app

registry = open_registry(load_settings())
aliases = {}
for alias in ("champion", "challenger"):
    found = registry.get_version(alias)
    aliases[alias] = None if found is None else found.version
with TestClient(create_app()) as client:
    served = client.get("/model")
print(json.dumps({
    "aliases": aliases,
    "versions": [entry.version for entry in registry.versions()],
    "served": {"status": served.status_code, **served.json()},
}))
"""
DECISION = re.compile(
    r"candidate RMSE (?P<candidate>[\d.]+) (?P<verb>beats|does not beat) "
    r"champion (?P<champion>[\d.]+)"
)


@pytest.fixture(scope="module", params=["default_project", "file_registry_project"])
def project(request) -> InstalledProject:
    return request.getfixturevalue(request.param)


def uses_mlflow(project: InstalledProject) -> bool:
    return project.answers.get("experiment_tracking", "mlflow") == "mlflow"


def isolated(project: InstalledProject, root: Path) -> dict[str, str]:
    """Settings, as environment variables, that keep every output of the project below ``root``."""
    prefix = f"{project.package.upper()}_"
    env = {
        f"{prefix}REGISTRY__MODELS_DIR": str(root / "models"),
        f"{prefix}TRAINING__PARAMS_FILE": str(root / "best_params.json"),
        f"{prefix}DATA__QUARANTINE_DIR": str(root / "quarantine"),
        f"{prefix}LOGGING__FILE": "",
    }
    if uses_mlflow(project):
        env[f"{prefix}REGISTRY__TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    return env


def cli(project: InstalledProject, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """A CLI command whose exit code the test checks itself (retrain exits 3 when not promoted)."""
    return project.attempt(*args, **env)


def succeed(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr[-4000:]}"
    return result.stdout


def first_json(text: str) -> dict:
    return json.loads(text[text.index("{") : text.rindex("}") + 1])


def inspect(project: InstalledProject, env: dict[str, str]) -> dict:
    script = INSPECT.replace("PACKAGE", project.package)
    output = project.run(str(project.bin / "python"), "-c", script, **env).stdout
    return json.loads(output.strip().splitlines()[-1])


def test_gate_keeps_the_champion_until_a_better_model_and_the_service_serves_it(
    project: InstalledProject, tmp_path: Path
):
    env = isolated(project, tmp_path)

    first = succeed(cli(project, env, "train"))
    assert "no champion yet" in first
    second = succeed(cli(project, env, "train"))
    # Same data, settings and seed: the same model, which does not beat itself.
    assert first_json(second)["rmse"] == first_json(first)["rmse"]
    assert "kept as challenger" in second
    state = inspect(project, env)
    assert state["aliases"] == {"champion": 1, "challenger": 2}
    assert state["versions"] == [1, 2]
    assert (state["served"]["status"], state["served"]["version"]) == (200, 1)

    champion_on_new_month = first_json(succeed(cli(project, env, "evaluate", "--month", "2024-01")))
    assert champion_on_new_month["version"] == 1
    retrain = cli(project, env, "retrain", "--train-month", "2023-02", "--val-month", "2024-01")
    assert retrain.returncode in (0, NOT_PROMOTED_EXIT_CODE), retrain.stderr[-4000:]
    decision = DECISION.search(retrain.stdout)
    assert decision, retrain.stdout
    # The gate measured the champion on the new validation month, as `evaluate` does.
    assert float(decision["champion"]) == pytest.approx(champion_on_new_month["rmse"], abs=1e-4)
    promoted = retrain.returncode == 0
    assert promoted == (decision["verb"] == "beats")
    assert promoted == (float(decision["candidate"]) < float(decision["champion"]))

    state = inspect(project, env)
    expected = {"champion": 3, "challenger": 2} if promoted else {"champion": 1, "challenger": 3}
    assert state["aliases"] == expected
    assert state["versions"] == [1, 2, 3]
    assert state["served"]["version"] == expected["champion"]
    candidate_alias = "champion" if promoted else "challenger"
    candidate = first_json(
        succeed(cli(project, env, "evaluate", "--month", "2024-01", "--alias", candidate_alias))
    )
    assert candidate["version"] == 3
    assert candidate["rmse"] == pytest.approx(float(decision["candidate"]), abs=1e-4)

    card = (tmp_path / "models" / "model_card.md").read_text(encoding="utf-8")
    assert "on 2023-02, validated on 2024-01" in card
    if uses_mlflow(project):
        # The embedded store keeps its artifacts beside itself, not in the project's folder.
        assert list((tmp_path / "mlartifacts").rglob("model_card.md"))
        assert list((tmp_path / "mlartifacts").rglob("MLmodel"))
    else:
        registry = tmp_path / "models" / project.root.name
        assert sorted(path.name for path in registry.glob("v*")) == ["v0001", "v0002", "v0003"]
        assert (registry / "v0003" / "model_card.md").is_file()
