"""Command line: one command per job, the same verbs as the Makefile targets."""

from __future__ import annotations

import json
{% if cookiecutter.serving == "fastapi" -%}
import os
import shutil
{% endif -%}
from pathlib import Path
from typing import Annotated

import typer
from loguru import logger

from . import __doc__ as package_doc
from .config import {% if cookiecutter.serving == "fastapi" %}ENV_PREFIX, {% endif %}Settings, SettingsError, load_settings
from .data import DataError, TooFewRowsError, download_month, load_months
from .evaluate import regression_metrics
from .logs import setup_logging
from .months import MONTH_PATTERN, parse_months
from .outputs import OutputError
from .predict import predict_source
from .progress import set_quiet
from .registry import load_model
from .train import run_training
from .trip import DURATION
from .versions import CHAMPION, RegistryError
from .zones import ZoneLookupError

EXIT_STATUSES = (
    "Exit status: 0 done; 1 error (bad input, no model yet); 2 bad setting; 3 not promoted "
    "(retrain, promote);{% if cookiecutter.monitoring == "evidently" %} 4 drift (monitor);{% endif %} "
    "5 too few usable rows; 6 registry or model unreadable, missing or changed since registration"
{%- if cookiecutter.experiment_tracking == "mlflow" %}
    "; 7 registry server unreachable"
{%- endif %}
    "; 8 champion's live error degraded (feedback)."
)
app = typer.Typer(help=package_doc, epilog=EXIT_STATUSES, no_args_is_help=True)

Month = Annotated[
    str | None,
    typer.Option(
        help="Month as YYYY-MM, a range YYYY-MM..YYYY-MM or a comma list (default: settings)."
    ),
]
NOT_PROMOTED_EXIT_CODE = 3
TOO_FEW_ROWS_EXIT_CODE = 5  # good data, not enough of it yet: a scheduler waits, nobody is paged

Alias = Annotated[str, typer.Option(help="Registry alias of the model to use.")]


@app.callback(help=package_doc)
def main(
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bars (none are drawn off-terminal).")
    ] = False,
) -> None:
    """Options for every command."""
    set_quiet(quiet)


def settings_from(**data_overrides: object) -> Settings:
    """Load settings with CLI flags on top, and start logging; a bad setting exits with code 2."""
    try:
        settings = load_settings()
        overrides = {key: value for key, value in data_overrides.items() if value is not None}
        if overrides:
            settings = load_settings(data=settings.data.model_copy(update=overrides).model_dump())
    except SettingsError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from error
    setup_logging(settings.logging)
    return settings


def fail(error: Exception) -> typer.Exit:
    """One line on stderr (no traceback) and the error's exit status (see EXIT_STATUSES)."""
    logger.error("{}", error)
    typer.echo(f"error: {error}", err=True)
    if isinstance(error, TooFewRowsError):
        return typer.Exit(code=TOO_FEW_ROWS_EXIT_CODE)
    return typer.Exit(code=getattr(error, "exit_code", 1))


@app.command()
def data(
    months: Annotated[
        list[str], typer.Argument(help="Months to download: YYYY-MM or ranges YYYY-MM..YYYY-MM.")
    ],
    overwrite: bool = False,
) -> None:
    """Download TLC months into the raw data folder (train on them with DATA__DATA_DIR=data/raw)."""
    settings = settings_from()
    try:
        for month in parse_months(months):
            typer.echo(download_month(settings.data, month, overwrite=overwrite))
    except (DataError, OutputError, ValueError) as error:
        raise fail(error) from error


@app.command()
def train(train_month: Month = None, val_month: Month = None) -> None:
    """Fit on one month, evaluate on the next, register the model and apply the quality gate."""
    settings = settings_from(train_month=train_month, val_month=val_month)
    try:
        result = run_training(settings)
    except (DataError, OutputError, RegistryError, ZoneLookupError) as error:
        raise fail(error) from error
    typer.echo(json.dumps({"version": result.version.version, **result.metrics}, indent=2))
    typer.echo(result.decision.reason)


