"""Helpers to bake the template, install a bake (Poetry or uv), and run commands inside it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ANSWERS: dict[str, str] = {}
# Everything switched off that can be.
ALL_OFF = {
    "serving": "none",
    "experiment_tracking": "none",
    "hyperparameter_tuning": "none",
    "monitoring": "none",
    "docker": "no",
    "ci": "none",
    "data_versioning": "none",
}
# Poetry's default source uses PyPI's per-version JSON API, which this machine's mirror lacks;
# the simple index is the same PyPI. Only the harness's copy of a bake gets it, never the template.
SIMPLE_INDEX_SOURCE = """
[[tool.poetry.source]]
name = "pypi-simple"
url = "https://pypi.org/simple/"
priority = "primary"
"""
UNRENDERED = re.compile(r"(?<!\$)\{\{|\{%|\{#|cookiecutter\.")
BINARY_SUFFIXES = {".parquet", ".png", ".jpg", ".ico", ".joblib"}


def tool(name: str) -> str:
    """A tool from the template's own virtual environment (pinned in its pyproject.toml)."""
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} is not installed in the template's environment")
    return found


# A bake is a project of its own: no venv of ours, and no make flags from an outer `make test`
# (MAKEFLAGS=w would add "Leaving directory" lines to every output the tests read). Nor this
# machine's PYTHONDONTWRITEBYTECODE: a bake's processes write the bytecode of what they import
# once, as on a user's machine, instead of recompiling MLflow in every process (seconds each).
NOT_INHERITED = {
    "VIRTUAL_ENV",
    "PYTHONHOME",
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
    "PYTHONDONTWRITEBYTECODE",
}


def clean_environment(**extra: str) -> dict[str, str]:
    """The environment without the template's venv, so a bake's Poetry makes its own."""
    env = {key: value for key, value in os.environ.items() if key not in NOT_INHERITED}
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    env["POETRY_VIRTUALENVS_IN_PROJECT"] = "true"
    env["POETRY_NO_INTERACTION"] = "1"
    env.update(extra)
    return env


def run(
    command: list[str], cwd: Path, *, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command and fail with its full output when it fails."""
    result = subprocess.run(
        command,
        cwd=cwd,
        env=env or clean_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} exited {result.returncode} in {cwd}\n"
            f"--- stdout ---\n{result.stdout[-6000:]}\n--- stderr ---\n{result.stderr[-6000:]}"
        )
    return result


# What running a bake writes (the slow tier trains and serves in the same bakes).
RUNTIME_DIRS = {
    ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", "models", "mlartifacts",
    "mlruns", "logs", "reports", "predictions", "quarantine", "prediction_log",
}  # fmt: skip
RUNTIME_FILES = {"mlflow.db", ".coverage", "coverage.xml"}


def text_files(root: Path) -> list[Path]:
    """The bake's own text files, without what its runs produced."""
    return [
        path
        for path in sorted(root.rglob("*"))
        if path.is_file()
        and path.suffix not in BINARY_SUFFIXES
        and path.name not in RUNTIME_FILES
        and not RUNTIME_DIRS.intersection(path.relative_to(root).parts)
    ]


@dataclass
class InstalledProject:
    """A baked project with its own Poetry virtual environment in ``root/.venv``."""

    root: Path
    answers: dict[str, str]

    @property
    def package(self) -> str:
        return self.root.name.replace("-", "_")

    @property
    def bin(self) -> Path:
        return self.root / ".venv" / "bin"

    def run(
        self, *command: str, timeout: float = 600, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return run(list(command), self.root, timeout=timeout, env=clean_environment(**env))

    def cli(self, *args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess[str]:
        return self.run(str(self.bin / self.root.name), *args, timeout=timeout, **env)

    def attempt(
        self, *args: str, timeout: float = 600, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """The project's CLI for a test that checks the exit code itself: a failure is returned."""
        return subprocess.run(
            [str(self.bin / self.root.name), *args],
            cwd=self.root,
            env=clean_environment(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def install(root: Path, answers: dict[str, str], **env: str) -> InstalledProject:
    """Lock and install a bake with its package manager (the template's pinned one), once.

    ``env`` adds environment variables (the demo points the download caches at empty folders)."""
    if answers.get("package_manager") == "uv":
        return install_with_uv(root, answers, **env)
    pyproject = root / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8") + SIMPLE_INDEX_SOURCE, encoding="utf-8"
    )
    poetry = tool("poetry")
    run([poetry, "lock"], root, timeout=900, env=clean_environment(**env))
    # Without --compile (53 of a default install's 85 s here): the bake's processes compile only
    # the modules they import, once (see NOT_INHERITED).
    run([poetry, "install"], root, timeout=1800, env=clean_environment(**env))
    return InstalledProject(root=root, answers=answers)


def install_with_uv(root: Path, answers: dict[str, str], **env: str) -> InstalledProject:
    """The bake's own `make install` (uv lock + uv sync); uv needs no source block here."""
    command = ["make", "install", f"UV={tool('uv')}"]
    run(command, root, timeout=1800, env=clean_environment(**env))
    return InstalledProject(root=root, answers=answers)


@dataclass
class Bake:
    answers: dict[str, str]
    root: Path

    @property
    def package(self) -> str:
        return self.root.name.replace("-", "_")

    @property
    def source(self) -> Path:
        return self.root / "src" / self.package

    @cached_property
    def texts(self) -> dict[str, str]:
        """Every text file by relative path (read once: several checks scan them)."""
        return {
            str(path.relative_to(self.root)): path.read_text(encoding="utf-8")
            for path in text_files(self.root)
        }


def check_rendered_parseable_and_compiles(bake: Bake) -> None:
    texts = bake.texts
    leftovers = {name: m.group(0) for name, text in texts.items() if (m := UNRENDERED.search(text))}
    assert not leftovers
    for name, text in texts.items():
        if name.endswith(".toml"):
            tomllib.loads(text)
        elif name.endswith((".yml", ".yaml")):
            yaml.safe_load(text)
        elif name.endswith(".py"):
            # Like ``python -m compileall``, without writing bytecode into the bake.
            compile(text, name, "exec", dont_inherit=True)


def bake_or_fail(cookies_session: Any, answers: dict[str, str]) -> Path:
    """A pytest-cookies bake of ``answers``; a failed bake fails the test with its exception."""
    result = cookies_session.bake(extra_context=answers)
    assert result.exit_code == 0, f"baking {answers} failed: {result.exception}"
    return Path(result.project_path)


def file_registry_record(home: Path, version: int) -> dict:
    """The run record a file registry stored with a version (``home/vNNNN/run_record.json``)."""
    return json.loads((home / f"v{version:04d}" / "run_record.json").read_text(encoding="utf-8"))
