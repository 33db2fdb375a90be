"""``make bench``: bake the default project, measure training speed, accuracy, serving, demo, team.

    make bench                              # all but "year"; results in build/bench/results.md
    .venv/bin/python -m benchmarks.run --only scale accuracy --rebake
    .venv/bin/python -m benchmarks.run --only year   # 36M rows: run it alone, on an idle machine
    .venv/bin/python -m benchmarks.run --only team   # PostgreSQL, MLflow server, parallel tuning

The full months are read from ``../shared/data`` beside the main checkout (or ``--data``); without
them the scale and accuracy parts say so and are skipped. Figures depend on the machine and on what
else runs on it: they are reported, never asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import accuracy, at_scale, demo, serving, team, training
from benchmarks.bake import BENCH_DIR, default_project
from tests.baking import TEMPLATE_ROOT

PARTS = ("scale", "train", "history", "year", "accuracy", "serving", "demo", "team")
# Heavy (12 resampled months of 3M rows, about 1 GB on disk; minutes): only when asked for.
DEFAULT_PARTS = tuple(part for part in PARTS if part != "year")


def main_checkout() -> Path:
    """The repository's main working tree, also when this runs in a ``git worktree``.

    The real months sit beside the main checkout (``../shared/data``); a worktree lives elsewhere
    (``/work/wt/<branch>``), so its own parent is the wrong place to look.
    """
    try:
        common = subprocess.run(
            ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
            cwd=TEMPLATE_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return TEMPLATE_ROOT  # not a git checkout (an sdist, an exported tree)
    return Path(common).parent


DEFAULT_DATA = main_checkout().parent / "shared" / "data"


def machine() -> str:
    """nproc, CPU model, RAM, Python version and load: what the figures were measured on."""
    cpu = "unknown CPU"
    memory = "unknown RAM"
    try:
        info = Path("/proc/cpuinfo").read_text(encoding="utf-8")
        cpu = next(
            line.split(":", 1)[1].strip() for line in info.splitlines() if "model name" in line
        )
        meminfo = Path("/proc/meminfo").read_text(encoding="utf-8").splitlines()
        kib = int(next(line.split()[1] for line in meminfo if line.startswith("MemTotal")))
        memory = f"{kib / 1024**2:.1f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass  # not Linux: the rest of the description still holds
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {memory}, Python {platform.python_version()} "
        f"({platform.system()} {platform.release()}), load average {os.getloadavg()[0]:.1f} "
        "at the end of the run"
    )


def month(data: Path, name: str) -> Path:
    return data / f"green_tripdata_{name}.parquet"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Folder of real months.")
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(DEFAULT_PARTS))
    parser.add_argument("--rebake", action="store_true", help="Bake and install afresh.")
    args = parser.parse_args()
    started = time.monotonic()
    project = default_project(rebake=args.rebake)
    python = project.bin / "python"
    needed = ("2021-01", "2021-02", "2023-01", "2023-02", "2024-01")
    have_data = all(month(args.data, name).exists() for name in needed)
    sections = []

    if {"scale", "train", "history", "year", "accuracy"} & set(args.only) and not have_data:
        message = (
            f"skipped: the real months ({', '.join(needed)}) are not in {args.data}; "
            "pass --data FOLDER to measure training speed and accuracy"
        )
        print(message, flush=True)
        sections.append(f"## Training speed at scale and accuracy\n\n{message}")

    if "scale" in args.only and have_data:
        print("\n==> training speed: course baseline vs the generated pipeline", flush=True)
        big = training.ensure_month_scale(
            python, month(args.data, "2023-01"), BENCH_DIR / "green_tripdata_2023-01_3M.parquet"
        )
        results = training.measure(
            python,
            [
                (
                    "70k (2023-01 -> 2023-02)",
                    month(args.data, "2023-01"),
                    month(args.data, "2023-02"),
                ),
                ("3M (resampled 2023-01 -> 2023-02)", big, month(args.data, "2023-02")),
            ],
        )
        sections.append("## Training speed at scale\n\n" + training.table(results))
        print(sections[-1], flush=True)

    if "train" in args.only and have_data:
        print("\n==> the default `train` on 3M + 3M rows beside the course notebook", flush=True)
        result = at_scale.measure_train(python, BENCH_DIR, args.data)
        sections.append(
            "## `train` on 3M + 3M rows beside the course notebook\n\n"
            + at_scale.train_table(result)
        )
        print(sections[-1], flush=True)

    if "history" in args.only and have_data:
        print("\n==> validation RMSE with 1 and 2 months of history", flush=True)
        sections.append(
            "## Validation RMSE with 1 and 2 months of history (real months)\n\n"
            + at_scale.history_table(at_scale.measure_history(python, args.data))
        )
        print(sections[-1], flush=True)

    if "year" in args.only and have_data:
        print("\n==> a year of history: 12 x 3M rows, train and predict", flush=True)
        sections.append(
            "## A year of history: `train` and `predict` on 36M rows\n\n"
            + at_scale.year_table(at_scale.measure_year(python, BENCH_DIR, args.data))
        )
        print(sections[-1], flush=True)

    if "accuracy" in args.only and have_data:
        print("\n==> accuracy of the default model on full months", flush=True)
        sections.append(
            "## Accuracy of the default model\n\n"
            + accuracy.table(accuracy.measure(python, args.data))
        )
        print(sections[-1], flush=True)

    if "serving" in args.only:
        print("\n==> serving: the bake's own benchmark", flush=True)
        sections.append("## Serving\n\n" + serving.table(serving.measure(project)))
        print(sections[-1], flush=True)

    if "demo" in args.only:
        print("\n==> cold make demo with each package manager (empty download caches)", flush=True)
        sections.append("## Cold demo per package manager\n\n" + demo.table(demo.measure()))
        print(sections[-1], flush=True)

    if "team" in args.only:
        print("\n==> team scale: parallel tuning on PostgreSQL, train on a server", flush=True)
        # The full months make trials long enough to measure; the bundled sample otherwise.
        data = args.data if have_data else project.root / "data" / "sample"
        with tempfile.TemporaryDirectory(prefix="team-bench-") as work:
            results = team.measure(project, data, Path(work))
        sections.append(f"## Team scale (data: {data})\n\n" + team.table(results))
        print(sections[-1], flush=True)

    report = "\n\n".join(
        [
            "# Benchmark results",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; "
            f"command: `make bench`; {time.monotonic() - started:.0f} s in all.",
            *sections,
        ]
    )
    (BENCH_DIR / "results.md").write_text(report + "\n", encoding="utf-8")
    print(f"\n{report}\n\nwritten to {BENCH_DIR / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
