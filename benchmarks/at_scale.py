"""The bake's own commands at scale: `train` beside the course notebook, a year of history, and
streamed batch prediction, each as a fresh process with its wall time and peak RSS.

* ``train`` on a 3M-row month validated on a 3M-row month (both resampled from the real months,
  as ``training.make_month_scale`` does), timed as a user runs it (imports included), twice: the
  first run has no champion, the second reuses the champion's cached validation score. The course
  notebook runs on the same two files in the same run (``training.course``).
* ``train`` on 12 resampled months of 3M rows (36M), validated on the 3M month: peak RSS.
* ``predict`` over the same 12 months (36M rows) into a folder: peak RSS.
* validation RMSE with 1 and 2 months of history on the real months.

Parent side (``measure``) under the template's venv; child side (``python benchmarks/at_scale.py
cli|history ...``) under the bake's Python, so this module imports only the standard library at
the top.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENV_PREFIX = "TRIP_DURATION_"
STAGES = ("read", "clean", "features", "fit", "evaluate", "register")
YEAR = tuple(f"2022-{number:02d}" for number in range(1, 13))
# (training months, validation month): one month of history, then the same plus the month before.
HISTORY_CASES = (
    ("2023-02", "2024-01"),
    ("2023-01..2023-02", "2024-01"),
    ("2023-01", "2023-02"),
    ("2021-01,2023-01", "2023-02"),
    ("2021-01", "2021-02"),
    ("2021-01,2023-01", "2021-02"),
)


# ---------------------------------------------------------------------------------------------
# child side (the bake's Python)
# ---------------------------------------------------------------------------------------------
def run_cli(workdir: str, command: list[str], environment: dict[str, str]) -> dict[str, object]:
    """One CLI process: wall seconds, its own peak RSS, and the exit code."""
    started = time.perf_counter()
    completed = subprocess.run(
        command,
        cwd=workdir,
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    # Only this child has been waited for in this process, so the maximum is its own.
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if completed.returncode not in (0, 3):  # 3: trained fine, not promoted
        raise SystemExit(f"{command} failed:\n{completed.stdout}\n{completed.stderr}")
    return {"wall_s": wall, "peak_rss_mb": peak, "stdout": completed.stdout[-2000:]}


def history(data_dir: str) -> list[dict[str, object]]:
    """Validation RMSE of the default model trained on each case's months (real months)."""
    from loguru import logger
    from trip_duration.config import Settings
    from trip_duration.data import load_months
    from trip_duration.months import parse_months
    from trip_duration.train import fit_and_evaluate

    logger.remove()
    settings = Settings()
    scratch = Path(tempfile.mkdtemp(prefix="bench-quarantine-"))
    data = settings.data.model_copy(update={"data_dir": Path(data_dir), "quarantine_dir": scratch})
    results = []
    for train_spec, val_month in HISTORY_CASES:
        train = load_months(data, parse_months(train_spec))
        val = load_months(data, (val_month,))
        metrics = fit_and_evaluate(train, val, settings.training, settings.seed).metrics
        results.append(
            {
                "train": train_spec,
                "val": val_month,
                "train_rows": train.account.used,
                "val_rows": val.account.used,
                "rmse": metrics["rmse"],
                "mae": metrics["mae"],
            }
        )
    shutil.rmtree(scratch, ignore_errors=True)
    return results


