"""The model card of a training run, with its metrics beside the course baseline's.

The card is rendered from the run's ``RunRecord``, the same object the registry stores with the
version (months, input checksums, row accounts, parameters, environment), and its metrics, so card
and registry cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .baseline import BASELINE, BASELINE_PREFIX
from .card_plots import CardFigures
from .config import Settings
from .features import CATEGORICAL_FEATURES, FEATURE_NAMES
from .outputs import atomic_write
from .run_record import RowCounts, RunRecord
from .trip import DISTANCE, DURATION, INPUTS, Column
from .validation import TRAINING_RULES

KIND_NAMES = {"time": "timestamp", "integer": "integer", "number": "number"}


def input_row(column: Column) -> tuple[str, str, str]:
    """A row of the input schema table: name, type and range, meaning."""
    return (column.name, f"{KIND_NAMES[column.kind]}, {column.bounds}", column.description)


LIMITATIONS = (
    "Trained on one month of one taxi color; demand, traffic and zones change, so the error "
    "grows on later months. Retrain on recent months; the quality gate keeps a worse model out.",
    "Only durations inside the modelled range were used for training; very short or very long "
    "trips are predicted toward that range.",
    "Inputs are the pickup time, the two zones and the trip distance; weather, traffic incidents, "
    "events and the route are unknown to the model.",
    f"{DISTANCE} is the recorded distance; where only an estimate is known before the trip, "
    "the error is larger than the validation metrics show.",
    "Zone pairs that are rare in the training month are estimated from few trips.",
    "Not meant for fares, driver pay, or any decision about an individual.",
)


def table(header: tuple[str, ...], rows: Sequence[tuple[object, ...]]) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows),
    ]
    return "\n".join(lines)


def number(value: object, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def cleaning_rows(settings: Settings, rows: dict[str, RowCounts]) -> list[tuple[object, ...]]:
    """Rows removed by each rule, per data set, in the order the rules are applied."""
    train, val = rows["train"], rows["validation"]
    lines: list[tuple[object, ...]] = [("rows read", train.read, val.read)]
    lines += [
        (
            f"quarantined: {reason}",
            train.quarantined.get(reason, 0),
            val.quarantined.get(reason, 0),
        )
        for reason in TRAINING_RULES.reasons
    ]
    low, high = settings.data.min_duration_minutes, settings.data.max_duration_minutes
    lines.append(
        (
            f"removed: duration outside {low:g}..{high:g} minutes",
            train.filtered_by_duration,
            val.filtered_by_duration,
        )
    )
    if train.outside_month or val.outside_month:
        lines.append(
            (
                "skipped by the reader: pickup outside the file's month",
                train.outside_month,
                val.outside_month,
            )
        )
    lines.append(("**rows used**", train.used, val.used))
    return lines


def figure_sections(figures: CardFigures) -> list[str]:
    """The pictures (linked by file name: they sit beside the card) and the per-borough table."""
    pictures = "\n\n".join(f"![{title}]({path.name})" for title, path in figures.files.items())
    boroughs = table(
        ("pickup borough", "trips", "mean absolute error", "mean residual"), figures.borough_rows
    )
    return [
        "## Pictures (validation month)\n\n" + pictures,
        "## Error by borough (validation month, minutes)\n\n"
        + boroughs
        + "\n\nResidual = predicted - actual: positive means the model expects longer trips.",
    ]


def render_model_card(
    settings: Settings,
    metrics: dict[str, float],
    record: RunRecord,
    figures: CardFigures | None = None,
) -> str:
    """The card as Markdown, from the record the training job registers with the model."""
    data = settings.data
    inputs = record.inputs
    months = (record.train_month, record.val_month)
    example_url = data.month_url(record.train_months[0])
    metric_rows = [
        (name, number(metrics[name]), number(metrics.get(f"{BASELINE_PREFIX}{name}", "")))
        for name in ("rmse", "mae", "r2")
    ]
    metric_rows.append(("train rmse", number(metrics["train_rmse"]), ""))

    sections = [
        f"# Model card: {settings.training.model_name}",
        f"Trained {record.trained_at} on {months[0]}, validated on {months[1]}. "
        f"Promotion: {record.promotion}.",
        "## Intended use\n\n"
        f"Estimate how many minutes a NYC {data.taxi_color}-taxi trip will take, when the trip "
        "starts: for arrival-time estimates and planning, where an error of a few minutes is "
        "acceptable. Not for individual decisions (see Limitations).",
        "## Data\n\n"
        + table(
            ("role", "month", "source", "sha256"),
            [
                (role, month, f"`{inputs[month].path}`", f"`{inputs[month].sha256}`")
                for role, role_months in (
                    ("train", record.train_months),
                    ("validation", record.val_months),
                )
                for month in role_months
            ],
        )
        + f"\n\nPublished by the NYC TLC, for example as `{example_url}`.",
        "## Input schema\n\n"
        + table(("column", "type", "meaning"), [input_row(column) for column in INPUTS])
        + f"\n\nTarget: `{DURATION}` = dropoff time - pickup time, in minutes.",
        "## Cleaning\n\nRules apply in order; a row is counted under the first rule it breaks.\n\n"
        + table(("step", "train", "validation"), cleaning_rows(settings, record.rows)),
        "## Features\n\n"
        + "\n".join(
            f"- `{name}`" + (" (categorical)" if name in CATEGORICAL_FEATURES else "")
            for name in FEATURE_NAMES
        ),
        "## Model and parameters\n\nLightGBM gradient-boosted trees (`LGBMRegressor`), "
        "deterministic (the same model with any number of threads).\n\n"
        + table(("parameter", "value"), sorted(record.params.items())),
        f"## Metrics (validation month {months[1]}, minutes)\n\n"
        + table(("metric", "model", "baseline"), metric_rows)
        + f"\n\nBaseline: {BASELINE}, fitted and scored in the same run on the same rows.",
        "## Training environment\n\n"
        + table(
            ("item", "value"),
            [
                ("seed", record.seed),
                ("threads", record.threads or settings.training.n_jobs),
                ("compute", record.compute),
                ("git commit", record.git_commit or "none (not a git checkout)"),
                *sorted(record.environment.items()),
            ],
        ),
        *(figure_sections(figures) if figures else []),
        "## Limitations\n\n" + "\n".join(f"- {text}" for text in LIMITATIONS),
    ]
    return "\n\n".join(sections) + "\n"


def write_model_card(
    path: Path,
    settings: Settings,
    metrics: dict[str, float],
    record: RunRecord,
    figures: CardFigures | None = None,
) -> Path:
    with atomic_write(path) as partial:
        card = render_model_card(settings, metrics, record, figures)
        partial.write_text(card, encoding="utf-8")
    return path
