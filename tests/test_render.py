"""Fast tier: names, core files, pyproject and license of a default and a minimal bake.

Rendering, parsing, imports and linters of every combination are checked by the grid
(``test_combinations.py``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from .baking import Bake, check_rendered_parseable_and_compiles, run, tool
from .own_imports import own_import_problems

CORE_FILES = (
    "pyproject.toml",
    "Makefile",
    "README.md",
    "LICENSE",
    ".env.example",
    ".gitignore",
    "data/sample/green_tripdata_2023-01.parquet",
    "data/sample/green_tripdata_2023-02.parquet",
    "src/{package}/__init__.py",
    "src/{package}/config.py",
    "src/{package}/logs.py",
    "src/{package}/data.py",
    "src/{package}/validation.py",
    "src/{package}/features.py",
    "src/{package}/model.py",
    "src/{package}/evaluate.py",
    "src/{package}/registry.py",
    "src/{package}/train.py",
    "src/{package}/predict.py",
    "src/{package}/cli.py",
    "tests/test_features.py",
    "tests/test_train.py",
    "tests/test_layout.py",
)


@pytest.fixture(scope="module", params=["default_bake", "minimal_bake"])
def bake(request) -> Path:
    return request.getfixturevalue(request.param)


def test_default_names(default_bake: Path):
    assert default_bake.name == "trip-duration"
    assert (default_bake / "src" / "trip_duration").is_dir()


def test_messy_project_name_gives_clean_names(minimal_bake: Path):
    assert minimal_bake.name == "cafe-trips-nyc-v2"
    assert (minimal_bake / "src" / "cafe_trips_nyc_v2" / "cli.py").is_file()
    pyproject = tomllib.loads((minimal_bake / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["authors"][0]["name"] == "Zoë Müller"


def test_core_files_exist(bake: Path):
    package = bake.name.replace("-", "_")
    missing = [f for f in CORE_FILES if not (bake / f.format(package=package)).is_file()]
    assert not missing


def test_a_messy_name_renders_into_clean_linted_python(minimal_bake: Path):
    """The grid checks rendering, parsing, imports and linters with the default names; this is
    the one bake with a name and an author that need slugifying and escaping."""
    bake = Bake({}, minimal_bake)
    check_rendered_parseable_and_compiles(bake)
    assert not own_import_problems(bake)
    run([tool("ruff"), "check", "--no-cache", "src", "tests"], minimal_bake)
    run([tool("black"), "--check", "--quiet", "src", "tests"], minimal_bake)


def test_pyproject_is_pep621_with_poetry2(bake: Path):
    pyproject = tomllib.loads((bake / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["requires-python"].startswith(">=3.11")
    assert "poetry-core>=2" in pyproject["build-system"]["requires"][0]
    dev = pyproject["dependency-groups"]["dev"]
    assert any(dep.startswith("ruff==") for dep in dev)
    assert any(dep.startswith("black==") for dep in dev)


def test_license_is_full_text(default_bake: Path, minimal_bake: Path):
    assert "Permission is hereby granted, free of charge" in (default_bake / "LICENSE").read_text()
    apache = (minimal_bake / "LICENSE").read_text()
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in apache
    assert "END OF TERMS AND CONDITIONS" in apache
