"""Slow tier: a bake with ``data_versioning=dvc`` runs its DVC pipeline offline.

The ``data`` stage downloads the months from a ``file://`` URL (the bundled sample), the remote is
a temporary folder. The bake is ``conftest.DVC`` (monitoring on, so the pipeline has all four
stages), installed once and shared with the Dask tests.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml

from .baking import InstalledProject, clean_environment, file_registry_record, tool

pytestmark = pytest.mark.slow

STAGES = ("data", "train", "evaluate", "monitor")


class Pipeline:
    """The bake as a git + DVC repository whose months come from its own bundled sample."""

    def __init__(self, project: InstalledProject) -> None:
        self.project = project
        self.root = project.root
        self.params = self.root / "params.yaml"
        sample_url = (self.root / "data" / "sample").as_uri()
        text = self.params.read_text(encoding="utf-8")
        text, count = re.subn(r"(?m)^(  base_url: ).*$", rf"\g<1>{sample_url}", text)
        assert count == 1
        self.params.write_text(text, encoding="utf-8")
        self.run("git", "init", "--quiet")

    def run(self, *command: str) -> str:
        """A command in the bake with its venv first on PATH (the stages call the CLI by name)."""
        env = {
            "PATH": f"{self.project.bin}{os.pathsep}{clean_environment()['PATH']}",
            "DVC_NO_ANALYTICS": "1",
            f"{self.project.package.upper()}_LOGGING__FILE": "",
        }
        result = self.project.run(*command, **env)
        return result.stdout + result.stderr

    def dvc(self, *args: str) -> str:
        return self.run(str(self.project.bin / "dvc"), *args)

    def repro(self) -> str:
        return self.run("make", "repro", f"POETRY={tool('poetry')}")

    def set_param(self, section: str, name: str, value: object) -> None:
        text = self.params.read_text(encoding="utf-8")
        pattern = rf"(?ms)^({section}:\n(?:  .*\n)*?  {name}: ).*?$"
        text, count = re.subn(pattern, rf"\g<1>{value}", text)
        assert count == 1, (section, name)
        self.params.write_text(text, encoding="utf-8")

    def outputs(self) -> dict[str, str]:
        """sha256 of every output file of the pipeline (in dvc.lock), metrics included."""
        lock = yaml.safe_load((self.root / "dvc.lock").read_text(encoding="utf-8"))
        paths = [out["path"] for stage in lock["stages"].values() for out in stage.get("outs", [])]
        files = []
        for relative in paths:
            path = self.root / relative
            files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        return {
            str(path.relative_to(self.root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in files
        }


def test_own_params_file_tests_pass(dvc_project: InstalledProject):
    """The bake's own tests of the option's code (settings read from params.yaml). Its ruff, black
    and mypy run in the grid (test_combinations); the rest of its suite is any bake's."""
    result = dvc_project.run(
        str(dvc_project.bin / "pytest"), "-q", "-p", "no:cacheprovider", "tests/test_params_file.py"
    )
    assert re.search(r"\d+ passed", result.stdout), result.stdout[-2000:]


@pytest.fixture(scope="module")
def pipeline(dvc_project: InstalledProject) -> Pipeline:
    pipeline = Pipeline(dvc_project)
    output = pipeline.repro()
    for stage in STAGES:
        assert f"Running stage '{stage}'" in output, output[-3000:]
    return pipeline


def test_repro_runs_every_stage_once_with_the_parameters_file(pipeline: Pipeline):
    root = pipeline.root
    for month in ("2023-01", "2023-02", "2024-01"):
        name = f"green_tripdata_{month}.parquet"
        assert (root / "data" / "raw" / name).read_bytes() == (
            root / "data" / "sample" / name
        ).read_bytes()
    metrics = json.loads((root / "models" / "metrics.json").read_text(encoding="utf-8"))
    evaluation = json.loads((root / "reports" / "evaluation.json").read_text(encoding="utf-8"))
    assert evaluation["version"] == metrics["version"] == 1
    assert evaluation["rmse"] == pytest.approx(metrics["rmse"])
    lock = yaml.safe_load((root / "dvc.lock").read_text(encoding="utf-8"))
    assert set(lock["stages"]) == set(STAGES)
    assert lock["stages"]["train"]["params"]["params.yaml"]["training"]["n_estimators"] == 150
    drift = next((root / "reports").glob("drift_*.json"))
    assert "drift_detected" in json.loads(drift.read_text(encoding="utf-8"))
    assert "Data and pipelines are up to date" in pipeline.repro()


def test_a_changed_parameter_reruns_only_the_stages_after_it(pipeline: Pipeline):
    pipeline.set_param("training", "n_estimators", 60)
    output = pipeline.repro()
    assert "Stage 'data' didn't change, skipping" in output, output[-3000:]
    for stage in ("train", "evaluate", "monitor"):
        assert f"Running stage '{stage}'" in output
    # The registry persists between runs: the new model is version 2 beside version 1, and each
    # version's run record (vNNNN/run_record.json) holds the parameters it was trained with.
    home = pipeline.root / "models" / pipeline.project.root.name
    versions = json.loads((home / "registry.json").read_text(encoding="utf-8"))["versions"]
    assert [
        (v["version"], file_registry_record(home, v["version"])["params"]["n_estimators"])
        for v in versions
    ] == [(1, 150), (2, 60)]
    assert "Data and pipelines are up to date" in pipeline.repro()


def test_push_then_pull_restores_every_output_from_a_local_remote(
    pipeline: Pipeline, tmp_path: Path
):
    remote = tmp_path / "remote"
    pipeline.dvc("remote", "add", "--default", "local", str(remote))
    pipeline.dvc("push")
    assert any(path.is_file() for path in remote.rglob("*"))
    before = pipeline.outputs()
    root = pipeline.root
    cached = [
        root / "data" / "raw",
        root / "models" / pipeline.project.root.name,
        root / "models" / "model_card.md",
        *(root / "reports").glob("drift_*.html"),
        root / ".dvc" / "cache",
    ]
    assert all(path.exists() for path in cached)
    for path in cached:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    pipeline.dvc("pull")
    assert pipeline.outputs() == before
    assert "Data and pipelines are up to date" in pipeline.dvc("status")
