"""The model store under attack and on a bad day: tampered files, crashes, concurrent trainings.

Whatever is placed where the model lives, loading never runs it; a file changed after registration
is refused in one line naming the alias, the version and the file; a killed or concurrent `train`
leaves a registry the next `train` and the service accept.
"""

from __future__ import annotations

{% if cookiecutter.experiment_tracking == "none" -%}
import json
{% endif -%}
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.config import ENV_PREFIX, Settings
{%- if cookiecutter.experiment_tracking == "none" %}
from {{ cookiecutter.package_name }}.model import MODEL_FILE
{%- endif %}
from {{ cookiecutter.package_name }}.registry import load_model, open_registry
{%- if cookiecutter.experiment_tracking == "mlflow" %}
from {{ cookiecutter.package_name }}.registry_mlflow import FLAVOR_MODEL_FILE, SHA256_TAG
{%- else %}
from {{ cookiecutter.package_name }}.registry_files import INDEX_FILE, STAGING_PREFIX, FileRegistry
{%- endif %}
from {{ cookiecutter.package_name }}.train import run_training
from {{ cookiecutter.package_name }}.versions import CHAMPION, ModelLoadError

from .conftest import SAMPLE_DIR, isolated_environment, isolated_settings

pytestmark = pytest.mark.slow
runner = CliRunner()
MODEL_ERROR_EXIT_CODE = 6


class Bomb:
    """Unpickling this creates the marker file: proof that a loader ran code from a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


def stored_model_file(settings: Settings, version: int) -> Path:
    """Where the registry keeps a version's model file on disk."""
{%- if cookiecutter.experiment_tracking == "mlflow" %}
    from urllib.parse import urlparse  # noqa: PLC0415

    import mlflow  # noqa: PLC0415

    from {{ cookiecutter.package_name }}.tracking import client_for  # noqa: PLC0415

    client = client_for(settings.registry)
    source = client.get_model_version(settings.training.model_name, str(version)).source
    logged = mlflow.get_logged_model(source.removeprefix("models:/"))
    return Path(urlparse(logged.artifact_location).path) / FLAVOR_MODEL_FILE
{%- else %}
    registry = FileRegistry(settings.registry.models_dir, settings.training.model_name)
    return registry.version_dir(version) / MODEL_FILE
{%- endif %}


def record_checksum(settings: Settings, version: int, path: Path, digest: str) -> None:
    """Forge the checksum recorded at registration too, as an attacker with the store could."""
{%- if cookiecutter.experiment_tracking == "mlflow" %}
    from {{ cookiecutter.package_name }}.tracking import client_for  # noqa: PLC0415

    client_for(settings.registry).set_model_version_tag(
        settings.training.model_name, str(version), SHA256_TAG + path.name, digest
    )
{%- else %}
    index_file = settings.registry.models_dir / settings.training.model_name / INDEX_FILE
    index = json.loads(index_file.read_text(encoding="utf-8"))
    index["versions"][version - 1]["sha256"][path.name] = digest
    index_file.write_text(json.dumps(index), encoding="utf-8")
{%- endif %}


@pytest.fixture
def champion(settings: Settings) -> tuple[Settings, Path]:
    """A fresh registry with one champion (version 1), and its model file."""
    run_training(settings)
    return settings, stored_model_file(settings, 1)


@pytest.mark.parametrize("forged_checksum", [False, True], ids=["as placed", "checksum forged"])
def test_a_pickle_bomb_where_the_model_lives_is_never_executed(
    champion: tuple[Settings, Path], tmp_path: Path, forged_checksum: bool
):
    settings, model_file = champion
    marker = tmp_path / "marker"
    bomb = pickle.dumps(Bomb(marker))
    model_file.write_bytes(bomb)
    if forged_checksum:
        import hashlib  # noqa: PLC0415

        record_checksum(settings, 1, model_file, hashlib.sha256(bomb).hexdigest())
    with pytest.raises(ModelLoadError) as raised:
        load_model(settings)
    assert not marker.exists()
    message = str(raised.value)
    assert f"{CHAMPION!r} (version 1)" in message
    assert model_file.name in message
    assert ("sha256" in message) is not forged_checksum


def test_a_one_byte_change_is_refused(champion: tuple[Settings, Path]):
    settings, model_file = champion
    content = bytearray(model_file.read_bytes())
    leaf = content.index(b"leaf_value=") + len(b"leaf_value=")
    digit = next(i for i in range(leaf, len(content)) if chr(content[i]).isdigit())
    content[digit] = ord("9") if content[digit] != ord("9") else ord("1")
    model_file.write_bytes(bytes(content))
    with pytest.raises(ModelLoadError, match=r"sha256 .* differs from .* recorded at registration"):
        load_model(settings)


COMMANDS_THAT_LOAD_THE_CHAMPION = [
    ["evaluate"],
    ["predict", str(SAMPLE_DIR / "green_tripdata_2024-01.parquet"), "out.parquet"],
{%- if cookiecutter.serving == "fastapi" %}
    ["serve", "--port", "1"],  # stops before it binds
{%- endif %}
{%- if cookiecutter.monitoring == "evidently" %}
    ["monitor", "--current", "2024-01"],
{%- endif %}
]


