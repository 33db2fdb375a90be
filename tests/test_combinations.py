"""Fast tier over every combination of the feature options: each bake is clean and self-consistent.

All combinations are baked once (the refused ones must fail in the pre-gen hook and leave
nothing behind). Every valid bake is checked for leftover Jinja, parseable TOML/YAML, compilable
Python, imports of its own package that resolve, and no word of an option that is switched off.
The linters run once over all bakes: ruff finds each bake's own ``pyproject.toml``, and every bake
of the grid shares one black configuration (asserted), so one black run with that file is enough.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from cookiecutter.environment import StrictEnvironment
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter
from jinja2 import FileSystemBytecodeCache

from .baking import (
    TEMPLATE_ROOT,
    Bake,
    check_rendered_parseable_and_compiles,
    run,
    text_files,
    tool,
)
from .options import (
    COMBINATIONS,
    FEATURE_OPTIONS,
    REFUSED,
    TEMPLATE_CHOICES,
    VALID,
    pre_gen,
)
from .own_imports import own_import_problems, unused_modules

OTHER_PYTHONS = [v for v in TEMPLATE_CHOICES["python_version"] if v != "3.11"]


def name_of(answers: dict[str, str]) -> str:
    return "-".join(f"{key[:5]}={value}" for key, value in answers.items())


def word(text: str) -> str:
    """``text`` not glued to other letters or digits (underscores, dots and slashes separate)."""
    return rf"(?<![a-z0-9]){text}(?![a-z0-9])"


# (option, value that switches it off) -> patterns (case-insensitive) that must then appear in no
# file name or text file of the bake. Each pattern must also appear when the option is on, so the
# table cannot drift into checking words that never existed.
FORBIDDEN: dict[tuple[str, str], tuple[str, ...]] = {
    ("ui", "none"): ("gradio", r"(?<![\w.])/ui\b", r"\bui\.py\b"),
    ("serving", "none"): (
        "fastapi",
        "uvicorn",
        "prometheus",
        # (MLflow's `--serve-artifacts` flag is the tracking server's, not the service's)
        "(?<!--)" + word("serve"),
        r"\.serving\b",
        "ServingSettings",
        word("bench"),
        "benchmarks/",  # the service's load benchmark (docs/benchmarks.md stays: it measures more)
        "locust",
        word("httpx"),
        r"(?<![\w.])/predict\b",
        r"(?<![\w.])/health\b",
        "x-client-key",
        "model_role",
    ),
    ("experiment_tracking", "none"): (
        "mlflow",
        "tracking_uri",
        r"compose\.yaml",
        "POSTGRES_PASSWORD",
    ),
    ("hyperparameter_tuning", "none"): ("optuna", word("tune")),
    ("monitoring", "none"): ("evidently", word("monitor"), word("drift")),
    ("docker", "no"): (
        "docker",
        "podman",
        word("compose"),
        "POSTGRES_PASSWORD",
        "kubernetes",
        "kubectl",
        "kustomiz",
    ),
    ("ci", "github"): ("gitlab",),
    ("ci", "gitlab"): (r"(?<![\w.])\.github\b", "github actions"),
    ("ci", "none"): ("gitlab", r"(?<![\w.])\.github\b", "github actions"),
    ("package_manager", "uv"): ("poetry",),
    ("package_manager", "poetry"): (word("uv"),),
    ("data_versioning", "none"): ("dvc", r"params\.yaml", "pyyaml"),
}
COMPILED = {key: [re.compile(p, re.IGNORECASE) for p in pats] for key, pats in FORBIDDEN.items()}


@dataclass(frozen=True)
class Grid:
    bakes: dict[str, Bake]
    by_python: dict[str, Bake]

    def all_bakes(self) -> list[Bake]:
        return [*self.bakes.values(), *self.by_python.values()]


def isolated_config(base: Path) -> Path:
    """A cookiecutter user config that keeps replay files and clones out of the home folder."""
    base.mkdir(parents=True, exist_ok=True)
    config = base / "cookiecutter-config.yaml"
    config.write_text(
        f"cookiecutters_dir: {base / 'cookiecutters'}\nreplay_dir: {base / 'replay'}\n",
        encoding="utf-8",
    )
    return config


def bake_into(output_dir: Path, config_file: Path, answers: dict[str, str]) -> Path:
    output_dir.mkdir(parents=True)
    return Path(
        cookiecutter(
            str(TEMPLATE_ROOT),
            no_input=True,
            extra_context=answers,
            output_dir=str(output_dir),
            config_file=str(config_file),
        )
    )


def bake_job(job: tuple[Path, dict[str, str]]) -> Path:
    """One bake with its own cookiecutter config, so parallel bakes share no replay file."""
    output_dir, answers = job
    return bake_into(
        output_dir, isolated_config(output_dir.parent / f"{output_dir.name}-config"), answers
    )


def reuse_compiled_templates(directory: str) -> None:
    """Pool initializer: the bakes of a worker share the templates Jinja has already compiled.

    cookiecutter creates a new Jinja environment for every bake, so each bake of the grid would
    compile every template of the project again, about half of its time. Jinja's bytecode cache is
    keyed by template name and source checksum, so a bake renders exactly what it would without it.
    """
    create = StrictEnvironment.__init__

    def create_with_cache(self: StrictEnvironment, **kwargs: object) -> None:
        create(self, **kwargs)
        self.bytecode_cache = FileSystemBytecodeCache(directory)

    StrictEnvironment.__init__ = create_with_cache  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> Grid:
    """Bake every valid combination once, and each other Python version, on every core."""
    base = tmp_path_factory.mktemp("grid")
    compiled = tmp_path_factory.mktemp("compiled-templates")
    jobs = [(base / f"bake{index:03d}", answers) for index, answers in enumerate(VALID)]
    jobs += [(base / f"python{v}", {"python_version": v}) for v in OTHER_PYTHONS]
    with ProcessPoolExecutor(
        max_workers=os.cpu_count() or 1,
        initializer=reuse_compiled_templates,
        initargs=(str(compiled),),
    ) as pool:
        roots = list(pool.map(bake_job, jobs, chunksize=8))
    bakes = {
        name_of(answers): Bake(answers, root)
        for answers, root in zip(VALID, roots[: len(VALID)], strict=True)
    }
    by_python = {
        version: Bake({"python_version": version}, root)
        for version, root in zip(OTHER_PYTHONS, roots[len(VALID) :], strict=True)
    }
    return Grid(bakes, by_python)


def test_every_valid_combination_bakes(grid: Grid):
    expected = 1
    for option in FEATURE_OPTIONS:
        expected *= len(TEMPLATE_CHOICES[option])
    assert len(COMBINATIONS) == expected
    assert len(VALID) + len(REFUSED) == expected
    # Every combination bakes (docker without serving is the jobs' image) but the demo UI without
    # the service it is mounted on; the test below checks that those fail before writing anything.
    assert REFUSED
    assert all(answers["ui"] == "gradio" and answers["serving"] == "none" for answers in REFUSED)
    assert sorted(grid.bakes) == sorted(map(name_of, VALID))
    assert all((bake.root / "pyproject.toml").is_file() for bake in grid.bakes.values())


@pytest.mark.parametrize("answers", REFUSED, ids=name_of)
def test_refused_combination_fails_in_pre_gen_and_writes_nothing(
    tmp_path: Path, capfd, answers: dict[str, str]
):
    output_dir = tmp_path / "out"
    with pytest.raises(FailedHookException):
        bake_into(output_dir, isolated_config(tmp_path), answers)
    assert list(output_dir.iterdir()) == []
    assert pre_gen.check_combination(answers) in capfd.readouterr().err


@pytest.mark.parametrize("answers", VALID, ids=name_of)
def test_bake_is_rendered_parseable_and_compiles(grid: Grid, answers: dict[str, str]):
    check_rendered_parseable_and_compiles(grid.bakes[name_of(answers)])


def forbidden_hits(bake: Bake) -> list[str]:
    """Every mention of a switched-off option, as 'file: pattern: line'."""
    hits = []
    texts = bake.texts
    every_path = [str(p.relative_to(bake.root)) for p in sorted(bake.root.rglob("*"))]
    for (option, off_value), patterns in COMPILED.items():
        if bake.answers.get(option) != off_value:
            continue
        for pattern in patterns:
            hits += [
                f"path {path}: {pattern.pattern}" for path in every_path if pattern.search(path)
            ]
            for name, text in texts.items():
                hits += [
                    f"{name}: {pattern.pattern}: {line.strip()}"
                    for line in text.splitlines()
                    if pattern.search(line)
                ]
    return hits


@pytest.mark.parametrize("answers", VALID, ids=name_of)
def test_no_mention_of_what_is_switched_off(grid: Grid, answers: dict[str, str]):
    hits = forbidden_hits(grid.bakes[name_of(answers)])
    assert not hits, "\n".join(hits)


@pytest.mark.parametrize(("option", "off_value"), list(FORBIDDEN), ids="=".join)
def test_each_forbidden_word_exists_when_its_option_is_on(grid: Grid, option, off_value):
    """Otherwise the table would check for words that no bake ever contains."""
    on_texts = [
        "\n".join([*bake.texts, *bake.texts.values()])
        for bake in grid.bakes.values()
        if bake.answers[option] != off_value
    ]
    never_seen = [
        pattern.pattern
        for pattern in COMPILED[option, off_value]
        if not any(pattern.search(text) for text in on_texts)
    ]
    assert not never_seen


@pytest.mark.parametrize("answers", VALID, ids=name_of)
def test_own_imports_resolve_to_files_that_exist(grid: Grid, answers: dict[str, str]):
    problems = own_import_problems(grid.bakes[name_of(answers)])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("answers", VALID, ids=name_of)
def test_every_module_of_the_package_is_used(grid: Grid, answers: dict[str, str]):
    """A module only a switched-off option imported must go with it (the CLI is the entry point)."""
    assert not unused_modules(grid.bakes[name_of(answers)])


def test_ruff_is_clean_on_every_bake_with_each_bakes_own_config(grid: Grid):
    bakes = grid.all_bakes()
    # Ruff resolves the nearest pyproject.toml per file: prove it on the last bake, then lint all.
    probe = bakes[-1].source / "cli.py"
    settings = run([tool("ruff"), "check", "--show-settings", str(probe)], bakes[-1].root).stdout
    assert f'Settings path: "{bakes[-1].root / "pyproject.toml"}"' in settings
    assert "line_length = 100" in settings
    run([tool("ruff"), "check", "--no-cache", *(str(b.root) for b in bakes)], TEMPLATE_ROOT)


def black_config(bake: Bake) -> dict:
    return tomllib.loads((bake.root / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "black"
    ]


def unique_python_files(bakes: list[Bake]) -> list[str]:
    """One file per distinct content: black's verdict depends only on content and config."""
    seen: dict[str, str] = {}
    for bake in bakes:
        for path in text_files(bake.root):
            if path.suffix == ".py":
                seen.setdefault(hashlib.sha256(path.read_bytes()).hexdigest(), str(path))
    return sorted(seen.values())


