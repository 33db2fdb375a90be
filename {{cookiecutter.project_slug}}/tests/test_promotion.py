"""The gate's comparison stays current: another job's promotion and a broken champion."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field

from {{ cookiecutter.package_name }}.promotion import ChampionScore, promote, score_champion
from {{ cookiecutter.package_name }}.versions import (
    CHALLENGER,
    CHAMPION,
    ModelLoadError,
    ModelVersion,
)


@dataclass
class Scored:
    """Stands in for a model: its score on the validation rows."""

    rmse: float


@dataclass
class MemoryRegistry:
    """A registry without a lock, like a remote registry server: others may move aliases anytime."""

    models: dict[int, Scored | None] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)

    def lock(self):
        return nullcontext()

    def get_version(self, alias: str) -> ModelVersion | None:
        number = self.aliases.get(alias)
        return None if number is None else ModelVersion("m", number, metrics={})

    def load(self, version: int) -> Scored:
        model = self.models[version]
        if model is None:
            raise ModelLoadError(version, f"v{version}/model.txt", "the file is missing")
        return model

    def set_alias(self, alias: str, version: int) -> None:
        self.aliases[alias] = version


def by_rmse(model: Scored) -> float:
    return model.rmse


def test_the_champion_is_read_again_just_before_the_alias_moves():
    registry = MemoryRegistry(models={1: Scored(5.0)})
    compared = score_champion(registry, by_rmse)  # no champion yet: would promote
    assert compared == ChampionScore(None, None)
    # Meanwhile another training promoted a better model than the candidate.
    registry.models[2] = Scored(4.0)
    registry.aliases[CHAMPION] = 2
    decision = promote(
        registry, 1, candidate_rmse=5.0, compared=compared, score=by_rmse, margin=0.0
    )
    assert not decision.promote
    assert registry.aliases == {CHAMPION: 2, CHALLENGER: 1}


def test_a_champion_that_cannot_be_loaded_scores_nothing_and_is_replaced():
    registry = MemoryRegistry(models={1: None, 2: Scored(9.0)}, aliases={CHAMPION: 1})
    compared = score_champion(registry, by_rmse)
    assert compared == ChampionScore(1, None)
    decision = promote(
        registry, 2, candidate_rmse=9.0, compared=compared, score=by_rmse, margin=0.0
    )
    assert decision.promote
    assert registry.aliases[CHAMPION] == 2
