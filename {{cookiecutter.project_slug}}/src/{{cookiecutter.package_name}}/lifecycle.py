"""Moving the champion by hand: ``promote`` the challenger on evidence, ``rollback`` it back.

``promote`` needs evidence that the challenger is better, by more than
``training.promotion_margin`` of RMSE: either the latest feedback report (the challenger's live
RMSE against the champion's, each on at least ``feedback.min_rows`` matched trips), or an offline
evaluation of both models on one month. ``--force`` with a reason overrides missing or contrary
evidence. ``rollback`` points the champion back at the champion before it, found by replaying the
registry's history (each promotion pushes a version, each rollback pops one), so successive
rollbacks walk back along the line of champions.

Both hold the registry's lock from reading the aliases to recording the move, and both append the
move, with when, why and the evidence, to the registry's history. A running service picks up the new
champion on restart.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import Settings
from .data import load_month
from .evaluate import rmse_on
from .feedback import latest_report
from .promotion import decide_promotion, move_alias
from .registry import ModelRegistry
from .versions import CHALLENGER, CHAMPION, PROMOTE, ROLLBACK, AliasEvent, ModelVersion

NOT_PROMOTED_EXIT_CODE = 3


class LifecycleError(RuntimeError):
    """A promotion or rollback that cannot be done as asked; nothing was changed."""

    exit_code = 1


class PromotionRefused(LifecycleError):  # noqa: N818 - the outcome, named as an operator reads it
    """The evidence does not show the challenger better (or there is none), and no ``--force``."""

    exit_code = NOT_PROMOTED_EXIT_CODE


@dataclass(frozen=True)
class Evidence:
    """A comparison of the challenger with the champion, and whether it favours the challenger."""

    kind: str  # "feedback" or "evaluation"
    challenger_rmse: float | None
    champion_rmse: float | None
    better: bool
    summary: str
    details: dict[str, object]

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "challenger_rmse": self.challenger_rmse,
            "champion_rmse": self.champion_rmse,
            "better": self.better,
            "summary": self.summary,
            **self.details,
        }


def compare(
    kind: str,
    challenger: float | None,
    champion: float | None,
    margin: float,
    details: dict[str, object],
) -> Evidence:
    """The evidence's verdict: the challenger's RMSE below the champion's minus the margin."""
    if challenger is None or champion is None:
        missing = "challenger" if challenger is None else "champion"
        return Evidence(kind, challenger, champion, False, f"no {missing} RMSE", details)
    better = decide_promotion(challenger, champion, margin).promote  # the training gate's rule
    summary = (
        f"{kind}: challenger RMSE {challenger:.4f} {'beats' if better else 'does not beat'} "
        f"champion RMSE {champion:.4f} by more than the margin {margin:g}"
    )
    return Evidence(kind, challenger, champion, better, summary, details)


def feedback_evidence(
    settings: Settings, challenger: ModelVersion, champion: ModelVersion | None
) -> Evidence:
    """The two versions' live RMSE from the latest feedback report."""
    folder = settings.feedback.reports_dir
    report = latest_report(folder)
    if report is None:
        details: dict[str, object] = {"reports_dir": str(folder)}
        return Evidence("feedback", None, None, False, f"no feedback report in {folder}", details)
    minimum = settings.feedback.min_rows

    def live_rmse(version: ModelVersion | None) -> float | None:
        if version is None:
            return None
        for group in report.get("versions", []):
            if group.get("model_version") == str(version.version) and group["rows"] >= minimum:
                return float(group["rmse"])
        return None

    details = {"report": report.get("json_summary"), "month": report.get("month")}
    evidence = compare(
        "feedback",
        live_rmse(challenger),
        live_rmse(champion),
        settings.training.promotion_margin,
        details,
    )
    missing = [
        f"{role} (version {version.version})"
        for role, version, rmse in (
            (CHALLENGER, challenger, evidence.challenger_rmse),
            (CHAMPION, champion, evidence.champion_rmse),
        )
        if version is not None and rmse is None
    ]
    if missing:
        summary = (
            f"the latest feedback report ({report.get('json_summary')}) has no live RMSE on "
            f"{minimum} or more matched trips for the {' and the '.join(missing)}: log both "
            "versions' predictions and run `feedback` again, or give --month"
        )
        return Evidence(
            "feedback", evidence.challenger_rmse, evidence.champion_rmse, False, summary, details
        )
    return evidence


