"""The logging set-up: one line per record whatever the input, one file per process on demand."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger

from {{ cookiecutter.package_name }}.config import LoggingSettings
from {{ cookiecutter.package_name }}.logs import escape_control_characters, setup_logging


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    """A file the set-up writes to; the sinks are removed afterwards."""
    yield tmp_path / "logs" / "app.log"
    logger.remove()


def test_control_characters_are_escaped():
    assert escape_control_characters("a\nb\rc\x1b[31md\x00e\x7f\x9b") == (
        "a\\nb\\rc\\x1b[31md\\x00e\\x7f\\x9b"
    )
    assert escape_control_characters("tab\tand ünïcode stay") == "tab\tand ünïcode stay"


def test_a_message_or_context_value_cannot_forge_a_line(log_file: Path):
    setup_logging(LoggingSettings(file=log_file))
    forged = "2026-01-01 00:00:00.000 | INFO | forged"
    with logger.contextualize(request_id="id\nINFO forged id"):
        logger.info("GET {} 404", f"/trips\n{forged}\x1b[2J")
    logger.remove()
    lines = log_file.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    assert lines[0].endswith(f"GET /trips\\n{forged}\\x1b[2J 404")


def test_a_json_line_is_escaped_too(log_file: Path):
    setup_logging(LoggingSettings(file=log_file, json_lines=True))
    logger.info("bad {}", "\x1b]0;title\x07")
    logger.remove()
    (line,) = log_file.read_text(encoding="utf-8").splitlines()
    assert "\\\\x1b]0;title\\\\x07" in line  # the escape, itself escaped by JSON


def test_a_file_per_process_is_named_after_the_pid(log_file: Path):
    setup_logging(LoggingSettings(file=log_file, file_per_process=True))
    logger.info("hello")
    logger.remove()
    assert not log_file.exists()
    own = log_file.with_name(f"app.{os.getpid()}.log")
    assert "hello" in own.read_text(encoding="utf-8")