@app.command()
def retrain(
    train_month: Annotated[
        str, typer.Option(help="Newer month(s) to fit on (YYYY-MM[..YYYY-MM]).")
    ],
    val_month: Annotated[str, typer.Option(help="Month(s) after them to evaluate on.")],
) -> None:
    """Train on a newer window; promote only through the quality gate. Exit 3 when not promoted."""
    settings = settings_from(train_month=train_month, val_month=val_month)
    try:
        result = run_training(settings)
    except (DataError, OutputError, RegistryError, ZoneLookupError) as error:
        raise fail(error) from error
    logger.info("retrain decision: {}", result.decision.reason)
    typer.echo(result.decision.reason)
    if not result.decision.promote:
        raise typer.Exit(code=NOT_PROMOTED_EXIT_CODE)


@app.command()
def evaluate(month: Month = None, alias: Alias = CHAMPION) -> None:
    """Measure a registered model on one month (default: the validation month)."""
    settings = settings_from()
    try:
        model, version = load_model(settings, alias)
        months = parse_months(month or settings.data.val_month)
        trips = load_months(settings.data, months).trips
    except (DataError, LookupError, OutputError, RegistryError, ValueError) as error:
        raise fail(error) from error
    metrics = regression_metrics(trips[DURATION].to_numpy(), model.predict(trips))
    typer.echo(json.dumps({"version": version.version, "rows": len(trips), **metrics}, indent=2))


@app.command()
def predict(
    source: Annotated[
        str,
        typer.Argument(
            help="Parquet file of trips, a folder of them, or months (2023-01..2023-06) of the "
            "data folder."
        ),
    ],
    target: Annotated[
        Path, typer.Argument(help="Parquet file to write; a folder for a folder or months.")
    ],
    alias: Alias = CHAMPION,
) -> None:
    """Batch prediction: adds predicted_duration (and rejection_reason) to every input row.

    Streamed in batches of DATA__BATCH_ROWS rows: memory does not grow with the input."""
    settings = settings_from()
    try:
        model, version = load_model(settings, alias)
        if settings.dask.scheduler_address:
            from .distributed import predict_on_cluster  # noqa: PLC0415 - only for a cluster

            summary = predict_on_cluster(settings, source, target, model)
        else:
            summary = predict_source(source, target, model, settings.data)
    except (DataError, LookupError, OutputError, RegistryError) as error:
        raise fail(error) from error
    typer.echo(
        f"model version {version.version}: {summary.predicted} predicted, "
        f"{summary.rejected} rejected, written to {target}"
    )
{%- if cookiecutter.hyperparameter_tuning == "optuna" %}


