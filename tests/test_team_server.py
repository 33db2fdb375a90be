"""Slow tier: a team on one MLflow server with a PostgreSQL backend store and proxied artifacts.

The session's PostgreSQL cluster and the MLflow server that the default bake's `make mlflow-server`
starts on it (``tests/services.py``) play the team's shared server. Every team member works in a
folder of their own with nothing but ``MLFLOW_TRACKING_URI`` pointing at the server: no shared
filesystem, no local store. Each test registers its own model name, so the tests do not depend on
each other's versions. Parallel tuning uses a database of the same cluster as Optuna's storage.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .baking import InstalledProject, clean_environment
from .services import MlflowServer, Postgres, free_port, wait_for_http

pytestmark = pytest.mark.slow

DRIFT_EXIT_CODE = 4
# Small searches with a heartbeat of one second, so that a dead worker is noticed within seconds.
SMALL_SEARCH = {"MAX_ESTIMATORS": "60", "EARLY_STOPPING_ROUNDS": "10", "HEARTBEAT_SECONDS": "1"}


class Member:
    """One person of the team: an empty folder of their own, and the shared server's URI."""

    def __init__(self, project: InstalledProject, server: MlflowServer, folder: Path, model: str):
        self.project, self.folder = project, folder
        folder.mkdir(parents=True)
        prefix = f"{project.package.upper()}_"
        self.prefix = prefix
        self.env = {
            "MLFLOW_TRACKING_URI": server.url,
            f"{prefix}DATA__DATA_DIR": str(project.root / "data" / "sample"),
            f"{prefix}DATA__ZONE_LOOKUP": str(project.root / "data" / "taxi_zone_lookup.csv"),
            f"{prefix}DATA__QUARANTINE_DIR": str(folder / "quarantine"),
            f"{prefix}REGISTRY__MODELS_DIR": str(folder / "models"),
            f"{prefix}TRAINING__PARAMS_FILE": str(folder / "best_params.json"),
            f"{prefix}TRAINING__MODEL_NAME": model,
            f"{prefix}MONITORING__REPORTS_DIR": str(folder / "reports"),
            f"{prefix}LOGGING__FILE": "",
        }

    def tuning(self, storage: str, **settings: str) -> Member:
        self.env[f"{self.prefix}TUNING__STORAGE"] = storage
        self.env.update({f"{self.prefix}TUNING__{key}": value for key, value in settings.items()})
        return self

    def command(self, *args: str) -> list[str]:
        return [str(self.project.bin / self.project.root.name), *args]

    def start(self, *args: str) -> subprocess.Popen:
        """A command in the background, in its own session; its output goes to files (`output`)."""
        with (self.folder / "out.log").open("w") as out, (self.folder / "err.log").open("w") as err:
            return subprocess.Popen(
                self.command(*args),
                cwd=self.folder,
                env=clean_environment(**self.env),
                stdout=out,
                stderr=err,
                start_new_session=True,
            )

    def output(self) -> tuple[str, str]:
        """What the last background command wrote to stdout and stderr."""
        return (self.folder / "out.log").read_text(), (self.folder / "err.log").read_text()

    def attempt(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            cwd=self.folder,
            env=clean_environment(**self.env),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )

    def succeed(self, *args: str) -> str:
        result = self.attempt(*args)
        assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr[-4000:]}"
        return result.stdout

    def has_local_store(self) -> bool:
        return any((self.folder / name).exists() for name in ("mlflow.db", "mlartifacts", "mlruns"))

    def finish(self, process: subprocess.Popen, timeout: float = 900) -> tuple[str, str]:
        """Wait for a background command (killed with its group if it overruns)."""
        try:
            process.wait(timeout=timeout)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=60)
        return self.output()


def first_json(text: str) -> dict:
    return json.loads(text[text.index("{") : text.rindex("}") + 1])


def rows(cluster: Postgres, database: str, statement: str) -> list[list[str]]:
    output = cluster.sql(statement, database)
    return [line.split("|") for line in output.splitlines()] if output else []


def get_json(url: str) -> tuple[int, dict]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def team(default_project: InstalledProject, team_server: MlflowServer, tmp_path: Path):
    """Members by name, each with an empty folder below this test's temporary folder."""

    def member(name: str, model: str) -> Member:
        return Member(default_project, team_server, tmp_path / name, model)

    return member


