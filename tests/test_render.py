"""Fast tier: bake, then check the tree, the rendering, the config files and the linters."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml

from .baking import UNRENDERED, run, text_files, tool

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
    "tests/test_training.py",
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


def test_nothing_left_unrendered(bake: Path):
    leftovers = {
        str(path.relative_to(bake)): match.group(0)
        for path in text_files(bake)
        if (match := UNRENDERED.search(path.read_text(encoding="utf-8")))
    }
    assert not leftovers


def test_toml_and_yaml_parse(bake: Path):
    files = [p for p in text_files(bake) if p.suffix in {".toml", ".yml", ".yaml"}]
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".toml":
            tomllib.loads(text)
        else:
            yaml.safe_load(text)


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


def test_ruff_and_black_are_clean(bake: Path):
    run([tool("ruff"), "check", "--no-cache", "src", "tests"], bake)
    run([tool("black"), "--check", "--quiet", "src", "tests"], bake)


def test_python_files_compile(bake: Path):
    """Like ``python -m compileall``, without writing bytecode into the bake."""
    sources = [p for p in text_files(bake) if p.suffix == ".py"]
    assert sources
    for path in sources:
        compile(path.read_text(encoding="utf-8"), str(path), "exec")
