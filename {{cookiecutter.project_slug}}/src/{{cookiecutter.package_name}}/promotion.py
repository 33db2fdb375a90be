"""The quality gate: a new model replaces the champion only if it is better on the same data."""

from __future__ import annotations

from dataclasses import dataclass


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