def test_two_trains_share_one_registry_on_postgres_and_the_service_loads_over_http(
    team, team_server: MlflowServer, postgres_cluster: Postgres
):
    model = "team-gate"
    alice, bob, carol = team("alice", model), team("bob", model), team("carol", model)

    assert "no champion yet" in alice.succeed("train")
    second = bob.succeed("train")
    # Same data, settings and seed: the same model, which does not beat itself.
    assert "kept as challenger" in second and first_json(second)["version"] == 2

    versions = rows(
        postgres_cluster,
        "mlflow",
        "SELECT v.version, v.source, v.storage_location, r.artifact_uri FROM model_versions v "
        f"JOIN runs r ON r.run_uuid = v.run_id WHERE v.name = '{model}' ORDER BY v.version",
    )
    assert [row[0] for row in versions] == ["1", "2"]
    for _, source, storage, run_artifacts in versions:
        # MLflow 3 registers a logged model (models:/m-...); its files and the run's live behind
        # the server's artifact proxy, never at a path of the machine that trained.
        assert source.startswith(("models:/", "runs:/")), source
        assert storage.startswith("mlflow-artifacts:/"), storage
        assert run_artifacts.startswith("mlflow-artifacts:/"), run_artifacts
    aliases = rows(
        postgres_cluster,
        "mlflow",
        f"SELECT alias, version FROM registered_model_aliases WHERE name = '{model}' ORDER BY 1",
    )
    assert aliases == [["challenger", "2"], ["champion", "1"]]
    assert list(team_server.artifacts.rglob("MLmodel"))

    evaluated = first_json(carol.succeed("evaluate"))
    assert evaluated["version"] == 1
    monitored = carol.attempt("monitor", "--current", "2024-01")
    assert monitored.returncode in (0, DRIFT_EXIT_CODE), monitored.stderr[-4000:]
    summary = json.loads(Path(first_json(monitored.stdout)["json_summary"]).read_text())
    assert summary["model_version"] == 1

    dave = team("dave", model)
    port = free_port()
    service = dave.start("serve", "--port", str(port))
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", service, dave.folder / "err.log")
        status, ready = get_json(f"http://127.0.0.1:{port}/ready")
    finally:
        os.killpg(service.pid, signal.SIGTERM)
        dave.finish(service, timeout=60)
    assert status == 200, ready
    assert ready["model"] == {"name": model, "version": 1, "role": "champion"}
    for member in (alice, bob, carol, dave):
        assert not member.has_local_store(), member.folder


def test_four_trains_at_once_lose_no_version(team, postgres_cluster: Postgres):
    model = "team-race"
    members = [team(f"member{number}", model) for number in range(4)]
    running = [member.start("train") for member in members]
    outputs = [member.finish(process) for member, process in zip(members, running, strict=True)]
    for process, (stdout, stderr) in zip(running, outputs, strict=True):
        assert process.returncode == 0, f"{stdout}\n{stderr[-4000:]}"

    printed = sorted(first_json(stdout)["version"] for stdout, _ in outputs)
    assert printed == [1, 2, 3, 4]
    stored = rows(
        postgres_cluster,
        "mlflow",
        f"SELECT version FROM model_versions WHERE name = '{model}' ORDER BY version",
    )
    assert stored == [["1"], ["2"], ["3"], ["4"]]
    champion = rows(
        postgres_cluster,
        "mlflow",
        f"SELECT version FROM registered_model_aliases WHERE name = '{model}' "
        "AND alias = 'champion'",
    )
    assert champion and champion[0][0] in {"1", "2", "3", "4"}


def trials_by_worker(cluster: Postgres, database: str) -> list[list[str]]:
    """(study, number, state, worker) of every trial in Optuna's tables."""
    return rows(
        cluster,
        database,
        "SELECT s.study_name, t.number, t.state, a.value_json FROM trials t "
        "JOIN studies s ON s.study_id = t.study_id LEFT JOIN trial_user_attributes a "
        "ON a.trial_id = t.trial_id AND a.key = 'worker' ORDER BY t.number",
    )


