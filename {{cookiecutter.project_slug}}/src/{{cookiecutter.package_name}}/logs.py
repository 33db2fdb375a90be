"""Configure loguru for the process: stderr for people, a rotating file, JSON lines on demand."""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING

from loguru import logger

from .config import LoggingSettings

if TYPE_CHECKING:  # loguru's record type exists for type checkers only
    from loguru import Record

CONSOLE_FORMAT = (
    "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <8} | {name}:{function}:{line} - {message}"
)


# The user-info part of a URI (``scheme://user:password@``), as in a tracking server's address.
URI_CREDENTIALS = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@")


def strip_credentials(text: str) -> str:
    """``http://user:secret@host`` -> ``http://***@host``, wherever a URI appears in ``text``."""
    return URI_CREDENTIALS.sub(r"\g<scheme>***@", text)


def _without_credentials(record: Record) -> None:
    """Patches every record, so no sink ever writes a password found in a URI."""
    if "://" in record["message"]:
        record["message"] = strip_credentials(record["message"])


def _to_current_stderr(message: str) -> None:
    """Look sys.stderr up at each message, so a replaced stream (a test runner's) is followed."""
    sys.stderr.write(message)


def setup_logging(settings: LoggingSettings) -> None:
    """Replace every sink with the configured ones; calling it again reconfigures."""
    logger.remove()
    logger.configure(patcher=_without_credentials)
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
        settings.file.parent.mkdir(parents=True, exist_ok=True)
        logger.add(
            settings.file,
            level=settings.level,
            serialize=settings.json_lines,
            rotation=settings.rotation,
            retention=settings.retention,
            diagnose=False,
        )
