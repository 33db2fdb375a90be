"""Command line: one command per job, the same verbs as the Makefile targets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from loguru import logger

from . import __doc__ as package_doc
from .config import Settings, SettingsError, load_settings
from .data import DURATION, DataError, TooFewRowsError, download_month, load_month
from .evaluate import regression_metrics
from .logs import setup_logging
from .outputs import OutputError
from .predict import predict_file
from .registry import load_model
from .train import run_training
from .versions import CHAMPION

app = typer.Typer(help=package_doc, no_args_is_help=True)

Month = Annotated[str | None, typer.Option(help="Month as YYYY-MM (default: from settings).")]
NOT_PROMOTED_EXIT_CODE = 3
TOO_FEW_ROWS_EXIT_CODE = 5  # good data, not enough of it yet: a scheduler waits, nobody is paged

Alias = Annotated[str, typer.Option(help="Registry alias of the model to use.")]


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
    logger.error("{}", error)
    typer.echo(f"error: {error}", err=True)
    return typer.Exit(code=TOO_FEW_ROWS_EXIT_CODE if isinstance(error, TooFewRowsError) else 1)


@app.command()
def data(
    months: Annotated[list[str], typer.Argument(help="Months to download, YYYY-MM.")],
    overwrite: bool = False,
) -> None:
    """Download TLC months into the raw data folder (train on them with DATA__DATA_DIR=data/raw)."""
    settings = settings_from()
    try:
        for month in months:
            typer.echo(download_month(settings.data, month, overwrite=overwrite))
    except (DataError, OutputError) as error:
        raise fail(error) from error


@app.command()
def train(train_month: Month = None, val_month: Month = None) -> None:
    """Fit on one month, evaluate on the next, register the model and apply the quality gate."""
    settings = settings_from(train_month=train_month, val_month=val_month)
    try:
        result = run_training(settings)
    except (DataError, OutputError) as error:
        raise fail(error) from error
    typer.echo(json.dumps({"version": result.version.version, **result.metrics}, indent=2))
    typer.echo(result.decision.reason)


@app.command()
def retrain(
    train_month: Annotated[str, typer.Option(help="Newer month to fit on (YYYY-MM).")],
    val_month: Annotated[str, typer.Option(help="Month after it to evaluate on (YYYY-MM).")],
) -> None:
    """Train on a newer window; promote only through the quality gate. Exit 3 when not promoted."""
    settings = settings_from(train_month=train_month, val_month=val_month)
    try:
        result = run_training(settings)
    except (DataError, OutputError) as error:
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
        trips = load_month(settings.data, month or settings.data.val_month).trips
    except (DataError, LookupError, OutputError) as error:
        raise fail(error) from error
    metrics = regression_metrics(trips[DURATION].to_numpy(), model.predict(trips))
    typer.echo(json.dumps({"version": version.version, "rows": len(trips), **metrics}, indent=2))


@app.command()
def predict(
    source: Annotated[Path, typer.Argument(help="Parquet file of trips.")],
    target: Annotated[Path, typer.Argument(help="Parquet file to write.")],
    alias: Alias = CHAMPION,
) -> None:
    """Batch prediction: adds predicted_duration (and rejection_reason) to every input row."""
    settings = settings_from()
    try:
        model, version = load_model(settings, alias)
        if settings.dask.scheduler_address:
            from .distributed import predict_on_cluster  # noqa: PLC0415 - only for a cluster

            summary = predict_on_cluster(settings.dask, source, target, model)
        else:
            summary = predict_file(source, target, model)
    except (DataError, LookupError, OutputError) as error:
        raise fail(error) from error
    typer.echo(
        f"model version {version.version}: {summary.predicted} predicted, "
        f"{summary.rejected} rejected, written to {target}"
    )
{%- if cookiecutter.hyperparameter_tuning == "optuna" %}


@app.command()
def tune(
    n_trials: Annotated[int | None, typer.Option(help="Trials (default: from settings).")] = None,
    train_month: Month = None,
    val_month: Month = None,
) -> None:
    """Search hyperparameters with Optuna; the best go to the params file that `train` reads."""
    from .tune import run_tuning  # noqa: PLC0415 - optuna loads only for this command

    settings = settings_from(train_month=train_month, val_month=val_month)
    if n_trials is not None:
        tuning = settings.tuning.model_copy(update={"n_trials": n_trials})
        settings = settings.model_copy(update={"tuning": tuning})
    try:
        result = run_tuning(settings)
    except (DataError, OutputError) as error:
        raise fail(error) from error
    summary = {
        "best_rmse": result.best_rmse,
        "completed": result.completed,
        "pruned": result.pruned,
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
) -> None:
    """Run the prediction API with uvicorn (docs at /docs); the model is loaded at start."""
    import uvicorn  # noqa: PLC0415 - only this command needs the server

    settings = settings_from()
    uvicorn.run(
        "{{ cookiecutter.package_name }}.serving.app:create_app",
        factory=True,
        host=host or settings.serving.host,
        port=port or settings.serving.port,
        workers=workers or settings.serving.workers,
        # uvicorn has no SUCCESS level; the app writes its own access log (with request ids).
        log_level={"SUCCESS": "info"}.get(settings.logging.level, settings.logging.level.lower()),
        access_log=False,
        timeout_worker_healthcheck=settings.serving.worker_healthcheck_timeout,
    )
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
    except (DataError, LookupError, OutputError) as error:
        raise fail(error) from error
    typer.echo(json.dumps(summary.headline(), indent=2))
    if summary.drift_detected:
        raise typer.Exit(code=DRIFT_EXIT_CODE)
{%- endif %}


if __name__ == "__main__":
    app()