def test_black_is_clean_on_every_bake(grid: Grid):
    grid_bakes = list(grid.bakes.values())
    shared = black_config(grid_bakes[0])
    assert all(black_config(bake) == shared for bake in grid_bakes)
    runs = [(grid_bakes[0], grid_bakes), *((b, [b]) for b in grid.by_python.values())]
    for config_bake, bakes in runs:
        files = unique_python_files(bakes)
        assert files
        config = str(config_bake.root / "pyproject.toml")
        # Not --quiet: on failure, black's "would reformat <file>" lines are the message.
        run([tool("black"), "--check", "--config", config, *files], TEMPLATE_ROOT)


def distinct_sources(bakes: list[Bake]) -> list[Bake]:
    """One bake per distinct package source and mypy configuration: mypy's verdict depends on
    nothing else (docker, ci and the package manager leave ``src/`` alone)."""
    chosen: dict[str, Bake] = {}
    for bake in bakes:
        digest = hashlib.sha256()
        config = tomllib.loads((bake.root / "pyproject.toml").read_text(encoding="utf-8"))
        digest.update(json.dumps(config["tool"]["mypy"], sort_keys=True).encode())
        for path in sorted(bake.source.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(bake.root)).encode() + b"\0" + path.read_bytes())
        chosen.setdefault(digest.hexdigest(), bake)
    return list(chosen.values())


