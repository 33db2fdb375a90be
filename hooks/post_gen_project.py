"""Remove what the chosen options leave out, then tell the user what to do next.

Adding an option means adding rows to ``OPTIONAL_PATHS``; the loop below never changes.
Paths are relative to the generated project's root; ``{package}`` is the package name.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

# The literal below is rendered by cookiecutter; imported by tests, it is just a string.
CONTEXT_JSON = r"""{{ cookiecutter | jsonify }}"""

# (option, value that removes the paths) -> paths to delete
OPTIONAL_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("serving", "none"): (
        "src/{package}/serving",
        "src/{package}/prediction_log.py",
        "tests/test_api.py",
        "tests/test_prediction_log.py",
        "tests/test_serve.py",
        "docs/serving.md",
        "tests/servers.py",
        "tests/test_strategies.py",
        "tests/test_routing.py",
        "tests/test_metrics.py",
        "tests/test_shadow.py",
        "tests/test_json_body.py",
        "tests/test_deps.py",
        "tests/test_errors.py",
        "tests/test_routes_admin.py",
        "tests/test_routes_model.py",
        "tests/test_routes_operations.py",
        "tests/test_routes_predictions.py",
        "docs/how-to/serve-basic.md",
        "docs/how-to/serve-shadow.md",
        "docs/how-to/serve-canary.md",
        "benchmarks",
        # A job image only: the training Job and the retraining CronJob, no service.
        "deploy/kubernetes/base/app",
        "deploy/kubernetes/base/service.yaml",
        "deploy/kubernetes/base/pdb.yaml",
        "deploy/kubernetes/base/prediction-log-pvc.yaml",
        "deploy/kubernetes/overlays",
    ),
    ("ui", "none"): ("src/{package}/serving/ui.py", "tests/test_ui.py"),
    # With MLflow the file registry would be dead code: MLflow's registry backs the same interface.
    ("experiment_tracking", "mlflow"): (
        "src/{package}/registry_files.py",
        "tests/test_registry_files.py",
        "deploy/kubernetes/base/models-pvc.yaml",
    ),
    ("experiment_tracking", "none"): (
        "src/{package}/registry_mlflow.py",
        "src/{package}/tracking.py",
        "tests/test_registry_mlflow.py",
        "tests/test_tracking.py",
        # Scheduled retraining in CI needs the team's tracking server: a file registry on a CI
        # runner is thrown away with it (the Kubernetes CronJob keeps its volume).
        ".github/workflows/retrain.yml",
        # The compose stack is the team's MLflow server: nothing to compose without it.
        "compose.yaml",
    ),
    ("hyperparameter_tuning", "none"): (
        "src/{package}/tune.py",
        "tests/test_tune.py",
        "docs/tuning.md",
    ),
    ("monitoring", "none"): (
        "src/{package}/monitor.py",
        "src/{package}/reports_index.py",
        "tests/test_monitor.py",
        "tests/test_reports_index.py",
        "docs/monitoring.md",
    ),
    ("docker", "no"): (
        "Dockerfile",
        ".dockerignore",
        "compose.yaml",
        "deploy",
        "docs/deployment.md",
    ),
    ("ci", "github"): (".gitlab-ci.yml", "renovate.json"),
    ("ci", "gitlab"): (".github",),
    ("ci", "none"): (".github", ".gitlab-ci.yml", "renovate.json"),
    ("package_manager", "uv"): ("poetry.toml",),
    ("data_versioning", "none"): (
        "dvc.yaml",
        "params.yaml",
        ".dvcignore",
        ".dvc",
        "tests/test_params_file.py",
        "docs/data-versioning.md",
    ),
}

MANAGER_NAMES = {"poetry": "Poetry", "uv": "uv"}


def paths_to_remove(answers: dict[str, str]) -> list[str]:
    """The relative paths that the answers switch off, in table order."""
    package = answers["package_name"]
    return [
        path.format(package=package)
        for (option, value), paths in OPTIONAL_PATHS.items()
        if answers.get(option) == value
        for path in paths
    ]


def remove(root: Path, relative: str) -> None:
    """Delete a path, then the folders it leaves empty (up to the project's root)."""
    target = root / relative
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()
    folder = target.parent
    while folder != root and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def next_steps(answers: dict[str, str]) -> str:
    steps = [
        f"cd {answers['project_slug']}",
        f"make install     # {MANAGER_NAMES[answers['package_manager']]} venv in .venv",
    ]
    if answers.get("data_versioning") == "dvc":
        steps.append("git init && make repro  # DVC pipeline: download months, train, evaluate")
    else:
        steps.append("make train       # train on the bundled sample, register the model")
    steps.append("make predict     # batch prediction on the bundled sample")
    if answers["serving"] == "fastapi":
        steps.append("make serve       # FastAPI on http://127.0.0.1:8000/docs")
    if answers.get("ui") == "gradio":
        steps.append("                 # and the demo UI on http://127.0.0.1:8000/ui")
    steps.append("make help        # every task")
    return "\n".join(f"    {step}" for step in steps)


def main() -> None:
    answers = json.loads(CONTEXT_JSON)
    root = Path.cwd()
    for relative in paths_to_remove(answers):
        remove(root, relative)
    name = answers["project_name"].strip()
    print(f"\nCreated {name!r} in {root}\n\nNext steps:\n{next_steps(answers)}\n")


if __name__ == "__main__":
    main()