@app.command()
def tune(
    n_trials: Annotated[int | None, typer.Option(help="Trials (default: from settings).")] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Processes on this machine (default: settings; >1 needs a storage)."),
    ] = None,
    train_month: Month = None,
    val_month: Month = None,
) -> None:
    """Search hyperparameters with Optuna; the best go to the params file that `train` reads."""
    from .tune import run_tuning  # noqa: PLC0415 - optuna loads only for this command

    settings = settings_from(train_month=train_month, val_month=val_month)
    updates = {"n_trials": n_trials, "workers": workers}
    updates = {key: value for key, value in updates.items() if value is not None}
    if updates:
        try:
            tuning = {**settings.tuning.model_dump(), **updates}
            settings = load_settings(data=settings.data.model_dump(), tuning=tuning)
        except SettingsError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(code=2) from error
    try:
        result = run_tuning(settings)
    except (DataError, OutputError) as error:
        raise fail(error) from error
    summary = {
        "study": result.study_name,
        "best_rmse": result.best_rmse,
        "completed": result.completed,
        "pruned": result.pruned,
        "failed": result.failed,
        "best_params": result.best_params,
    }
    typer.echo(json.dumps(summary, indent=2))
    typer.echo(f"written to {result.params_file}; `train` uses them from now on")
{%- endif %}
{%- if cookiecutter.serving == "fastapi" %}


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
    limit_concurrency: Annotated[
        int | None, typer.Option(help="Most connections at once per worker; beyond, 503.")
    ] = None,
) -> None:
    """Run the prediction API with uvicorn (docs at /docs); the model is loaded at start."""
    import uvicorn  # noqa: PLC0415 - only this command needs the server

    settings = settings_from()
    try:
        # A broken model stops the start here, in one line, rather than in a worker's traceback.
        load_model(settings, settings.serving.model_alias)
    except RegistryError as error:
        raise fail(error) from error
    except LookupError:
        pass  # no model yet: the service starts and answers 503 until one is trained
    serving = settings.serving
    workers = workers or serving.workers
    if workers > 1 and settings.logging.file is not None:
        # Workers read their settings from the environment: each then logs to a file of its own.
        os.environ[f"{ENV_PREFIX}LOGGING__FILE_PER_PROCESS"] = "true"
        setup_logging(settings.logging.model_copy(update={"file_per_process": True}))
    metrics_dir = None
    if workers > 1:
        from .serving.metrics import prepare_multiprocess_dir  # noqa: PLC0415

        # Workers then keep their metrics in files there, and /metrics adds up all of them.
        metrics_dir = prepare_multiprocess_dir()
    try:
        uvicorn.run(
            "{{ cookiecutter.package_name }}.serving.app:create_app",
            factory=True,
            host=host or serving.host,
            port=port or serving.port,
            workers=workers,
            # uvicorn has no SUCCESS level; the app writes its own access log (with request ids).
            log_level={"SUCCESS": "info"}.get(
                settings.logging.level, settings.logging.level.lower()
            ),
            access_log=False,
            timeout_worker_healthcheck=serving.worker_healthcheck_timeout,
            # By name, so that every worker process imports it (it adds a deadline for headers).
            http="{{ cookiecutter.package_name }}.serving.protocol:HeaderDeadlineProtocol",
            timeout_keep_alive=serving.keep_alive_timeout,
            limit_concurrency=limit_concurrency or serving.limit_concurrency,
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
{%- endif %}
{%- if cookiecutter.monitoring == "evidently" %}


@app.command()
def monitor(
    current: Annotated[
        str, typer.Option(help="Batch to check: month (YYYY-MM), parquet file or prediction log.")
    ],
    reference: Annotated[
        str | None,
        typer.Option(help="Batch to compare with (default: the month the model was trained on)."),
    ] = None,
    alias: Alias = CHAMPION,
) -> None:
    """Data and prediction drift of a batch with Evidently; exit 4 when drift is detected."""
    # Evidently takes seconds to import: only this command pays for it.
    from .monitor import DRIFT_EXIT_CODE, run_monitor  # noqa: PLC0415

    settings = settings_from()
    try:
        summary = run_monitor(settings, current, reference, alias)
    except (DataError, LookupError, OutputError, RegistryError) as error:
        raise fail(error) from error
    typer.echo(json.dumps(summary.headline(), indent=2))
    if summary.drift_detected:
        raise typer.Exit(code=DRIFT_EXIT_CODE)
{%- endif %}


def month_or_none(value: str | None) -> str | None:
    """A month option's check: YYYY-MM, or a usage error (exit 2) naming the rule."""
    if value is not None and not MONTH_PATTERN.fullmatch(value):
        raise typer.BadParameter(f"expected a month as YYYY-MM, got {value!r}")
    return value


Predictions = Annotated[
    Path | None,
    typer.Option(
{%- if cookiecutter.serving == "fastapi" %}
        help="Prediction log folder or parquet file (default: PREDICTION_LOG__DIR).",
{%- else %}
        help="Folder or parquet file of predictions, as `predict` writes (default: predictions).",
{%- endif %}
    ),
]


def predictions_source(settings: Settings, given: Path | None) -> Path:
{%- if cookiecutter.serving == "fastapi" %}
    return given or settings.prediction_log.dir
{%- else %}
    return given or Path("predictions")
{%- endif %}


@app.command()
def feedback(
    month: Annotated[
        str,
        typer.Option(
            help="Month whose actual durations are here (YYYY-MM).", callback=month_or_none
        ),
    ],
    predictions: Predictions = None,
) -> None:
    """Live RMSE/MAE per model version and role from logged predictions and actual trips.

    Exit 8 when the champion's live RMSE exceeds its validation RMSE by more than
    FEEDBACK__MAX_RMSE_INCREASE.
    """
    from .feedback import DEGRADED_EXIT_CODE, run_feedback  # noqa: PLC0415
    from .registry import open_registry  # noqa: PLC0415

    settings = settings_from()
    try:
        champion = open_registry(settings).get_version(CHAMPION)
        report = run_feedback(settings, month, predictions_source(settings, predictions), champion)
    except (DataError, LookupError, OutputError, RegistryError) as error:
        raise fail(error) from error
    typer.echo(json.dumps(report.headline(), indent=2))
    if report.champion.degraded:
        raise typer.Exit(code=DEGRADED_EXIT_CODE)


@app.command()
def promote(
    month: Annotated[
        str | None,
        typer.Option(
            help="Evidence: evaluate both models on this month (default: feedback).",
            callback=month_or_none,
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Promote without favourable evidence.")] = False,
    reason: Annotated[str | None, typer.Option(help="Why (required with --force).")] = None,
) -> None:
    """Make the challenger the champion, on evidence; exit 3 when the evidence says no."""
    from .lifecycle import LifecycleError, promote_challenger  # noqa: PLC0415
    from .registry import open_registry  # noqa: PLC0415

    settings = settings_from()
    try:
        event = promote_challenger(
            settings, open_registry(settings), month=month, force=force, reason=reason
        )
    except (DataError, LifecycleError, LookupError, OutputError, RegistryError) as error:
        raise fail(error) from error
    typer.echo(json.dumps(event.as_dict(), indent=2))


@app.command()
def rollback(
    reason: Annotated[str, typer.Option(help="Why the champion is rolled back (recorded).")],
) -> None:
    """Point the champion back at the previous champion, as the registry's history records it."""
    from .lifecycle import LifecycleError, rollback_champion  # noqa: PLC0415
    from .registry import open_registry  # noqa: PLC0415

    settings = settings_from()
    try:
        event = rollback_champion(open_registry(settings), reason)
    except (LifecycleError, LookupError, RegistryError) as error:
        raise fail(error) from error
    typer.echo(json.dumps(event.as_dict(), indent=2))


@app.command()
def history() -> None:
    """Every recorded move of the champion and challenger aliases, oldest first, as JSON lines."""
    from .registry import open_registry  # noqa: PLC0415

    settings = settings_from()
    try:
        events = open_registry(settings).history()
    except RegistryError as error:
        raise fail(error) from error
    for event in events:
        typer.echo(json.dumps(event.as_dict()))


@app.command("retrain-loop")
def retrain_loop(
    month: Annotated[
        str | None,
        typer.Option(
            help="Month to judge (default: two months ago, YYYY-MM).", callback=month_or_none
        ),
    ] = None,
    previous: Annotated[
        str | None,
        typer.Option(
            help="Month to compare with and retrain on (default: the one before).",
            callback=month_or_none,
        ),
    ] = None,
    predictions: Predictions = None,
    download: Annotated[bool, typer.Option(help="Download both months first.")] = False,
) -> None:
    """The scheduled loop: {% if cookiecutter.monitoring == "evidently" %}monitor, {% endif %}feedback, retrain when needed, promote only if better."""
    from .retrain_loop import default_month, month_before, run_loop  # noqa: PLC0415

    settings = settings_from()
    month = month or default_month()
    previous = previous or month_before(month)
    try:
        outcome = run_loop(
            settings, month, previous, predictions_source(settings, predictions), download=download
        )
    except (DataError, LookupError, OutputError, RegistryError, ZoneLookupError) as error:
        raise fail(error) from error
    typer.echo(json.dumps(outcome.as_dict(), indent=2))


if __name__ == "__main__":
    app()
