"""The ground-truth feedback loop: the models' real error, once a month's actual durations arrive.

TLC records carry no request id, so a logged prediction is matched to a recorded trip by what both
know: pickup zone, dropoff zone, trip distance (to ``feedback.distance_decimals`` miles) and pickup
time (to the second, New York wall time as both write it). Every logged row of the month ends in
exactly one group, and the counts are reported:

- ``matched``: exactly one recorded trip has the row's key; it is scored, unless the actual
  duration is outside the modelled range (``outside_duration_range``, counted, not scored, as in
  training);
- ``ambiguous``: several recorded trips share the key, so the actual duration is unknown;
- ``unmatched``: no recorded trip has the key (a trip that was cancelled, or asked about with other
  values than the TLC recorded).

Rows outside the month, or that no model could score, are counted apart. Unmatched and ambiguous
rows are written beside the report, so that nothing is dropped unseen.

RMSE and MAE are reported per model version and role (``champion``, ``challenger``), over the
whole month and per time window. A log written before versions and roles were logged is one model:
its rows count as the champion's. The champion's live RMSE is compared with its validation RMSE:
above ``validation x (1 + feedback.max_rmse_increase)`` the model has degraded (the trips changed
in a way the model misses), and ``feedback`` exits with ``DEGRADED_EXIT_CODE``.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from loguru import logger

from .config import ENV_PREFIX, Settings
from .data import (
    DataError,
    duration_minutes,
    read_folder,
    read_parquet_checked,
    read_trips,
    to_trips,
)
from .evaluate import regression_metrics
from .outputs import atomic_write
from .trip import (
    DISTANCE,
    DROPOFF_ZONE,
    DURATION,
    INFERENCE_COLUMNS,
    MODEL_VERSION,
    PICKUP,
    PICKUP_ZONE,
    PREDICTION,
    ROLE,
    TRAINING_COLUMNS,
)
from .validation import INFERENCE_RULES, TRAINING_RULES, first_violation
from .versions import CHAMPION, ModelVersion

DEGRADED_EXIT_CODE = 8
STATUS = "match_status"
UNKNOWN_VERSION = "unknown"
MATCHED, AMBIGUOUS, UNMATCHED = "matched", "ambiguous", "unmatched"
WINDOW_PERIODS = {"day": "D", "week": "W", "month": "M"}
KEY = ("_pickup_zone", "_dropoff_zone", "_distance", "_pickup_second")


@dataclass
class GroupMetrics:
    """The live error of one model version in one role (and, in ``windows``, one time window)."""

    model_version: str
    role: str
    rows: int
    rmse: float
    mae: float
    window: str = ""


@dataclass
class ChampionVerdict:
    """The champion's live RMSE against its validation RMSE; ``degraded`` None means no verdict."""

    version: int | None
    validation_rmse: float | None
    live_rmse: float | None
    rows: int
    max_rmse_increase: float
    rmse_limit: float | None
    degraded: bool | None
    note: str


@dataclass
class FeedbackReport:
    """What ``feedback`` writes as JSON (and shows as HTML)."""

    month: str
    window: str
    actuals: dict[str, object]
    predictions: dict[str, object]
    matching: dict[str, object]
    versions: list[GroupMetrics]
    models: list[GroupMetrics]
    windows: list[GroupMetrics]
    champion: ChampionVerdict
    html_report: str = ""
    json_summary: str = ""
    unmatched_rows: str = ""
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def headline(self) -> dict[str, object]:
        """The lines an operator reads first."""
        return {
            "month": self.month,
            "match_rate": self.matching["match_rate"],
            "versions": [asdict(group) for group in self.versions],
            "champion": asdict(self.champion),
            "html_report": self.html_report,
            "json_summary": self.json_summary,
        }