def test_two_workers_share_one_study_on_postgres_and_train_uses_its_best(
    team, postgres_cluster: Postgres
):
    model = "team-tune"
    storage = postgres_cluster.create_database("optuna_parallel")
    erin = team("erin", model).tuning(storage, **SMALL_SEARCH)

    summary = first_json(erin.succeed("tune", "--workers", "2", "--n-trials", "6"))
    trials = trials_by_worker(postgres_cluster, "optuna_parallel")
    assert {study for study, *_ in trials} == {summary["study"]}
    states = [state for _, _, state, _ in trials]
    assert set(states) <= {"COMPLETE", "PRUNED"}
    # Both workers took trials; together they stop at the budget (one may finish a trial more).
    assert len({worker for *_, worker in trials}) == 2
    assert 6 <= len(trials) <= 7
    assert states.count("COMPLETE") == summary["completed"]
    assert states.count("PRUNED") == summary["pruned"]

    best = summary["best_params"]
    assert json.loads((erin.folder / "best_params.json").read_text()) == best
    erin.succeed("train")
    logged = dict(
        rows(
            postgres_cluster,
            "mlflow",
            "SELECT p.key, p.value FROM params p JOIN model_versions v ON v.run_id = p.run_uuid "
            f"WHERE v.name = '{model}' AND v.version = 1",
        )
    )
    for name, value in best.items():
        assert float(logged[name]) == pytest.approx(value), name


def other_worker_pid(cluster: Postgres, database: str, tune_pid: int) -> int | None:
    """The pid of the worker that `tune` spawned, once it has taken a trial."""
    # `tune` creates Optuna's tables when it starts: until then there is nothing to read.
    if cluster.sql("SELECT to_regclass('trial_user_attributes') IS NULL", database) == "t":
        return None
    for *_, worker in trials_by_worker(cluster, database):
        pid = int(json.loads(worker).rsplit(":", 1)[1]) if worker else tune_pid
        if pid != tune_pid:
            return pid
    return None


def running_trial_of(cluster: Postgres, database: str, pid: int) -> int | None:
    for _, number, state, worker in trials_by_worker(cluster, database):
        if state == "RUNNING" and worker and json.loads(worker).endswith(f":{pid}"):
            return int(number)
    return None


def trial_state(cluster: Postgres, database: str, number: int) -> str:
    return next(state for _, n, state, _ in trials_by_worker(cluster, database) if n == str(number))


def test_a_killed_worker_leaves_a_failed_trial_and_the_other_finishes_the_study(
    team, postgres_cluster: Postgres
):
    database = "optuna_killed"
    storage = postgres_cluster.create_database(database)
    # Longer fits than the other searches: more time inside a trial to be caught in.
    search = {**SMALL_SEARCH, "MAX_ESTIMATORS": "300", "EARLY_STOPPING_ROUNDS": "50"}
    frank = team("frank", "team-kill").tuning(storage, **search)
    budget = "16"

    tune = frank.start("tune", "--workers", "2", "--n-trials", budget)
    killed = None
    try:
        deadline = time.monotonic() + 600
        worker = None
        while killed is None and time.monotonic() < deadline and tune.poll() is None:
            worker = worker or other_worker_pid(postgres_cluster, database, tune.pid)
            if worker is None:
                time.sleep(0.2)
                continue
            # Frozen while the test looks: a trial it is running stays running until it dies.
            os.kill(worker, signal.SIGSTOP)
            killed = running_trial_of(postgres_cluster, database, worker)
            os.kill(worker, signal.SIGKILL if killed is not None else signal.SIGCONT)
            time.sleep(0.1)
    finally:
        _, stderr = frank.finish(tune)
    assert killed is not None, "no spawned worker was seen running a trial"
    assert tune.returncode == 0, stderr[-4000:]
    # (a bool first: pytest would otherwise diff the whole log against the phrase)
    reported = "exited with -9" in stderr
    assert reported, stderr[-4000:]

    # A member who joins later finds the dead worker's trial stale (silent for over twice the
    # heartbeat), marked failed either by the surviving worker or now; the budget is already met.
    time.sleep(2 * int(SMALL_SEARCH["HEARTBEAT_SECONDS"]) + 1)
    rejoined = first_json(frank.succeed("tune", "--n-trials", budget))
    assert rejoined["failed"] == 1

    trials = trials_by_worker(postgres_cluster, database)
    states = {int(number): state for _, number, state, _ in trials}
    assert states[killed] == "FAIL"
    assert [n for n, state in states.items() if state not in ("COMPLETE", "PRUNED")] == [killed]
    finished = len(states) - 1
    assert int(budget) <= finished <= int(budget) + 1
    assert rejoined["completed"] + rejoined["pruned"] == finished
    assert json.loads((frank.folder / "best_params.json").read_text()) == rejoined["best_params"]
