"""Accuracy of the default model on full real months, beside the course baseline.

The bake's own ``fit_and_evaluate`` trains the default model with its default parameters (the
same call ``train`` makes); the course baseline is the bake's exact least-squares solution of
the course's LinearRegression (``baseline.py``) on the same cleaned rows, computed in the same
run. 2024-01 is a later month no choice of the defaults looked at, so its figure shows how the
model generalizes.

The child side (``python benchmarks/accuracy.py run DATA_DIR``) runs under the bake's Python.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

# (train month, evaluation month, role, target RMSE or None)
CASES = (
    ("2023-01", "2023-02", "validation", 4.50),
    ("2021-01", "2021-02", "validation", 5.60),
    ("2023-01", "2024-01", "later month, never used for choosing", None),
)
TARGET_FIT_SECONDS = 10.0
# /work/shared/data/README.md: DictVectorizer PU_DO + trip_distance, the course's 1..60 min rows.
REFERENCE = {
    ("2023-01", "2023-02"): {"LinearRegression": 6.0345, "lightgbm 100 trees": 5.2891},
    ("2021-01", "2021-02"): {"LinearRegression": 7.7587, "lightgbm 100 trees": 6.6601},
}


def run_cases(data_dir: str) -> list[dict[str, object]]:
    from loguru import logger
    from trip_duration.baseline import course_baseline
    from trip_duration.config import Settings
    from trip_duration.data import clean_for_training, read_trips
    from trip_duration.train import fit_and_evaluate

    logger.remove()
    settings = Settings()
    results = []
    for train_month, eval_month, role, target in CASES:
        months = {}
        for month in (train_month, eval_month):
            path = settings.data.month_file(month, Path(data_dir))
            months[month] = clean_for_training(read_trips(path), settings.data, str(path))
        started = time.perf_counter()
        metrics = fit_and_evaluate(
            months[train_month], months[eval_month], settings.training, settings.seed
        ).metrics
        fit_and_score_s = time.perf_counter() - started
        baseline = course_baseline(months[train_month].trips, months[eval_month].trips)
        results.append(
            {
                "train": train_month,
                "eval": eval_month,
                "role": role,
                "target": target,
                "rmse": metrics["rmse"],
                "mae": metrics.get("mae"),
                "fit_s": metrics["fit_seconds"],
                "fit_and_score_s": fit_and_score_s,
                "train_rows": months[train_month].account.used,
                "eval_rows": months[eval_month].account.used,
                "baseline_rmse": baseline["baseline_rmse"],
            }
        )
    return results


def measure(python: Path, data_dir: Path) -> list[dict[str, object]]:
    from tests.baking import run  # parent side only: the template's venv has the harness

    completed = run([str(python), __file__, "run", str(data_dir)], Path.cwd(), timeout=1800)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def table(results: list[dict[str, object]]) -> str:
    lines = [
        "| train -> evaluate | role | default model RMSE | target | fit s (< 10) "
        "| course LinearRegression, same rows, same run | reference LinearRegression "
        "| reference lightgbm 100 trees | train rows | eval rows |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        reference = REFERENCE.get((r["train"], r["eval"]), {})
        target = "-" if r["target"] is None else f"<= {r['target']:.2f}"
        lines.append(
            f"| {r['train']} -> {r['eval']} | {r['role']} | {r['rmse']:.4f} | {target} "
            f"| {r['fit_s']:.2f} | {r['baseline_rmse']:.4f} "
            f"| {reference.get('LinearRegression', '-')} "
            f"| {reference.get('lightgbm 100 trees', '-')} "
            f"| {r['train_rows']:,} | {r['eval_rows']:,} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:2] != ["run"]:
        raise SystemExit("usage: python benchmarks/accuracy.py run DATA_DIR")
    print(json.dumps(run_cases(sys.argv[2])))
