"""The ways a project is created and kept up to date: replay, a user config file, and cruft.

Every command runs in a temporary HOME with its own cookiecutter config, so nothing is read from
or written to the real user's replay folder, and git identities come from the environment.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from .baking import TEMPLATE_ROOT, clean_environment, run, tool

# What a user's checkout of the template holds besides the template (see the template's .gitignore).
NOT_TEMPLATE = (".git", ".venv", ".tools", "build", "site", "__pycache__", "*.py[cod]",
                ".pytest_cache", ".ruff_cache", ".benchmarks")  # fmt: skip
TEMPLATE_CHANGE = "Template change that must reach the project through cruft update."


def isolated_env(home: Path) -> dict[str, str]:
    """A HOME of its own (cookiecutter and cruft read ~/.cookiecutterrc) and a git identity."""
    identity = {
        "GIT_AUTHOR_NAME": "Template Tests",
        "GIT_AUTHOR_EMAIL": "template-tests@example.com",
        "GIT_COMMITTER_NAME": "Template Tests",
        "GIT_COMMITTER_EMAIL": "template-tests@example.com",
    }
    return clean_environment(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", **identity)


def write_config(path: Path, home: Path, default_context: dict[str, str] | None = None) -> Path:
    lines = [f"cookiecutters_dir: {home / 'cookiecutters'}", f"replay_dir: {home / 'replay'}"]
    if default_context:
        lines.append("default_context:")
        lines += [f'  {key}: "{value}"' for key, value in default_context.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_replay_reproduces_the_same_project(tmp_path: Path):
    env = isolated_env(tmp_path)
    config = write_config(tmp_path / "config.yaml", tmp_path)
    cookiecutter = tool("cookiecutter")
    answers = [
        "project_name=Replay Trips",
        "author_name=Replay Team",
        "ci=gitlab",
        "monitoring=none",
    ]
    first, second = tmp_path / "first", tmp_path / "second"
    run([cookiecutter, "--no-input", "--config-file", str(config), "-o", str(first),
         str(TEMPLATE_ROOT), *answers], tmp_path, env=env)  # fmt: skip

    replay_file = tmp_path / "replay" / f"{TEMPLATE_ROOT.name}.json"
    recorded = json.loads(replay_file.read_text(encoding="utf-8"))["cookiecutter"]
    assert recorded["project_slug"] == "replay-trips"
    assert (recorded["ci"], recorded["monitoring"]) == ("gitlab", "none")

    run([cookiecutter, "--replay", "--config-file", str(config), "-o", str(second),
         str(TEMPLATE_ROOT)], tmp_path, env=env)  # fmt: skip
    baked = tree(first / "replay-trips")
    assert baked
    assert tree(second / "replay-trips") == baked


def test_user_config_default_context_is_honoured(tmp_path: Path):
    env = isolated_env(tmp_path)
    defaults = {
        "author_name": "Config Team",
        "author_email": "config-team@example.com",
        "ci": "gitlab",
        "serving": "none",
        "docker": "no",
    }
    config = write_config(tmp_path / "config.yaml", tmp_path, defaults)
    out = tmp_path / "out"
    run([tool("cookiecutter"), "--no-input", "--config-file", str(config), "-o", str(out),
         str(TEMPLATE_ROOT)], tmp_path, env=env)  # fmt: skip

    project = out / "trip-duration"
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["authors"] == [
        {"name": "Config Team", "email": "config-team@example.com"}
    ]
    assert not (project / "src" / "trip_duration" / "serving").exists()
    assert not (project / "Dockerfile").exists()
    assert not (project / ".github").exists()
    recorded = json.loads((tmp_path / "replay" / f"{TEMPLATE_ROOT.name}.json").read_text())
    assert {key: recorded["cookiecutter"][key] for key in defaults} == defaults


def git(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run(["git", *args], cwd, env=env)


def git_copy_of_template(target: Path, env: dict[str, str]) -> Path:
    """What a template user has: the template in a git repository of its own."""
    shutil.copytree(TEMPLATE_ROOT, target, ignore=shutil.ignore_patterns(*NOT_TEMPLATE))
    git(target, env, "init", "-q", "-b", "main")
    git(target, env, "add", "-A")
    git(target, env, "commit", "-q", "-m", "template v1")
    return target


@pytest.fixture
def cruft_project(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A project created by ``cruft create`` from a git copy of the template, committed in git."""
    env = isolated_env(tmp_path)
    env["COOKIECUTTER_CONFIG"] = str(write_config(tmp_path / "config.yaml", tmp_path))
    template = git_copy_of_template(tmp_path / "template", env)
    run([tool("cruft"), "create", str(template), "--no-input", "--output-dir",
         str(tmp_path / "projects"), "--extra-context", json.dumps({"ci": "github"})],
        tmp_path, env=env)  # fmt: skip
    project = tmp_path / "projects" / "trip-duration"
    git(project, env, "init", "-q", "-b", "main")
    git(project, env, "add", "-A")
    git(project, env, "commit", "-q", "-m", "project from the template")
    return template, project, env