def evaluation_evidence(
    settings: Settings,
    registry: ModelRegistry,
    challenger: ModelVersion,
    champion: ModelVersion | None,
    month: str,
) -> Evidence:
    """Both models measured offline on the same month's trips."""
    trips = load_month(settings.data, month)
    score = rmse_on(trips)

    def rmse(version: ModelVersion | None) -> float | None:
        return None if version is None else score(registry.load(version.version))

    details: dict[str, object] = {"month": month, "rows": len(trips.trips)}
    return compare(
        "evaluation",
        rmse(challenger),
        rmse(champion),
        settings.training.promotion_margin,
        details,
    )


def promote_challenger(
    settings: Settings,
    registry: ModelRegistry,
    *,
    month: str | None = None,
    force: bool = False,
    reason: str | None = None,
) -> AliasEvent:
    """Make the challenger the champion, on evidence or by force; the challenger alias is removed.

    Raises PromotionRefused (nothing changed) when the evidence does not favour the challenger
    and ``force`` is not set.
    """
    if force and not (reason and reason.strip()):
        raise LifecycleError("--force needs --reason: the history records why")
    with registry.lock():
        challenger = registry.get_version(CHALLENGER)
        if challenger is None:
            raise LifecycleError(
                "no model has the alias 'challenger': `train` sets it when a candidate does not "
                "beat the champion"
            )
        champion = registry.get_version(CHAMPION)
        if champion is not None and champion.version == challenger.version:
            raise LifecycleError(f"version {challenger.version} is already the champion")
        if month is not None:
            evidence = evaluation_evidence(settings, registry, challenger, champion, month)
        else:
            evidence = feedback_evidence(settings, challenger, champion)
        if champion is None:
            summary = "no champion: the challenger takes its place"
            evidence = Evidence(evidence.kind, None, None, True, summary, {})
        if not evidence.better and not force:
            raise PromotionRefused(
                f"not promoted: {evidence.summary}; to promote anyway: --force --reason '...'"
            )
        why = evidence.summary if not force else f"forced: {reason}; evidence: {evidence.summary}"
        event = move_alias(
            registry,
            CHAMPION,
            challenger.version,
            action=PROMOTE,
            reason=why,
            evidence=evidence.as_dict(),
        )
        registry.delete_alias(CHALLENGER)
    return event


def champion_line(history: list[AliasEvent]) -> list[int]:
    """The champions in order, from the history: promotions push a version, rollbacks pop one."""
    line: list[int] = []
    for event in history:
        if event.alias != CHAMPION:
            continue
        if event.action == ROLLBACK:
            if line and line[-1] == event.previous:
                line.pop()
            if not line or line[-1] != event.version:
                line.append(event.version)
            continue
        if not line and event.previous is not None:
            line.append(event.previous)
        if not line or line[-1] != event.version:
            line.append(event.version)
    return line


def previous_champion(history: list[AliasEvent], current: int) -> int | None:
    """The champion before ``current`` in the recorded line (None when there was none)."""
    line = champion_line(history)
    while line and line[-1] == current:
        line.pop()
    return line[-1] if line else None


def rollback_champion(registry: ModelRegistry, reason: str) -> AliasEvent:
    """Point the champion back at the previous one; a LifecycleError when there is none."""
    if not reason.strip():
        raise LifecycleError("rollback needs --reason: the history records why")
    with registry.lock():
        champion = registry.get_version(CHAMPION)
        if champion is None:
            raise LifecycleError("no champion to roll back")
        target = previous_champion(registry.history(), champion.version)
        if target is None:
            raise LifecycleError(
                f"the registry's history records no champion before version {champion.version}"
            )
        registry.load(target)  # a previous champion that cannot be loaded must not be served
        return move_alias(registry, CHAMPION, target, action=ROLLBACK, reason=reason)