# ---------------------------------------------------------------------------------------------
# parent side (template venv)
# ---------------------------------------------------------------------------------------------
def settings_env(cli: Path, work: Path, data_dir: Path, train: str, val: str) -> dict[str, str]:
    """Settings for a CLI run in ``work``, outside the bake: every relative default is replaced.

    The zone lookup (model card figures) is the bake's bundled one: ``cli`` is
    ``<bake>/.venv/bin/<command>``."""
    return {
        f"{ENV_PREFIX}DATA__DATA_DIR": str(data_dir),
        f"{ENV_PREFIX}DATA__ZONE_LOOKUP": str(cli.parents[2] / "data" / "taxi_zone_lookup.csv"),
        f"{ENV_PREFIX}DATA__QUARANTINE_DIR": str(work / "quarantine"),
        f"{ENV_PREFIX}DATA__TRAIN_MONTH": train,
        f"{ENV_PREFIX}DATA__VAL_MONTH": val,
        f"{ENV_PREFIX}TRAINING__PARAMS_FILE": str(work / "best_params.json"),
        f"{ENV_PREFIX}REGISTRY__MODELS_DIR": str(work / "models"),
        f"{ENV_PREFIX}REGISTRY__TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}",
        f"{ENV_PREFIX}LOGGING__FILE": "",
        f"{ENV_PREFIX}LOGGING__LEVEL": "WARNING",
    }


def cli_child(python: Path, cli: Path, work: Path, args: list[str], env: dict[str, str]):
    from benchmarks.training import child

    work.mkdir(parents=True, exist_ok=True)
    return child(
        python,
        "cli",
        str(work),
        json.dumps([str(cli), *args]),
        json.dumps(env),
        timeout=7200,
        script=__file__,
    )