def match_keys(trips: pd.DataFrame, decimals: int) -> pd.DataFrame:
    """The columns a logged prediction and a recorded trip are matched on, as exact integers."""
    scale = 10**decimals
    return pd.DataFrame(
        {
            KEY[0]: trips[PICKUP_ZONE].astype("int64").to_numpy(),
            KEY[1]: trips[DROPOFF_ZONE].astype("int64").to_numpy(),
            KEY[2]: np.rint(trips[DISTANCE].to_numpy(dtype=float) * scale).astype("int64"),
            KEY[3]: trips[PICKUP].dt.floor("s").to_numpy(),
        },
        index=trips.index,
    )


def read_actuals(path: Path) -> tuple[pd.DataFrame, dict[str, object]]:
    """The month's recorded trips that pass the training rules, with their actual duration."""
    trips = read_trips(path, TRAINING_COLUMNS)
    bad = first_violation(trips, TRAINING_RULES).notna().to_numpy()
    valid = trips[~bad]
    valid = valid.assign(**{DURATION: duration_minutes(valid)})
    return valid, {"source": str(path), "rows": len(trips), "quarantined": int(bad.sum())}


def read_predictions(source: Path) -> pd.DataFrame:
    """A prediction log folder or a file of predictions, with canonical trip columns.

    The model version and role are kept when the log has them; without them, every row is one
    model's: the version the rows name (or ``unknown``) in the ``champion`` role.
    """
    raw = read_folder(source) if source.is_dir() else read_parquet_checked(source)
    if PREDICTION not in raw:
        raise DataError(f"{source}: no {PREDICTION} column: not a prediction log")
    trips = to_trips(raw, INFERENCE_COLUMNS, source)
    trips[PREDICTION] = pd.to_numeric(raw[PREDICTION], errors="coerce").to_numpy(dtype=float)
    trips[MODEL_VERSION] = version_labels(raw.get(MODEL_VERSION))
    role = raw.get(ROLE)
    roles = CHAMPION if role is None else role.astype("string").fillna(CHAMPION).to_numpy()
    trips[ROLE] = roles
    return trips


def version_labels(values: pd.Series | None) -> np.ndarray | str:
    """Versions as text ("3"), whether the log stored them as text, integers or floats."""
    if values is None:
        return UNKNOWN_VERSION
    numbers = pd.to_numeric(values, errors="coerce")
    whole = numbers.notna() & (numbers % 1 == 0)
    labels = values.astype("string")
    labels = labels.mask(whole, numbers[whole].astype("Int64").astype("string"))
    return labels.fillna(UNKNOWN_VERSION).to_numpy(dtype=object)


def match(
    logged: pd.DataFrame, actuals: pd.DataFrame, decimals: int
) -> tuple[pd.Series, pd.Series]:
    """Each logged row's match status and, when matched, the actual duration (NaN otherwise)."""
    recorded = match_keys(actuals, decimals)
    recorded[DURATION] = actuals[DURATION].to_numpy()
    counts = recorded.groupby(list(KEY), sort=False)[DURATION].agg(["size", "first"])
    keys = match_keys(logged, decimals)
    joined = keys.join(counts, on=list(KEY))
    size = joined["size"].fillna(0).to_numpy()
    status = np.where(size == 1, MATCHED, np.where(size > 1, AMBIGUOUS, UNMATCHED))
    actual = np.where(size == 1, joined["first"].to_numpy(dtype=float), np.nan)
    return pd.Series(status, index=logged.index), pd.Series(actual, index=logged.index)


def group_metrics(frame: pd.DataFrame, by: list[str]) -> list[GroupMetrics]:
    """RMSE and MAE of each group of scored rows, in a stable order."""
    groups = []
    for values, group in frame.groupby(by, sort=True):
        labels = dict(zip(by, values if isinstance(values, tuple) else (values,), strict=True))
        metrics = regression_metrics(group[DURATION].to_numpy(), group[PREDICTION].to_numpy())
        groups.append(
            GroupMetrics(
                model_version=str(labels.get(MODEL_VERSION, "")),
                role=str(labels.get(ROLE, "")),
                rows=len(group),
                rmse=metrics["rmse"],
                mae=metrics["mae"],
                window=str(labels.get("window", "")),
            )
        )
    return groups


