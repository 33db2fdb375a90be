"""`serve` as a real uvicorn process on 127.0.0.1: request deadlines, log lines, several workers.

Each server is started by the test that needs it, with settings in its environment, and stopped by
its pid. Deadlines are checked by what the server does (it answers 408 and closes the connection),
never by how long it took; the clients' own timeouts are only generous caps against a hang.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import uvicorn
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.config import ENV_PREFIX

from .servers import CAP_SECONDS, Server, start_server

pytestmark = pytest.mark.slow

DEADLINE_SECONDS = "1"


def read_until_closed(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a hang raises a timeout)."""
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(
        tmp_path_factory.mktemp("serve"),
        SERVING__HEADER_TIMEOUT=DEADLINE_SECONDS,
        SERVING__BODY_TIMEOUT=DEADLINE_SECONDS,
        SERVING__KEEP_ALIVE_TIMEOUT=DEADLINE_SECONDS,
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.parametrize(
    "sent",
    [b"", b"GET /health HTTP/1.1\r\nHost: test\r\n"],
    ids=["nothing", "headers-never-finished"],
)
def test_a_client_slow_to_send_its_headers_gets_408_and_is_disconnected(
    server: Server, sent: bytes
):
    with server.connect() as connection:
        connection.sendall(sent)
        answer = read_until_closed(connection)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in answer.lower()


def test_a_body_shorter_than_its_content_length_gets_408_and_is_disconnected(server: Server):
    head = (
        b"POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Content-Length: 200\r\n\r\n"
    )
    with server.connect() as connection:
        connection.sendall(head + b'{"PULocationID": 74')
        answer = read_until_closed(connection)
    status, _, rest = answer.partition(b"\r\n")
    assert status.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in rest.lower()
    assert b"request body not received within 1 s" in rest


def test_an_idle_keep_alive_connection_is_closed_by_the_server(server: Server):
    with server.connect() as connection:
        connection.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
        answer = read_until_closed(connection)  # the answer, then the close
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.endswith(b'{"status":"ok"}')


def test_control_characters_in_a_path_cannot_forge_a_log_line(server: Server):
    forged = "2026-01-01 00:00:00.000 | INFO | forged line"
    for path in (f"/health%0a{quote(forged)}", "/health%0d%1b%5b31mred"):
        with server.connect() as connection:
            request = f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
            connection.sendall(request.encode())
            assert read_until_closed(connection).startswith(b"HTTP/1.1 404 ")
    log = server.log_dir / "service.log"
    lines: list[str] = []
    deadline = time.monotonic() + CAP_SECONDS
    while time.monotonic() < deadline and not any("red" in line for line in lines):
        lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
        time.sleep(0.1)
    assert not any(line.startswith(forged) for line in lines)
    assert any(f"GET /health\\n{forged} 404" in line for line in lines)
    assert any("GET /health\\r\\x1b[31mred 404" in line for line in lines)
    assert not any("\x1b" in line or "\r" in line for line in lines)


def test_several_workers_log_to_one_file_each(tmp_path: Path):
    server = start_server(tmp_path, "--workers", "2")
    try:
        deadline = time.monotonic() + CAP_SECONDS * 3
        while time.monotonic() < deadline:
            starts = {
                path.name
                for path in server.log_dir.glob("service*.log")
                if "serving without a model" in path.read_text(encoding="utf-8")
            }
            if len(starts) >= 2:
                break
            time.sleep(0.2)
    finally:
        server.stop()
    assert len(starts) == 2, starts  # each worker's start, each in its own file
    assert all(re.fullmatch(r"service\.\d+\.log", name) for name in starts)
    assert not (server.log_dir / "service.log").exists()  # no file shared by the processes


def test_serve_passes_its_deadlines_and_limits_to_uvicorn(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
):
    calls: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *_, **options: calls.append(options))
    monkeypatch.setenv(f"{ENV_PREFIX}SERVING__KEEP_ALIVE_TIMEOUT", "7")
    monkeypatch.setenv(f"{ENV_PREFIX}SERVING__LIMIT_CONCURRENCY", "300")
    result = CliRunner().invoke(app, ["serve"])
    flag = CliRunner().invoke(app, ["serve", "--limit-concurrency", "20"])
    assert result.exit_code == flag.exit_code == 0, result.output + flag.output
    assert calls[0]["timeout_keep_alive"] == 7
    assert calls[0]["limit_concurrency"] == 300
    assert calls[1]["limit_concurrency"] == 20
    assert str(calls[0]["http"]).endswith("serving.protocol:HeaderDeadlineProtocol")
