"""Training speed at scale: the course notebook's baseline against the generated pipeline.

Both fit the same model class (linear least squares on one-hot ``PU_DO`` + ``trip_distance``, with
an intercept) and score the next month: the course with scikit-learn's iterative sparse solver,
the project with the exact closed-form solution of its ``baseline`` module. Each implementation
runs in its own fresh process of the bake's Python (same library versions for both), so its peak
RSS is its own; wall times are taken per stage inside it.

The parent side (``measure``) runs under the template's venv; the child side (``python
benchmarks/training.py run ...``) and the 3M-row generator (``... make3m``) run under the bake's,
so this module imports only the standard library at the top.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

STAGES = ("read", "clean", "features", "fit", "evaluate")
MILLION_ROWS = 3_000_000
SEED = 42


class Stopwatch:
    """Wall time per stage, in the order the stages ran."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - self.last
        self.last = now


def peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def course(train_path: str, val_path: str) -> dict[str, object]:
    """The course notebook, step for step (the ``.apply`` and the per-row dicts included)."""
    watch = Stopwatch()
    import pandas as pd
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import root_mean_squared_error

    watch.lap("import")
    df_train = pd.read_parquet(train_path)
    df_val = pd.read_parquet(val_path)
    watch.lap("read")

    def clean(df: pd.DataFrame) -> pd.DataFrame:
        df["duration"] = df.lpep_dropoff_datetime - df.lpep_pickup_datetime
        df.duration = df.duration.apply(lambda td: td.total_seconds() / 60)
        df = df[(df.duration >= 1) & (df.duration <= 60)]
        categorical = ["PULocationID", "DOLocationID"]
        df[categorical] = df[categorical].astype(str)
        return df

    df_train = clean(df_train)
    df_val = clean(df_val)
    watch.lap("clean")
    df_train["PU_DO"] = df_train["PULocationID"] + "_" + df_train["DOLocationID"]
    df_val["PU_DO"] = df_val["PULocationID"] + "_" + df_val["DOLocationID"]
    columns = ["PU_DO", "trip_distance"]
    dv = DictVectorizer()
    x_train = dv.fit_transform(df_train[columns].to_dict(orient="records"))
    x_val = dv.transform(df_val[columns].to_dict(orient="records"))
    y_train = df_train["duration"].values
    y_val = df_val["duration"].values
    watch.lap("features")
    lr = LinearRegression()
    lr.fit(x_train, y_train)
    watch.lap("fit")
    rmse = float(root_mean_squared_error(y_val, lr.predict(x_val)))
    watch.lap("evaluate")
    return {
        "rmse": rmse,
        "train_rows": int(x_train.shape[0]),
        "val_rows": int(x_val.shape[0]),
        "stages": watch.seconds,
        "peak_rss_mb": peak_rss_mb(),
    }


def project(train_path: str, val_path: str) -> dict[str, object]:
    """The bake's own read + clean (``data``) and exact course baseline (``baseline``)."""
    watch = Stopwatch()
    import numpy as np
    from loguru import logger
    from trip_duration.baseline import ZonePairRegression
    from trip_duration.config import DataSettings
    from trip_duration.data import DURATION, clean_for_training, read_trips

    logger.remove()  # the row accounts' log lines are not part of what is measured
    settings = DataSettings()
    watch.lap("import")
    raw_train = read_trips(Path(train_path))
    raw_val = read_trips(Path(val_path))
    watch.lap("read")
    train = clean_for_training(raw_train, settings, train_path).trips
    val = clean_for_training(raw_val, settings, val_path).trips
    watch.lap("clean")
    # No separate design matrix: the zone-pair codes are computed inside fit and predict.
    watch.lap("features")
    regression = ZonePairRegression.fit(train, train[DURATION].to_numpy())
    watch.lap("fit")
    residual = regression.predict(val) - val[DURATION].to_numpy()
    rmse = float(np.sqrt(np.mean(residual**2)))
    watch.lap("evaluate")
    result: dict[str, object] = {
        "rmse": rmse,
        "train_rows": len(train),
        "val_rows": len(val),
        "stages": watch.seconds,
        "peak_rss_mb": peak_rss_mb(),
    }
    # Like for like, after the measurement: the same model on the course's rows (only the 1..60
    # min filter, none of the project's quarantine rules), so any RMSE gap is the solver's.
    rmse_course_rows, fit_course_rows = on_duration_filter_only(raw_train, raw_val, settings)
    result["rmse_on_course_rows"] = rmse_course_rows
    result["fit_s_on_course_rows"] = fit_course_rows
    return result