def champion_verdict(
    scored: pd.DataFrame, champion: ModelVersion | None, settings: Settings
) -> ChampionVerdict:
    """Compare the champion's live RMSE with its validation RMSE."""
    feedback = settings.feedback
    if champion is None:
        rows = scored.iloc[0:0]
    else:
        ours = scored[MODEL_VERSION].isin([str(champion.version), UNKNOWN_VERSION])
        rows = scored[ours & (scored[ROLE] == CHAMPION)]
    validation = None if champion is None else champion.metrics.get("rmse")
    live = None
    if len(rows):
        live = regression_metrics(rows[DURATION].to_numpy(), rows[PREDICTION].to_numpy())["rmse"]
    limit = None if validation is None else validation * (1 + feedback.max_rmse_increase)
    verdict = ChampionVerdict(
        version=None if champion is None else champion.version,
        validation_rmse=validation,
        live_rmse=live,
        rows=len(rows),
        max_rmse_increase=feedback.max_rmse_increase,
        rmse_limit=limit,
        degraded=None,
        note="",
    )
    if champion is None:
        verdict.note = "no champion in the registry"
    elif limit is None:
        verdict.note = f"version {champion.version} has no validation RMSE to compare with"
    elif len(rows) < feedback.min_rows:
        verdict.note = (
            f"{len(rows)} scored row(s) of the champion, fewer than {feedback.min_rows} "
            f"({ENV_PREFIX}FEEDBACK__MIN_ROWS): too few to judge"
        )
    elif live is not None:
        verdict.degraded = live > limit
        verdict.note = (
            f"live RMSE {live:.3f} {'above' if verdict.degraded else 'within'} the limit "
            f"{limit:.3f} (validation {validation:.3f} x {1 + feedback.max_rmse_increase:g})"
        )
    return verdict


def in_month(trips: pd.DataFrame, month: str) -> np.ndarray:
    start = pd.Timestamp(f"{month}-01")
    end = start + pd.offsets.MonthBegin(1)
    pickup = trips[PICKUP]
    return ((pickup >= start) & (pickup < end)).fillna(False).to_numpy(dtype=bool)


def run_feedback(
    settings: Settings,
    month: str,
    predictions: Path,
    champion: ModelVersion | None,
    output_dir: Path | None = None,
) -> FeedbackReport:
    """Join the predictions of ``month`` with its actual durations and report the live error."""
    feedback = settings.feedback
    actuals, actual_facts = read_actuals(settings.data.month_file(month))
    logged = read_predictions(predictions)
    usable = first_violation(logged, INFERENCE_RULES).isna().to_numpy() & np.isfinite(
        logged[PREDICTION].to_numpy()
    )
    inside = in_month(logged, month)
    considered = logged[usable & inside].copy()
    status, actual = match(considered, actuals, feedback.distance_decimals)
    considered[STATUS] = status
    considered[DURATION] = actual
    data = settings.data
    in_range = considered[DURATION].between(data.min_duration_minutes, data.max_duration_minutes)
    scored = considered[(status == MATCHED) & in_range]
    period = WINDOW_PERIODS[feedback.window]
    scored = scored.assign(window=scored[PICKUP].dt.to_period(period).astype(str))
    counts = status.value_counts()
    matched = int(counts.get(MATCHED, 0))
    matching: dict[str, object] = {
        "considered": len(considered),
        MATCHED: matched,
        AMBIGUOUS: int(counts.get(AMBIGUOUS, 0)),
        UNMATCHED: int(counts.get(UNMATCHED, 0)),
        "match_rate": round(matched / len(considered), 4) if len(considered) else 0.0,
        "scored": len(scored),
        "outside_duration_range": matched - len(scored),
        "distance_decimals": feedback.distance_decimals,
    }
    report = FeedbackReport(
        month=month,
        window=feedback.window,
        actuals=actual_facts,
        predictions={
            "source": str(predictions),
            "rows": len(logged),
            "outside_month": int((usable & ~inside).sum()),
            "not_scorable": int((~usable).sum()),
        },
        matching=matching,
        versions=group_metrics(scored, [MODEL_VERSION]),
        models=group_metrics(scored, [MODEL_VERSION, ROLE]),
        windows=group_metrics(scored, ["window", MODEL_VERSION, ROLE]),
        champion=champion_verdict(scored, champion, settings),
    )
    write_report(report, considered[status != MATCHED], output_dir or feedback.reports_dir)
    log = logger.warning if report.champion.degraded else logger.info
    log(
        "feedback {}: {} of {} logged rows matched ({:.1%}); champion: {}",
        month,
        matched,
        len(considered),
        matching["match_rate"],
        report.champion.note,
    )
    return report


