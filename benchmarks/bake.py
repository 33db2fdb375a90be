"""The default bake the benchmarks measure, kept in ``build/bench/`` between runs.

Baking and installing take minutes (Poetry resolves and installs the project's dependencies), so an
installed bake is reused; ``--rebake`` throws it away to measure the template as it is now.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from cookiecutter.main import cookiecutter

from tests.baking import TEMPLATE_ROOT, InstalledProject, install

BENCH_DIR = TEMPLATE_ROOT / "build" / "bench"
BAKE_DIR = BENCH_DIR / "bake"
SLUG = "trip-duration"


def default_project(rebake: bool = False) -> InstalledProject:
    """The installed default bake, reused when a previous run left a working one."""
    root = BAKE_DIR / SLUG
    if rebake:
        shutil.rmtree(BAKE_DIR, ignore_errors=True)
    if (root / ".venv" / "bin" / SLUG).exists():
        print(f"reusing the installed bake in {root} (--rebake to bake afresh)", flush=True)
        return InstalledProject(root=root, answers={})
    shutil.rmtree(BAKE_DIR, ignore_errors=True)
    BAKE_DIR.mkdir(parents=True)
    print(f"baking and installing the default project into {BAKE_DIR} (minutes)", flush=True)
    baked = Path(cookiecutter(str(TEMPLATE_ROOT), no_input=True, output_dir=str(BAKE_DIR)))
    return install(baked, {})
