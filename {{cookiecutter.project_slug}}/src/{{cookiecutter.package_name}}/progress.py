"""Progress bars for long jobs (downloads, months, tuning trials, batch prediction).

Shown only to a person: on a terminal (stderr is a TTY) and without ``--quiet``. In CI, in a
container's log or under a scheduler there is nothing to watch, and redrawn bars would fill the log
with control characters, so the jobs then run with no bar at all. The logs say what happened either
way; a bar only says how far along a job is.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class _Switch:
    """Whether the user asked for silence (``--quiet``); the CLI sets it once per command."""

    quiet = False


def set_quiet(quiet: bool) -> None:
    _Switch.quiet = quiet


def showing() -> bool:
    """Draw bars only for a person at a terminal who did not ask for quiet."""
    return not _Switch.quiet and sys.stderr.isatty()


@contextmanager
def progress_bar(description: str, total: float | None) -> Iterator[Callable[[float], None]]:
    """A bar for ``total`` units; yields ``advance(units)``, which does nothing when not shown."""
    if not showing():
        yield lambda _units: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    # On stderr, like the logs: stdout stays the command's result (JSON, paths) for scripts.
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda units: progress.advance(task, units)


def track(items: Iterable[Any], description: str, total: int | None = None) -> Iterator[Any]:
    """``items`` one by one, advancing a bar after each.

    Typed with ``Any``, not a type variable: 3.12+ bakes' ruff wants PEP 695 syntax, 3.11 has none.
    """
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with progress_bar(description, total) as advance:
        for item in items:
            yield item
            advance(1)