def write_report(report: FeedbackReport, unmatched: pd.DataFrame, folder: Path) -> None:
    """The JSON summary, the HTML page and the rows that were not matched, each written whole."""
    stem = folder / f"feedback_{report.month}"
    report.json_summary = str(stem.with_suffix(".json"))
    report.html_report = str(stem.with_suffix(".html"))
    report.unmatched_rows = str(stem.with_name(f"{stem.name}_unmatched.parquet"))
    with atomic_write(Path(report.unmatched_rows)) as partial:
        unmatched.drop(columns=[DURATION]).to_parquet(partial, index=False)
    with atomic_write(Path(report.html_report)) as partial:
        partial.write_text(render_html(report), "utf-8")
    with atomic_write(Path(report.json_summary)) as partial:
        partial.write_text(json.dumps(report.as_dict(), indent=2), "utf-8")


def render_html(report: FeedbackReport) -> str:
    """A self-contained page: the match counts, the champion's verdict and the error tables."""

    def table(rows: list[GroupMetrics], with_window: bool) -> str:
        head = ["window"] if with_window else []
        head += ["model version", "role", "rows", "RMSE (min)", "MAE (min)"]
        cells = "".join(f"<th>{name}</th>" for name in head)
        body = []
        for row in rows:
            values: list[Any] = [row.window] if with_window else []
            values += [row.model_version, row.role, row.rows, f"{row.rmse:.3f}", f"{row.mae:.3f}"]
            body.append("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in values))
        return f"<table><tr>{cells}</tr>{''.join(body)}</table>"

    matching = "".join(
        f"<tr><th>{html.escape(name)}</th><td>{html.escape(str(value))}</td></tr>"
        for name, value in report.matching.items()
    )
    verdict = report.champion
    state = {True: "DEGRADED", False: "ok", None: "no verdict"}[verdict.degraded]
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Feedback {html.escape(report.month)}</title>"
        "<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}</style>"
        f"</head><body><h1>Live error, {html.escape(report.month)}</h1>"
        f"<h2>Champion (version {verdict.version}): {state}</h2>"
        f"<p>{html.escape(verdict.note)}</p>"
        f"<h2>Matching</h2><table>{matching}</table>"
        f"<h2>By model</h2>{table(report.models, with_window=False)}"
        f"<h2>By {html.escape(report.window)}</h2>{table(report.windows, with_window=True)}"
        "</body></html>"
    )


def latest_report(folder: Path) -> dict[str, Any] | None:
    """The most recently written feedback summary in ``folder`` (by its ``created_at``)."""
    reports = []
    for path in folder.glob("feedback_*.json"):
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise DataError(f"{path}: unreadable feedback report ({error})") from error
        if isinstance(content, dict) and "versions" in content:
            reports.append((str(content.get("created_at", "")), str(path), content))
    if not reports:
        return None
    return max(reports, key=lambda item: (item[0], item[1]))[2]
