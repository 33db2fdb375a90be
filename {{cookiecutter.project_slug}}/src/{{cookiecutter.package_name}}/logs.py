"""Configure loguru for the process: stderr for people, a rotating file, JSON lines on demand."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from loguru import logger

from .config import LoggingSettings

if TYPE_CHECKING:
    from loguru import Record

CONSOLE_FORMAT = (
    "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <8} | {name}:{function}:{line} - {message}"
)
# Control characters (C0 but tab, DEL, C1) written as escapes: a value from outside (a request's
# path, a header, a file name) can then neither start a forged log line (CR, LF) nor drive the
# reader's terminal (ANSI ESC sequences).
CONTROL_ESCAPES = {
    code: f"\\x{code:02x}" for code in [*range(0x20), *range(0x7F, 0xA0)] if code != 0x09
}
CONTROL_ESCAPES.update({0x0A: "\\n", 0x0D: "\\r"})


def escape_control_characters(text: str) -> str:
    return text.translate(CONTROL_ESCAPES)


def _escape_record(record: Record) -> None:
    """Loguru patcher: every message and string context value stays on one printable line."""
    record["message"] = escape_control_characters(record["message"])
    for key, value in record["extra"].items():
        if isinstance(value, str):
            record["extra"][key] = escape_control_characters(value)


# The user-info part of a URI (``scheme://{user}:{password}@``), as in a tracking server's address.
URI_CREDENTIALS = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@")


def strip_credentials(text: str) -> str:
    """``http://{user}:{password}@host`` -> ``http://***@host``, wherever a URI is in ``text``."""
    return URI_CREDENTIALS.sub(r"\g<scheme>***@", text)


def _without_credentials(record: Record) -> None:
    """Patches every record, so no sink ever writes a password found in a URI."""
    if "://" in record["message"]:
        record["message"] = strip_credentials(record["message"])


def _patch_record(record: Record) -> None:
    """The one loguru patcher: credentials out first, then control characters escaped."""
    _without_credentials(record)
    _escape_record(record)


def _to_current_stderr(message: str) -> None:
    """Look sys.stderr up at each message, so a replaced stream (a test runner's) is followed."""
    sys.stderr.write(message)


def log_file_of_this_process(file: Path) -> Path:
    """``logs/app.log`` -> ``logs/app.<pid>.log``: processes that each rotate their own file
    never rename a file from under another one, or overwrite its lines."""
    return file.with_name(f"{file.stem}.{os.getpid()}{file.suffix}")


def setup_logging(settings: LoggingSettings) -> None:
    """Replace every sink with the configured ones; calling it again reconfigures."""
    logger.remove()
    logger.configure(patcher=_patch_record)
    logger.add(
        _to_current_stderr,
        level=settings.level,
        serialize=settings.json_lines,
        backtrace=False,
        # Variable values in tracebacks could print a secret (a tracking URI with a password).
        diagnose=False,
        format=CONSOLE_FORMAT,
    )
    if settings.file is not None:
        file = settings.file
        if settings.file_per_process:
            file = log_file_of_this_process(file)
        file.parent.mkdir(parents=True, exist_ok=True)
        logger.add(
            file,
            level=settings.level,
            serialize=settings.json_lines,
            rotation=settings.rotation,
            retention=settings.retention,
            diagnose=False,
            delay=True,  # no empty file from a process that is reconfigured before it logs
        )
