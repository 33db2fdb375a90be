"""Real services for the team-server tests and benchmarks: PostgreSQL and an MLflow server.

PostgreSQL comes from the distribution's packages (``.ci/setup-postgres.sh`` installs them on a CI
machine). ``initdb`` refuses to run as root, so as root the cluster's folder is handed to the
``postgres`` user and every PostgreSQL tool runs as that user. Each service listens on a free port
of 127.0.0.1 and is stopped by its own pid (or ``pg_ctl stop``) at the end, never by name.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from .baking import InstalledProject, clean_environment, tool

PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
PG_USER = "postgres"
STARTUP_SECONDS = 300
# How long the MLflow server's process group gets between SIGTERM and SIGKILL at teardown.
SERVER_GRACE_SECONDS = 5


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def postgres_bin() -> Path:
    """The newest installed PostgreSQL's binaries (Debian keeps them off PATH)."""
    found = sorted(glob.glob(PG_BIN_GLOB), key=lambda path: int(Path(path).parent.name))
    if not found:
        raise FileNotFoundError(
            "PostgreSQL is not installed: run .ci/setup-postgres.sh (apt-get install postgresql)"
        )
    return Path(found[-1])


def as_postgres(command: list[str]) -> list[str]:
    """Run as the ``postgres`` user when we are root (initdb and postgres refuse root)."""
    return ["runuser", "-u", PG_USER, "--", *command] if os.geteuid() == 0 else command


def check(command: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result


@dataclass
class Postgres:
    """A throwaway cluster: user ``postgres`` with trust auth, on 127.0.0.1 only."""

    folder: Path
    port: int
    bin: Path

    def url(self, database: str) -> str:
        # SQLAlchemy 2.1 reads postgresql:// as psycopg 3 (in the bake's `postgres` group).
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str, database: str = "postgres") -> str:
        """One statement through psql; the rows as text, one per line, fields joined by '|'."""
        command = [
            str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER,
            "-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-c", statement,
        ]  # fmt: skip
        return check(command, timeout=60).stdout.strip()

    def create_database(self, name: str) -> str:
        self.sql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        data = str(self.folder / "data")
        subprocess.run(
            as_postgres([str(self.bin / "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop"]),
            capture_output=True,
            check=False,
            timeout=60,
        )


@contextmanager
def postgres(folder: Path) -> Iterator[Postgres]:
    """initdb into ``folder`` and start the cluster on a free port; stopped on exit.

    The postgres user must reach ``folder`` through its parents: not below pytest's temporary
    root, which every pytest session of root resets to 0700 (``cluster_folder`` is in /tmp).
    """
    binaries = postgres_bin()
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(folder, PG_USER, PG_USER)
    data = folder / "data"
    check(as_postgres([str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", PG_USER]))
    cluster = Postgres(folder, free_port(), binaries)
    options = f"-p {cluster.port} -k {folder} -c listen_addresses=127.0.0.1"
    log = str(folder / "pg.log")
    start = [str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", log, "-w", "start"]
    check(as_postgres(start), timeout=STARTUP_SECONDS)
    try:
        yield cluster
    finally:
        cluster.stop()


@dataclass
class MlflowServer:
    process: subprocess.Popen
    url: str
    log: Path
    artifacts: Path

    def stop(self) -> None:
        """Stop make, the server and every worker it started: the session's process group.

        MLflow 3's job runner leaves huey consumers that ignore SIGTERM, so the group gets SIGKILL
        once the server has had its chance to shut down. The group is never empty before then
        (the consumers stay), so the chance is short: the server itself stops within a second or
        two, and a longer grace was 20 s of every session's teardown.
        """
        group = self.process.pid
        signal_group(group, signal.SIGTERM)
        deadline = time.monotonic() + SERVER_GRACE_SECONDS
        while group_alive(group) and time.monotonic() < deadline:
            self.process.poll()
            time.sleep(0.5)
        signal_group(group, signal.SIGKILL)
        self.process.wait(timeout=30)


def signal_group(group: int, number: int) -> None:
    with suppress(ProcessLookupError):
        os.killpg(group, number)


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def wait_for_http(url: str, process: subprocess.Popen, log: Path) -> None:
    """Until ``url`` answers 200; fails with the process's log if it exits or takes too long."""
    deadline = time.monotonic() + STARTUP_SECONDS
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args} exited {process.returncode}:\n{log.read_text()}")
        try:
            with opener.open(url, timeout=5) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {STARTUP_SECONDS} s:\n{log.read_text()}")


@contextmanager
def mlflow_server(
    project: InstalledProject, backend_store_uri: str, folder: Path
) -> Iterator[MlflowServer]:
    """The bake's own `make mlflow-server`: proxied artifacts into ``folder/artifacts``."""
    port = free_port()
    artifacts, log = folder / "artifacts", folder / "server.log"
    command = [
        "make", "mlflow-server", f"POETRY={tool('poetry')}",
        f"MLFLOW_BACKEND_STORE_URI={backend_store_uri}",
        f"MLFLOW_ARTIFACTS_DESTINATION={artifacts}",
        # One worker: uvicorn's supervisor restarts workers that start slowly on a busy machine.
        f"MLFLOW_PORT={port}", "MLFLOW_SERVER_ARGS=--workers 1",
    ]  # fmt: skip
    with log.open("w") as sink:
        # Its own session: make, poetry, mlflow and the server's workers stop together by group.
        process = subprocess.Popen(
            command,
            cwd=project.root,
            env=clean_environment(),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = MlflowServer(process, f"http://127.0.0.1:{port}", log, artifacts)
    try:
        wait_for_http(f"{server.url}/health", process, log)
        yield server
    finally:
        server.stop()


@contextmanager
def cluster_folder() -> Iterator[Path]:
    """A folder for a cluster directly in the system's temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="mlops-postgres-") as folder:
        yield Path(folder)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Postgres]:
    """One PostgreSQL cluster for the session; each test creates the databases it needs."""
    with cluster_folder() as folder, postgres(folder) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def team_server(
    default_project: InstalledProject, postgres_cluster: Postgres, tmp_path_factory
) -> Iterator[MlflowServer]:
    """One MLflow server for the session, on PostgreSQL, run by the default bake's make target."""
    backend = postgres_cluster.create_database("mlflow")
    folder = tmp_path_factory.mktemp("mlflow-server")
    with mlflow_server(default_project, backend, folder) as server:
        yield server