def on_duration_filter_only(raw_train, raw_val, settings) -> tuple[float, float]:
    """RMSE and fit seconds of the project's exact solution on the rows the course keeps.

    The course's lsqr stops at a tolerance; on these rows (distances of 100,000+ miles kept) it
    stops early, so the exact least-squares solution scores a little lower RMSE than the course.
    """
    import numpy as np
    import pandas as pd
    from trip_duration.baseline import ZonePairRegression
    from trip_duration.data import duration_minutes

    def course_rows(raw: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        duration = duration_minutes(raw)
        keep = duration.between(settings.min_duration_minutes, settings.max_duration_minutes)
        keep = keep.fillna(False).to_numpy(dtype=bool)
        return raw[keep].reset_index(drop=True), duration[keep].to_numpy()

    train, y_train = course_rows(raw_train)
    val, y_val = course_rows(raw_val)
    started = time.perf_counter()
    regression = ZonePairRegression.fit(train, y_train)
    fit_seconds = time.perf_counter() - started
    residual = regression.predict(val) - y_val
    return float(np.sqrt(np.mean(residual**2))), fit_seconds


def make_month_scale(source: str, target: str, rows: int = MILLION_ROWS, seed: int = SEED) -> None:
    """Seeded resampling of real rows with small jitter, so the 3M rows look like a real month.

    The whole trip shifts by up to +-30 min, the dropoff by a further +-30 s, and the distance by
    +-2 % (zeros stay zero); every other column is the resampled row's own.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(source)
    rng = np.random.default_rng(seed)
    table = table.take(pa.array(rng.integers(0, table.num_rows, rows)))
    pickup = table.column("lpep_pickup_datetime").cast("int64").to_numpy()
    dropoff = table.column("lpep_dropoff_datetime").cast("int64").to_numpy()
    shift = rng.integers(-30 * 60, 30 * 60 + 1, rows) * 1_000_000
    jitter = rng.integers(-30, 31, rows) * 1_000_000
    distance = table.column("trip_distance").to_numpy()
    distance = np.round(distance * (1 + rng.normal(0, 0.02, rows)).clip(0.9, 1.1), 2)
    for name, values in (
        ("lpep_pickup_datetime", pa.array(pickup + shift).cast(pa.timestamp("us"))),
        ("lpep_dropoff_datetime", pa.array(dropoff + shift + jitter).cast(pa.timestamp("us"))),
        ("trip_distance", pa.array(distance)),
    ):
        table = table.set_column(table.schema.get_field_index(name), name, values)
    partial = Path(target).with_suffix(".partial")
    pq.write_table(table.replace_schema_metadata(None), partial)
    partial.replace(target)  # a run stopped half-way leaves no half file to be reused


# ---------------------------------------------------------------------------------------------
# parent side (template venv)
# ---------------------------------------------------------------------------------------------
def child(
    python: Path, *args: str, timeout: float = 1800, script: str = __file__
) -> dict[str, object]:
    """Run ``script`` (this file) as a fresh process of the bake's Python; its last stdout line
    is JSON."""
    from tests.baking import run  # parent side only: the template's venv has the harness

    started = time.perf_counter()
    completed = run([str(python), script, *args], Path.cwd(), timeout=timeout)
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - started
    return result


def ensure_month_scale(python: Path, source: Path, target: Path) -> Path:
    if target.exists():
        print(f"reusing {target}", flush=True)
        return target
    print(f"writing {MILLION_ROWS:,} seeded rows resampled from {source.name} to {target}")
    target.parent.mkdir(parents=True, exist_ok=True)
    child(python, "make3m", str(source), str(target))
    return target


def measure(python: Path, cases: list[tuple[str, Path, Path]]) -> list[dict[str, object]]:
    """Course then project for each case, side by side in one run."""
    results = []
    for label, train, val in cases:
        for impl in ("course", "project"):
            print(f"  {label}: {impl} ...", flush=True)
            record = child(python, "run", impl, str(train), str(val))
            record.update(case=label, impl=impl)
            stages = record["stages"]
            record["end_to_end_s"] = sum(stages[name] for name in STAGES)
            results.append(record)
    return results


def table(results: list[dict[str, object]]) -> str:
    header = (
        "| rows | implementation | read s | clean s | features s | fit s | evaluate s "
        "| end to end s | process s | peak RSS MB | train rows | val RMSE |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [header]
    for r in results:
        s = r["stages"]
        lines.append(
            f"| {r['case']} | {r['impl']} | "
            + " | ".join(f"{s[name]:.2f}" for name in STAGES)
            + f" | {r['end_to_end_s']:.2f} | {r['process_s']:.2f} | {r['peak_rss_mb']:.0f} "
            f"| {r['train_rows']:,} | {r['rmse']:.4f} |"
        )
    lines.append("")
    lines.append(
        "| rows | speed-up (end to end) | peak RSS ratio | course RMSE | project RMSE, "
        "course's rows | abs diff | project RMSE, project's rows | project fit s, course's rows |"
    )
    lines.append("|---|---|---|---|---|---|---|---|")
    for course_run, project_run in zip(results[::2], results[1::2], strict=True):
        diff = abs(course_run["rmse"] - project_run["rmse_on_course_rows"])
        lines.append(
            f"| {course_run['case']} "
            f"| {course_run['end_to_end_s'] / project_run['end_to_end_s']:.1f}x "
            f"| {course_run['peak_rss_mb'] / project_run['peak_rss_mb']:.1f}x "
            f"| {course_run['rmse']:.4f} | {project_run['rmse_on_course_rows']:.4f} "
            f"| {diff:.4f} | {project_run['rmse']:.4f} "
            f"| {project_run['fit_s_on_course_rows']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    command = argv[0]
    if command == "run":
        impl, train, val = argv[1:4]
        result = {"course": course, "project": project}[impl](train, val)
        print(json.dumps(result))
    elif command == "make3m":
        make_month_scale(argv[1], argv[2], seed=int(argv[3]) if len(argv) > 3 else SEED)
        print(json.dumps({"written": argv[2]}))
    else:
        raise SystemExit(f"unknown command {command!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