@pytest.mark.parametrize("damage", ["truncated", "garbage", "missing"])
def test_a_broken_champion_is_one_line_and_train_replaces_it(isolated_env: Path, damage: str):
    settings = isolated_settings(isolated_env)
    run_training(settings)
    model_file = stored_model_file(settings, 1)
    if damage == "truncated":
        model_file.write_bytes(model_file.read_bytes()[:100])
    elif damage == "garbage":
        model_file.write_bytes(os.urandom(4096))
    else:
        model_file.unlink()

    for command in COMMANDS_THAT_LOAD_THE_CHAMPION:
        result = runner.invoke(app, command)
        assert result.exit_code == MODEL_ERROR_EXIT_CODE, (command, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit)
        line = result.stderr.strip().splitlines()[-1]
        assert line.startswith("error: model 'champion' (version 1) cannot be loaded:"), line
        assert model_file.name in line

    trained = runner.invoke(app, ["train"])
    assert trained.exit_code == 0, trained.output
    assert "cannot be loaded" in trained.stderr  # the warning
    _, version = load_model(settings)
    assert version.version == 2


def test_a_broken_index_is_one_line(isolated_env: Path):
{%- if cookiecutter.experiment_tracking == "mlflow" %}
    (isolated_env / "mlflow.db").write_bytes(b"not a database" * 100)
{%- else %}
    index = isolated_env / "models" / "{{ cookiecutter.project_slug }}" / INDEX_FILE
    index.parent.mkdir(parents=True)
    index.write_text("{not json", encoding="utf-8")
{%- endif %}
    for command in (["evaluate"], ["train"]):
        result = runner.invoke(app, command)
        assert result.exit_code == MODEL_ERROR_EXIT_CODE, (command, result.output)
        assert result.stderr.strip().splitlines()[-1].startswith("error: "), result.stderr


# A `train` that waits, just before it opens the registry, until all of them are there: the
# comparisons and registrations then overlap as much as they can.
ALIGNED_CHILD = """
import os, sys, time
from pathlib import Path

from {{ cookiecutter.package_name }} import train

barrier, count = Path(sys.argv[1]), int(sys.argv[2])
original = train.open_registry


def aligned(settings):
    (barrier / str(os.getpid())).touch()
    deadline = time.monotonic() + 300
    while len(list(barrier.iterdir())) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return original(settings)


train.open_registry = aligned
from {{ cookiecutter.package_name }}.cli import app

app(["train"])
"""


def test_concurrent_trainings_lose_no_version_and_promote_the_best(tmp_path: Path):
    """Four `train` processes at once, of different quality: all registered, the best champion."""
    environment = {**os.environ, **isolated_environment(tmp_path)}
    environment[f"{ENV_PREFIX}TRAINING__PROMOTION_MARGIN"] = "0"
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    trees = (3, 150, 10, 40)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", ALIGNED_CHILD, str(barrier), str(len(trees))],
            cwd=tmp_path,
            env={**environment, f"{ENV_PREFIX}TRAINING__N_ESTIMATORS": str(count)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for count in trees
    ]
    outputs = [process.communicate(timeout=600) for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0, 0], outputs
    registry = open_registry(isolated_settings(tmp_path))
    versions = registry.versions()
    assert sorted(version.version for version in versions) == [1, 2, 3, 4]
    best = min(versions, key=lambda version: version.metrics["rmse"])
    assert registry.get_version(CHAMPION).version == best.version


KILL_CHILD = """
import os, signal, sys, importlib
from functools import wraps

module, owner, name, when = sys.argv[1:5]
target = importlib.import_module(module, "{{ cookiecutter.package_name }}")
if owner:
    target = getattr(target, owner)
original = getattr(target, name)


@wraps(original)
def killed(*args, **kwargs):
    if when == "after":
        original(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)


setattr(target, name, killed)
from {{ cookiecutter.package_name }}.cli import app

app(["train"])
"""

# Where a training process dies: (module, class or "", function, before or after it runs);
# a module that starts with a dot is in this package.
KILL_POINTS = {
{%- if cookiecutter.experiment_tracking == "mlflow" %}
    "while logging the model": ("mlflow.lightgbm", "", "log_model", "after"),
    "after registering, before the checksums": ("mlflow", "", "register_model", "after"),
    "before the alias": (".registry_mlflow", "MlflowRegistry", "set_alias", "before"),
{%- else %}
    "while writing the version": (".model", "TripDurationModel", "save", "after"),
    "before the index": (".registry_files", "FileRegistry", "_write_index", "before"),
    "before the alias": (".registry_files", "FileRegistry", "set_alias", "before"),
{%- endif %}
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_killed_training_leaves_a_registry_the_next_one_accepts(tmp_path: Path, point: str):
    settings = isolated_settings(tmp_path)
    run_training(settings)  # version 1, the champion
    environment = {**os.environ, **isolated_environment(tmp_path)}
    killed = subprocess.run(
        [sys.executable, "-c", KILL_CHILD, *KILL_POINTS[point]],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert killed.returncode == -9, killed.stderr

    # Worse than the champion on purpose: the champion must survive, the new version be registered.
    worse = settings.training.model_copy(update={"n_estimators": 3})
    result = run_training(settings.model_copy(update={"training": worse}))
    assert not result.decision.promote
    registry = open_registry(settings)
    numbers = [version.version for version in registry.versions()]
    assert numbers == sorted(set(numbers))
    assert numbers[0] == 1
    assert result.version.version in numbers
    _, champion = load_model(settings)  # what every command that uses the champion does first
    assert champion.version == 1
    registry.load(result.version.version)
{%- if cookiecutter.experiment_tracking == "none" %}
    home = settings.registry.models_dir / settings.training.model_name
    assert not [path for path in home.iterdir() if path.name.startswith(STAGING_PREFIX)]
    assert sorted(path.name for path in home.glob("v*")) == [f"v{n:04d}" for n in numbers]
{%- endif %}
