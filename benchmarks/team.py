"""Team scale: tuning with 1 vs 2 workers on a PostgreSQL study; `train` on a server vs SQLite.

The services are the template tests' own (``tests/services.py``): a throwaway PostgreSQL cluster
and the bake's `make mlflow-server` on it, with proxied artifacts. Tuning runs the bake's
``tune --workers N`` with the same trial budget on a fresh study each time; throughput is counted
twice: over the command (start-up, data loading and imports included) and over the trials (first
trial start to last trial end, read from the study). `train` runs the same job with its tracking
on the server or in an embedded SQLite file, each in a fresh folder.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from tests.baking import InstalledProject, clean_environment, run
from tests.services import Postgres, cluster_folder, mlflow_server, postgres

TRIALS = 16
TRAIN_REPEATS = 3
# A budget of a few seconds per trial on the full months, so that a trial's work, not the
# database or the tracking, is what two workers share.
SEARCH = {"MAX_ESTIMATORS": "300", "EARLY_STOPPING_ROUNDS": "30", "HEARTBEAT_SECONDS": "10"}


@dataclass
class TuningFigure:
    workers: int
    trials: int
    command_seconds: float
    trial_span_seconds: float

    @property
    def per_minute(self) -> float:
        return self.trials / self.command_seconds * 60

    @property
    def per_minute_in_trials(self) -> float:
        return self.trials / self.trial_span_seconds * 60


def settings_env(project: InstalledProject, folder: Path, data: Path) -> dict[str, str]:
    prefix = f"{project.package.upper()}_"
    folder.mkdir(parents=True, exist_ok=True)
    return {
        f"{prefix}DATA__DATA_DIR": str(data),
        f"{prefix}DATA__QUARANTINE_DIR": str(folder / "quarantine"),
        f"{prefix}REGISTRY__MODELS_DIR": str(folder / "models"),
        f"{prefix}TRAINING__PARAMS_FILE": str(folder / "best_params.json"),
        f"{prefix}LOGGING__FILE": "",
    }


def timed(project: InstalledProject, folder: Path, env: dict[str, str], *args: str) -> float:
    started = time.perf_counter()
    command = [str(project.bin / project.root.name), *args]
    run(command, folder, timeout=3600, env=clean_environment(**env))
    return time.perf_counter() - started


def trial_span(cluster: Postgres, database: str) -> tuple[int, float]:
    """Finished trials, and seconds from the first trial's start to the last one's end."""
    found = cluster.sql(
        "SELECT count(*), extract(epoch FROM max(datetime_complete) - min(datetime_start)) "
        "FROM trials WHERE state IN ('COMPLETE', 'PRUNED')",
        database,
    )
    count, span = found.split("|")
    return int(count), float(span)


def measure(project: InstalledProject, data: Path, work: Path) -> dict[str, object]:
    """Both figures, with one PostgreSQL cluster and one MLflow server for the whole run."""
    prefix = f"{project.package.upper()}_"
    with cluster_folder() as folder, postgres(folder) as cluster:
        backend = cluster.create_database("mlflow")
        (work / "server").mkdir(parents=True)
        with mlflow_server(project, backend, work / "server") as server:
            tuning = []
            for workers in (1, 2):
                database = f"optuna_{workers}"
                folder = work / f"tune{workers}"
                env = settings_env(project, folder, data)
                env["MLFLOW_TRACKING_URI"] = server.url
                env[f"{prefix}TUNING__STORAGE"] = cluster.create_database(database)
                env.update({f"{prefix}TUNING__{key}": value for key, value in SEARCH.items()})
                args = ("tune", "--workers", str(workers), "--n-trials", str(TRIALS))
                seconds = timed(project, folder, env, *args)
                trials, span = trial_span(cluster, database)
                tuning.append(TuningFigure(workers, trials, seconds, span))
                print(f"tune --workers {workers}: {trials} trials in {seconds:.1f} s", flush=True)

            train: dict[str, list[float]] = {"server": [], "sqlite": []}
            for repeat in range(TRAIN_REPEATS):
                for store in train:
                    folder = work / f"train-{store}-{repeat}"
                    env = settings_env(project, folder, data)
                    if store == "server":
                        env["MLFLOW_TRACKING_URI"] = server.url
                        env[f"{prefix}TRAINING__MODEL_NAME"] = "bench-server"
                    else:
                        env[f"{prefix}REGISTRY__TRACKING_URI"] = f"sqlite:///{folder}/mlflow.db"
                    train[store].append(timed(project, folder, env, "train"))
                    print(f"train ({store}): {train[store][-1]:.1f} s", flush=True)
    return {"tuning": tuning, "train": train}


def table(results: dict[str, object]) -> str:
    tuning: list[TuningFigure] = results["tuning"]  # type: ignore[assignment]
    train: dict[str, list[float]] = results["train"]  # type: ignore[assignment]
    one, two = tuning
    lines = [
        f"`tune --n-trials {TRIALS}` on one PostgreSQL study (tracking on the MLflow server):",
        "",
        "| workers | trials | command (s) | trials/min (command) | trials/min (trials only) |",
        "|---|---|---|---|---|",
        *(
            f"| {f.workers} | {f.trials} | {f.command_seconds:.1f} | {f.per_minute:.1f} | "
            f"{f.per_minute_in_trials:.1f} |"
            for f in tuning
        ),
        "",
        f"Speed-up of 2 workers: {two.per_minute / one.per_minute:.2f}x over the command, "
        f"{two.per_minute_in_trials / one.per_minute_in_trials:.2f}x over the trials.",
        "",
        f"`train` (median of {TRAIN_REPEATS}, fresh folder each):",
        "",
        "| tracking | seconds per run |",
        "|---|---|",
    ]
    medians = {store: statistics.median(seconds) for store, seconds in train.items()}
    lines += [f"| {store} | {seconds:.1f} |" for store, seconds in medians.items()]
    lines += ["", f"The server's overhead per run: {medians['server'] - medians['sqlite']:+.1f} s."]
    return "\n".join(lines)
