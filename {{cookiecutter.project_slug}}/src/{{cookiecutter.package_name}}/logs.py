"""Configure loguru for the process: stderr for people, a rotating file, JSON lines on demand."""

from __future__ import annotations

import sys

from loguru import logger

from .config import LoggingSettings

CONSOLE_FORMAT = (
    "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <8} | {name}:{function}:{line} - {message}"
)


def _to_current_stderr(message: str) -> None:
    """Look sys.stderr up at each message, so a replaced stream (a test runner's) is followed."""
    sys.stderr.write(message)


def setup_logging(settings: LoggingSettings) -> None:
    """Replace every sink with the configured ones; calling it again reconfigures."""
    logger.remove()
    logger.add(
        _to_current_stderr,
        level=settings.level,
        serialize=settings.json_lines,
        backtrace=False,
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
        )
