"""The gate's comparison stays current: another job's promotion and a broken champion."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field

from {{ cookiecutter.package_name }}.promotion import (
    ChampionScore,
    PromotionDecision,
    promote,
    score_champion,
)
from {{ cookiecutter.package_name }}.versions import (
    CHALLENGER,
    CHAMPION,
    TRAIN,
    AliasConflictError,
    AliasEvent,
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
    events: list[AliasEvent] = field(default_factory=list)

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

    def record(self, event: AliasEvent) -> None:
        self.events.append(event)


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
    moved = registry.events[-1]
    assert (moved.action, moved.alias, moved.version, moved.previous) == (TRAIN, CHAMPION, 2, 1)
    assert moved.reason == decision.reason


@dataclass
class RacingRegistry(MemoryRegistry):
    """Another job's alias write lands at the moment of ours, as on a shared registry server."""

    rival: tuple[int, Scored] = (9, Scored(1.0))
    refuse_first_write: bool = False
    overwrite_after_first_write: bool = False
    writes: int = 0

    def set_alias(self, alias: str, version: int) -> None:
        self.writes += 1
        number, model = self.rival
        if self.writes == 1 and self.refuse_first_write:
            self.models[number] = model  # the rival inserted the alias first: ours is a duplicate
            self.aliases[CHAMPION] = number
            raise AliasConflictError(f"m@{alias} moved by another job")
        super().set_alias(alias, version)
        if self.writes == 1 and self.overwrite_after_first_write:
            self.models[number] = model  # the rival's write, a moment after ours, wins
            self.aliases[CHAMPION] = number


def promote_version_1(registry: RacingRegistry, candidate_rmse: float) -> PromotionDecision:
    """Version 1 goes through the gate, having seen no champion when it was scored."""
    return promote(
        registry,
        1,
        candidate_rmse=candidate_rmse,
        compared=ChampionScore(None, None),
        score=by_rmse,
        margin=0.0,
    )


def test_a_duplicate_alias_write_is_compared_again_not_fatal():
    registry = RacingRegistry(
        models={1: Scored(5.0)}, refuse_first_write=True, rival=(2, Scored(4.0))
    )
    decision = promote_version_1(registry, candidate_rmse=5.0)
    assert not decision.promote
    assert registry.aliases == {CHAMPION: 2, CHALLENGER: 1}


def test_a_worse_rival_that_overwrites_the_champion_is_replaced_again():
    registry = RacingRegistry(
        models={1: Scored(4.0)}, overwrite_after_first_write=True, rival=(2, Scored(5.0))
    )
    decision = promote_version_1(registry, candidate_rmse=4.0)
    assert decision.promote
    assert registry.aliases[CHAMPION] == 1
    assert registry.writes == 2


def test_a_better_rival_that_overwrites_the_champion_keeps_it():
    registry = RacingRegistry(
        models={1: Scored(5.0)}, overwrite_after_first_write=True, rival=(2, Scored(4.0))
    )
    decision = promote_version_1(registry, candidate_rmse=5.0)
    assert not decision.promote
    assert registry.aliases == {CHAMPION: 2, CHALLENGER: 1}