def link(folder: Path, month: str, source: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"green_tripdata_{month}.parquet"
    if not target.exists():
        target.symlink_to(source.resolve())


def ensure_months(python: Path, source: Path, folder: Path, months: tuple[str, ...]) -> None:
    """One seeded 3M-row resample of ``source`` per month name (a different seed each)."""
    from benchmarks.training import child

    folder.mkdir(parents=True, exist_ok=True)
    for offset, month in enumerate(months):
        target = folder / f"green_tripdata_{month}.parquet"
        if not target.exists():
            print(f"writing {target}", flush=True)
            child(python, "make3m", str(source), str(target), str(100 + offset))


def train_run(python: Path, cli: Path, work: Path, data_dir: Path, train: str, val: str):
    record = cli_child(python, cli, work, ["train"], settings_env(cli, work, data_dir, train, val))
    summary = json.loads((work / "models" / "metrics.json").read_text(encoding="utf-8"))
    record.update(
        stages=summary["stage_seconds"], rmse=summary["rmse"], promoted=summary["promoted"]
    )
    return record


def validation_month(python: Path, bench: Path, data: Path) -> Path:
    """3M rows resampled from the real 2023-02 (another seed than the training month)."""
    from benchmarks.training import child

    feb = bench / "green_tripdata_2023-02_3M.parquet"
    if not feb.exists():
        print(f"writing {feb}", flush=True)
        child(python, "make3m", str(data / "green_tripdata_2023-02.parquet"), str(feb), "43")
    return feb


def measure_train(python: Path, bench: Path, data: Path) -> dict[str, object]:
    """Course notebook vs the default ``train`` (twice) on 3M + 3M rows, in one run."""
    from benchmarks.training import child, ensure_month_scale

    jan = ensure_month_scale(
        python, data / "green_tripdata_2023-01.parquet", bench / "green_tripdata_2023-01_3M.parquet"
    )
    feb = validation_month(python, bench, data)
    folder = bench / "scale3m"
    link(folder, "2023-01", jan)
    link(folder, "2023-02", feb)
    cli = python.parent / "trip-duration"
    work = bench / "work-train"
    shutil.rmtree(work, ignore_errors=True)
    print("  course notebook on 3M + 3M ...", flush=True)
    course = child(python, "run", "course", str(jan), str(feb))
    print("  train (no champion) ...", flush=True)
    first = train_run(python, cli, work, folder, "2023-01", "2023-02")
    print("  train again (champion exists) ...", flush=True)
    second = train_run(python, cli, work, folder, "2023-01", "2023-02")
    return {"course": course, "first": first, "second": second}


def measure_year(python: Path, bench: Path, data: Path) -> dict[str, object]:
    """``train`` on 36M rows and ``predict`` over them: wall and peak RSS."""
    folder = bench / "year"
    ensure_months(python, data / "green_tripdata_2023-01.parquet", folder, YEAR)
    link(folder, "2023-02", validation_month(python, bench, data))
    cli = python.parent / "trip-duration"
    work = bench / "work-year"
    shutil.rmtree(work, ignore_errors=True)
    spec = f"{YEAR[0]}..{YEAR[-1]}"
    print(f"  train on {spec} (36M rows) ...", flush=True)
    train = train_run(python, cli, work, folder, spec, "2023-02")
    print(f"  predict {spec} (36M rows) ...", flush=True)
    env = settings_env(cli, work, folder, spec, "2023-02")
    predict = cli_child(python, cli, work, ["predict", spec, str(work / "predictions")], env)
    shutil.rmtree(work / "predictions", ignore_errors=True)  # 36M rows of output: not kept
    return {"train": train, "predict": predict}


def train_table(result: dict[str, object]) -> str:
    course, first, second = result["course"], result["first"], result["second"]
    course_stages = course["stages"]
    lines = [
        "| run | import s | "
        + " | ".join(f"{name} s" for name in STAGES)
        + " | process wall s | peak RSS MB | val RMSE |",
        "|---|---|" + "---|" * len(STAGES) + "---|---|---|",
        f"| course notebook (LinearRegression) | {course_stages['import']:.2f} | "
        + " | ".join(
            f"{course_stages[name]:.2f}" if name in course_stages else "-" for name in STAGES
        )
        + f" | {course['process_s']:.2f} | {course['peak_rss_mb']:.0f} | {course['rmse']:.4f} |",
    ]
    for label, run in (("`train`, no champion", first), ("`train`, champion exists", second)):
        stages = run["stages"]
        imports = run["wall_s"] - sum(stages.values())
        lines.append(
            f"| {label} | {imports:.2f} | "
            + " | ".join(f"{stages.get(name, 0.0):.2f}" for name in STAGES)
            + f" | {run['wall_s']:.2f} | {run['peak_rss_mb']:.0f} | {run['rmse']:.4f} |"
        )
    lines.append("")
    lines.append(
        f"`train` / course wall time: {first['wall_s'] / course['process_s']:.2f} (no champion), "
        f"{second['wall_s'] / course['process_s']:.2f} (champion exists). The `train` import "
        "column is process wall time minus its stages (imports, settings, logging setup)."
    )
    return "\n".join(lines)


def year_table(result: dict[str, object]) -> str:
    train, predict = result["train"], result["predict"]
    stages = train["stages"]
    return "\n".join(
        [
            "| command | rows | wall s | peak RSS MB | notes |",
            "|---|---|---|---|---|",
            f"| `train` 2022-01..2022-12 -> 3M 2023-02 | 36,000,000 + 3,000,000 "
            f"| {train['wall_s']:.1f} | {train['peak_rss_mb']:.0f} | stages "
            + ", ".join(f"{name} {stages.get(name, 0):.1f} s" for name in STAGES)
            + f"; val RMSE {train['rmse']:.4f} |",
            f"| `predict` 2022-01..2022-12 -> folder | 36,000,000 | {predict['wall_s']:.1f} "
            f"| {predict['peak_rss_mb']:.0f} | {predict['stdout'].strip().splitlines()[-1]} |",
        ]
    )


def history_table(results: list[dict[str, object]]) -> str:
    lines = [
        "| training months | validation month | train rows | val rows | val RMSE | val MAE |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['train']} | {r['val']} | {r['train_rows']:,} | {r['val_rows']:,} "
            f"| {r['rmse']:.4f} | {r['mae']:.4f} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    command = argv[0]
    if command == "cli":
        workdir, args, env = argv[1], json.loads(argv[2]), json.loads(argv[3])
        print(json.dumps(run_cli(workdir, args, env)))
    elif command == "history":
        print(json.dumps({"results": history(argv[1])}))
    else:
        raise SystemExit(f"unknown command {command!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


def measure_history(python: Path, data: Path) -> list[dict[str, object]]:
    from benchmarks.training import child

    return child(python, "history", str(data), script=__file__)["results"]