def test_cruft_create_links_the_project_to_the_template_commit(cruft_project):
    template, project, env = cruft_project
    link = json.loads((project / ".cruft.json").read_text(encoding="utf-8"))
    head = git(template, env, "rev-parse", "HEAD").stdout.strip()
    assert link["template"] == str(template)
    assert link["commit"] == head
    assert link["context"]["cookiecutter"]["package_name"] == "trip_duration"
    assert (project / "src" / "trip_duration" / "cli.py").is_file()
    # Up to date right after creation.
    run([tool("cruft"), "check"], project, env=env)


def test_a_template_change_reaches_the_project_with_cruft_update(cruft_project):
    template, project, env = cruft_project
    cruft = tool("cruft")
    readme = template / "{{cookiecutter.project_slug}}" / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + f"\n{TEMPLATE_CHANGE}\n", "utf-8")
    git(template, env, "commit", "-q", "-am", "template v2: a README line")
    new_head = git(template, env, "rev-parse", "HEAD").stdout.strip()

    check = subprocess.run([cruft, "check"], cwd=project, env=env, capture_output=True, text=True)
    assert check.returncode != 0
    assert "out of date" in (check.stdout + check.stderr).lower()
    # Without --checkout, cruft diff shows the project's own edits against its recorded commit.
    assert TEMPLATE_CHANGE not in run([cruft, "diff"], project, env=env).stdout
    incoming = run([cruft, "diff", "--checkout", "main"], project, env=env).stdout
    assert f"+{TEMPLATE_CHANGE}" in incoming

    run([cruft, "update", "--skip-apply-ask"], project, env=env)
    assert TEMPLATE_CHANGE in (project / "README.md").read_text(encoding="utf-8")
    assert json.loads((project / ".cruft.json").read_text(encoding="utf-8"))["commit"] == new_head
    run([cruft, "check"], project, env=env)
    # The update is an ordinary working-tree change the user reviews and commits.
    changed = git(project, env, "status", "--porcelain").stdout.split("\n")
    assert {line[3:] for line in changed if line} == {"README.md", ".cruft.json"}


def test_cruft_link_adopts_a_cookiecutter_project_with_its_answers(tmp_path: Path):
    """The README's path for projects made with plain cookiecutter: link once, then update."""
    env = isolated_env(tmp_path)
    config = write_config(tmp_path / "config.yaml", tmp_path)
    env["COOKIECUTTER_CONFIG"] = str(config)
    template = git_copy_of_template(tmp_path / "template", env)
    answers = {"python_version": "3.12", "ci": "gitlab"}
    run([tool("cookiecutter"), "--no-input", "--config-file", str(config), "-o",
         str(tmp_path / "projects"), str(template), *(f"{k}={v}" for k, v in answers.items())],
        tmp_path, env=env)  # fmt: skip
    project = tmp_path / "projects" / "trip-duration"
    git(project, env, "init", "-q", "-b", "main")
    git(project, env, "add", "-A")
    git(project, env, "commit", "-q", "-m", "project from plain cookiecutter")

    cruft = tool("cruft")
    run([cruft, "link", str(template), "--no-input", "--extra-context", json.dumps(answers)],
        project, env=env)  # fmt: skip
    recorded = json.loads((project / ".cruft.json").read_text(encoding="utf-8"))
    assert {key: recorded["context"]["cookiecutter"][key] for key in answers} == answers
    # Linked with the same answers, the project is exactly what the template makes: --exit-code
    # would fail on any difference (the output is only the post-gen hook's greeting).
    assert "diff --git" not in run([cruft, "diff", "--exit-code"], project, env=env).stdout
    git(project, env, "add", ".cruft.json")
    git(project, env, "commit", "-q", "-m", "link to the template")

    readme = template / "{{cookiecutter.project_slug}}" / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + f"\n{TEMPLATE_CHANGE}\n", "utf-8")
    git(template, env, "commit", "-q", "-am", "template v2: a README line")
    run([cruft, "update", "--skip-apply-ask"], project, env=env)
    assert TEMPLATE_CHANGE in (project / "README.md").read_text(encoding="utf-8")
    assert 'requires-python = ">=3.12' in (project / "pyproject.toml").read_text(encoding="utf-8")
