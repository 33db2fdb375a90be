"""Start ``serve`` as a real uvicorn process on 127.0.0.1 for a test, and stop it by its pid.

The server reads its settings from its environment (isolated below the test's folder), logs into
``root/logs`` and writes its output to ``root/server.out``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from {{ cookiecutter.package_name }}.config import ENV_PREFIX

from .helpers import isolated_environment

CAP_SECONDS = 60  # a client gives up after this: far beyond every deadline of the tests


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log_dir: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)

    def connect(self) -> socket.socket:
        connection = socket.create_connection(("127.0.0.1", self.port), timeout=CAP_SECONDS)
        return connection


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    server: Server, path: str, payload: object = None, headers: dict[str, str] | None = None
) -> Answer:
    """GET, or POST ``payload`` as JSON, on a new connection; HTTP errors are answers too."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(f"{server.base}{path}", data=data, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=CAP_SECONDS) as response:
            found = {name.lower(): value for name, value in response.headers.items()}
            return Answer(response.status, found, response.read())
    except urllib.error.HTTPError as error:
        found = {name.lower(): value for name, value in error.headers.items()}
        return Answer(error.code, found, error.read())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(
    root: Path, *arguments: str, extra_env: dict[str, str] | None = None, **settings: str
) -> Server:
    """``serve`` with ``settings`` (``SERVING__MODE="shadow"``: the names after the prefix),
    logging into ``root/logs``; returns once /health answers (a model may still be missing)."""
    port = free_port()
    env = {**os.environ, **isolated_environment(root), **(extra_env or {})}
    env[f"{ENV_PREFIX}LOGGING__FILE"] = str(root / "logs" / "service.log")
    env.update({f"{ENV_PREFIX}{name.upper()}": value for name, value in settings.items()})
    command = [sys.executable, "-m", "{{ cookiecutter.package_name }}.cli", "serve"]
    with (root / "server.out").open("w") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port), *arguments],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, port, root / "logs")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError((root / "server.out").read_text(encoding="utf-8"))
        try:
            with urllib.request.urlopen(f"{server.base}/health", timeout=5):
                return server
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    server.stop()
    raise AssertionError(f"serve did not answer /health:\n{(root / 'server.out').read_text()}")
