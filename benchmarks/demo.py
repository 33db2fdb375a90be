"""Cold `make demo` per package manager: bake, install with empty download caches, train, serve.

Each manager runs the demo in its own process (``scripts.demo --cold``), one after the other, so
the figures are side by side on the same machine and load. The time includes resolving the lock,
downloading every wheel, installing, training on the bundled sample and one served prediction.
"""

from __future__ import annotations

import subprocess
import sys
import time

from tests.baking import TEMPLATE_ROOT

MANAGERS = ("poetry", "uv")


def measure() -> dict[str, float]:
    """Seconds of a cold demo for each package manager (a failed demo raises with its output)."""
    seconds = {}
    for manager in MANAGERS:
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "scripts.demo", "--package-manager", manager, "--cold"],
            cwd=TEMPLATE_ROOT,
            check=True,
        )
        seconds[manager] = time.monotonic() - started
    return seconds


def table(seconds: dict[str, float]) -> str:
    rows = [f"| {manager} | {value:.0f} s |" for manager, value in seconds.items()]
    return "\n".join(["| Package manager | Cold `make demo` |", "|---|---|", *rows])
