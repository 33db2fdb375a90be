"""The scheduled loop: check the newest month, retrain when needed, promote only if better.

One function, so that every scheduler (a CI schedule, a CronJob) and a person at a terminal
(``make retrain-loop``) run exactly the same steps:

1. optionally download the month to judge and the month before it (TLC publishes a month about two
   months later, hence the default month);
{%- if cookiecutter.monitoring == "evidently" %}
2. ``monitor``: data and prediction drift of the month against the month before;
3. ``feedback``: the champion's live error on that month, when there is a prediction log;
4. when drift or degradation is found, ``retrain`` on the month before, validated on the month:
{%- else %}
2. ``feedback``: the champion's live error on that month, when there is a prediction log;
3. when the champion degraded, or when no prediction log gives a verdict (the gate still protects
   the champion), ``retrain`` on the month before, validated on the month:
{%- endif %}
   the quality gate promotes the new model only if it beats the champion on the same rows, and
   keeps it as the challenger otherwise (``promote`` can then act on live evidence).

Too few rows, a healthy champion, or a model that is not better are normal outcomes, not failures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from loguru import logger

from .config import Settings
from .data import TooFewRowsError, download_month
from .feedback import run_feedback
from .registry import open_registry
from .train import run_training
from .versions import CHAMPION


@dataclass
class LoopOutcome:
    """What one run of the loop saw and did; printed as JSON by the command."""

    month: str
    previous: str
{%- if cookiecutter.monitoring == "evidently" %}
    drift: bool | None = None
{%- endif %}
    degraded: bool | None = None
    retrained: bool = False
    promoted: bool = False
    version: int | None = None
    steps: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def month_before(month: str) -> str:
    year, number = (int(part) for part in month.split("-"))
    return f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"


def default_month(today: date | None = None) -> str:
    """The newest month the TLC has probably published: two months before this one."""
    today = today or datetime.now(UTC).date()
    return month_before(month_before(f"{today.year}-{today.month:02d}"))


def has_predictions(source: Path) -> bool:
    if source.is_dir():
        return any(
            path.suffix in {".parquet", ".jsonl"} and not path.name.startswith(".")
            for path in source.iterdir()
        )
    return source.is_file()


def run_loop(
    settings: Settings,
    month: str,
    previous: str,
    predictions: Path | None,
    *,
    download: bool = False,
) -> LoopOutcome:
    """Run the steps above for ``month``; each step's finding is in the outcome."""
    outcome = LoopOutcome(month=month, previous=previous)
    if download:
        for wanted in (previous, month):
            download_month(settings.data, wanted)
        outcome.steps.append(f"downloaded {previous} and {month}")
{%- if cookiecutter.monitoring == "evidently" %}
    # Evidently takes seconds to import: only this step pays for it.
    from .monitor import run_monitor  # noqa: PLC0415

    try:
        drift = run_monitor(settings, month, previous)
    except TooFewRowsError as error:
        outcome.steps.append(f"stopped: {error}")
        return outcome
    outcome.drift = drift.drift_detected
    outcome.steps.append(f"monitor: drift {'detected' if drift.drift_detected else 'not detected'}")
{%- endif %}
    if predictions is not None and has_predictions(predictions):
        champion = open_registry(settings).get_version(CHAMPION)
        report = run_feedback(settings, month, predictions, champion)
        outcome.degraded = report.champion.degraded
        outcome.steps.append(f"feedback: {report.champion.note}")
    else:
        outcome.steps.append(f"feedback: skipped, no predictions in {predictions}")
{%- if cookiecutter.monitoring == "evidently" %}
    triggered = bool(outcome.drift) or bool(outcome.degraded)
{%- else %}
    # No verdict is no reason to skip: the quality gate still protects the champion.
    triggered = outcome.degraded is not False
{%- endif %}
    if not triggered:
        outcome.steps.append("nothing to retrain")
        return outcome
    months = settings.data.model_copy(update={"train_month": previous, "val_month": month})
    retrain = settings.model_copy(update={"data": months})
    try:
        result = run_training(retrain)
    except TooFewRowsError as error:
        outcome.steps.append(f"retrain stopped: {error}")
        return outcome
    outcome.retrained = True
    outcome.promoted = result.decision.promote
    outcome.version = result.version.version
    outcome.steps.append(f"retrain: version {result.version.version}: {result.decision.reason}")
    logger.info("retrain loop for {}: {}", month, "; ".join(outcome.steps))
    return outcome