def test_mypy_is_clean_on_every_distinct_package_source(grid: Grid, tmp_path: Path):
    """`make lint`'s strict mypy, with the template's typed libraries (pydantic, fastapi, typer...).

    The heavy ones (mlflow, lightgbm, optuna, evidently) are not installed here, so they are Any:
    subclassing one, and an ignore that only their types need, are allowed in this run only. The
    slow tier runs each installed bake's own `make lint` with every library present.
    """
    bakes = grid.all_bakes()
    distinct = distinct_sources(bakes)
    assert len(distinct) < len(bakes) // 4
    relaxed = ["--allow-subclassing-any", "--no-warn-unused-ignores"]
    workers = max(1, min(os.cpu_count() or 1, len(distinct)))

    def check(worker: int) -> None:
        # A cache per worker, shared by its bakes: the libraries are analysed once per worker.
        cache = tmp_path / f"mypy-cache-{worker}"
        for number, bake in enumerate(distinct[worker::workers]):
            try:
                run([tool("mypy"), "--cache-dir", str(cache), *relaxed], bake.root)
            except AssertionError as error:
                if "INTERNAL ERROR" not in str(error):
                    raise
                # mypy can crash on a cache written for a same-named module of another bake (seen
                # with the data_versioning variants of config.py): that bake gets its own cache.
                fresh = tmp_path / f"mypy-cache-{worker}-{number}"
                run([tool("mypy"), "--cache-dir", str(fresh), *relaxed], bake.root)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(check, range(workers)))


@pytest.mark.parametrize("version", OTHER_PYTHONS)
def test_python_version_sets_requires_python_and_tool_targets(grid: Grid, version: str):
    bake = grid.by_python[version]
    pyproject = tomllib.loads((bake.root / "pyproject.toml").read_text(encoding="utf-8"))
    short = "py" + version.replace(".", "")
    assert pyproject["project"]["requires-python"].startswith(f">={version}")
    assert pyproject["tool"]["ruff"]["target-version"] == short
    assert pyproject["tool"]["black"]["target-version"] == [short]
    check_rendered_parseable_and_compiles(bake)
    assert not own_import_problems(bake)
    assert not unused_modules(bake)
    assert not forbidden_hits(bake)
