"""Provenance facts: file checksums, the code's commit when there is one, the library versions."""

from __future__ import annotations

import hashlib
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }} import provenance
from {{ cookiecutter.package_name }}.provenance import environment, git_commit, sha256_of


def test_a_file_read_in_chunks_has_the_sha256_of_its_whole_content(tmp_path: Path):
    content = bytes(range(256)) * 41  # 10,496 bytes: several chunks and a partial last one
    path = tmp_path / "month.parquet"
    path.write_bytes(content)
    assert sha256_of(path, chunk_size=1000) == hashlib.sha256(content).hexdigest()
    assert sha256_of(path) == hashlib.sha256(content).hexdigest()
    (tmp_path / "empty").write_bytes(b"")
    assert sha256_of(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()


@pytest.fixture
def outside_any_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tmp_path`` as the working folder, with git told not to look above it."""
    for name in ("GIT_DIR", "GIT_WORK_TREE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_no_commit_outside_a_git_checkout(outside_any_checkout: Path):
    assert git_commit() is None


def test_no_commit_without_git(outside_any_checkout: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PATH", str(outside_any_checkout))  # no git executable there
    assert git_commit() is None


def test_the_commit_of_a_checkout_is_its_head(outside_any_checkout: Path):
    def git(*arguments: str) -> str:
        identity = ("-c", "user.name=Test", "-c", "user.email=test@example.com")
        return subprocess.run(
            ["git", *identity, *arguments], capture_output=True, text=True, check=True
        ).stdout.strip()

    git("init", "--quiet")
    git("commit", "--quiet", "--allow-empty", "--message", "first")
    head = git("rev-parse", "HEAD")
    assert len(head) == 40
    assert git_commit() == head


def test_the_environment_names_python_and_the_installed_tracked_packages(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(provenance, "TRACKED_PACKAGES", ("lightgbm", "no-such-package-here"))
    assert environment() == {
        "python": platform.python_version(),
        "lightgbm": metadata.version("lightgbm"),
    }
