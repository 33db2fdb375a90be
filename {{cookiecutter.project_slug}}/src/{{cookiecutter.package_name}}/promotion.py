"""The quality gate: a new model replaces the champion only if it is better on the same data.

The comparison and the alias move happen under the registry's lock, so two concurrent trainings
cannot both promote against the same old champion. Every alias move is recorded in the registry's
history (``move_alias``), which is what ``rollback`` reads to find the previous champion.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from loguru import logger

from .versions import (
    CHALLENGER,
    CHAMPION,
    TRAIN,
    AliasConflictError,
    AliasEvent,
    ModelLoadError,
    ModelVersion,
    RegistryError,
)

if TYPE_CHECKING:
    from .model import TripDurationModel
    from .registry import ModelRegistry
    from .scores import ScoreCache


# Concurrent jobs on a server without a lock converge in a few rounds; beyond this, give up loudly.
MAX_PROMOTION_ATTEMPTS = 10
# A version number no champion has: forces the next round to read and score the champion again.
UNKNOWN_VERSION = -1


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str


def decide_promotion(
    candidate_rmse: float, champion_rmse: float | None, margin: float
) -> PromotionDecision:
    """Promote when there is no champion, or when the candidate's RMSE beats it by ``margin``."""
    if champion_rmse is None:
        return PromotionDecision(True, "no champion yet: the first model becomes champion")
    needed = champion_rmse - margin
    if candidate_rmse < needed:
        return PromotionDecision(
            True,
            f"candidate RMSE {candidate_rmse:.4f} beats champion {champion_rmse:.4f} "
            f"by more than the margin {margin:g}",
        )
    return PromotionDecision(
        False,
        f"candidate RMSE {candidate_rmse:.4f} does not beat champion {champion_rmse:.4f} "
        f"by more than the margin {margin:g} (needed < {needed:.4f}); kept as challenger",
    )


@dataclass(frozen=True)
class ChampionScore:
    """The champion a candidate was compared with; ``rmse`` is None when there is none to beat."""

    version: int | None
    rmse: float | None


def score_champion(
    registry: ModelRegistry,
    score: Callable[[TripDurationModel], float],
    cache: ScoreCache | None = None,
) -> ChampionScore:
    """The current champion's score; a champion that cannot be loaded scores None, with a warning.

    A broken champion must not block its own repair: the next good model replaces it. With a
    ``cache``, a score already known for this version on these validation rows is reused; the
    champion is still loaded (cheap next to predicting every validation row), so a damaged one
    is found and replaced all the same.
    """
    champion = registry.get_version(CHAMPION)
    if champion is None:
        return ChampionScore(None, None)
    try:
        model = registry.load(champion.version)
    except ModelLoadError as error:
        error.alias = CHAMPION
        logger.warning("{}; it counts as having no score, so the new model replaces it", error)
        return ChampionScore(champion.version, None)
    if cache is not None and (known := cache.get(champion)) is not None:
        logger.info("champion v{} was scored before on these validation rows", champion.version)
        return ChampionScore(champion.version, known)
    rmse = score(model)
    if cache is not None:
        cache.put(champion, rmse)
    return ChampionScore(champion.version, rmse)


def promote(
    registry: ModelRegistry,
    candidate: int,
    *,
    candidate_rmse: float,
    compared: ChampionScore,
    score: Callable[[TripDurationModel], float],
    margin: float,
    cache: ScoreCache | None = None,
) -> PromotionDecision:
    """Move ``champion`` (or ``challenger``) to the candidate, on a comparison that is current.

    Under the registry's lock the champion cannot change between the comparison and the move. A
    store without one (a remote registry server) is re-read just before the move and read again
    after it: when another job moved the champion at the same moment (its write won, or the
    server refused ours as a duplicate), the candidate is compared with that champion and the
    move is made again. Every job ends agreeing on the better model, whichever wrote last.
    """
    for _ in range(MAX_PROMOTION_ATTEMPTS):
        with registry.lock():
            latest = registry.get_version(CHAMPION)
            if version_of(latest) != compared.version:
                compared = score_champion(registry, score, cache)
                logger.info("the champion changed during registration: compared again")
            decision = decide_promotion(candidate_rmse, compared.rmse, margin)
            alias = CHAMPION if decision.promote else CHALLENGER
            try:
                move_alias(registry, alias, candidate, action=TRAIN, reason=decision.reason)
            except AliasConflictError as conflict:
                logger.info("{}: compared again", conflict)
                compared = ChampionScore(UNKNOWN_VERSION, None)
                continue
        if not decision.promote:
            return decision
        after = version_of(registry.get_version(CHAMPION))
        if after == candidate:
            return decision
        logger.info("another job moved the champion to version {}: compared again", after)
        compared = ChampionScore(UNKNOWN_VERSION, None)
    raise RegistryError(
        f"the champion kept moving during {MAX_PROMOTION_ATTEMPTS} attempts to promote version "
        f"{candidate}; it is registered: set the alias by hand or train again"
    )


def version_of(version: ModelVersion | None) -> int | None:
    return None if version is None else version.version


def move_alias(
    registry: ModelRegistry,
    alias: str,
    version: int,
    *,
    action: str,
    reason: str,
    evidence: dict[str, object] | None = None,
) -> AliasEvent:
    """Point ``alias`` at ``version`` and append the move, with when and why, to the history.

    Callers hold the registry's lock, so the version read as ``previous`` is the one replaced. A
    move the store refuses (``AliasConflictError``) is not recorded.
    """
    current = registry.get_version(alias)
    registry.set_alias(alias, version)
    event = AliasEvent(
        action=action,
        alias=alias,
        version=version,
        previous=version_of(current),
        reason=reason,
        at=datetime.now(UTC).isoformat(timespec="seconds"),
        evidence=dict(evidence or {}),
    )
    registry.record(event)
    return event
