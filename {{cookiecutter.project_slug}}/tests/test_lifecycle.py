"""promote and rollback on the project's registry: evidence required, every move in the history."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.config import ENV_PREFIX, Settings
from {{ cookiecutter.package_name }}.data import INFERENCE_COLUMNS, read_trips, split_for_inference
from {{ cookiecutter.package_name }}.feedback import MODEL_VERSION, PREDICTION, ROLE, run_feedback
from {{ cookiecutter.package_name }}.lifecycle import (
    NOT_PROMOTED_EXIT_CODE,
    LifecycleError,
    PromotionRefused,
    champion_line,
    promote_challenger,
    rollback_champion,
)
from {{ cookiecutter.package_name }}.registry import open_registry
from {{ cookiecutter.package_name }}.train import run_training
from {{ cookiecutter.package_name }}.versions import (
    CHALLENGER,
    CHAMPION,
    PROMOTE,
    ROLLBACK,
    TRAIN,
    AliasEvent,
)

from .conftest import SAMPLE_DIR

pytestmark = pytest.mark.slow
runner = CliRunner()
WEAK = {"n_estimators": 5}  # a visibly worse model than the defaults


def train_with(settings: Settings, **training: object) -> int:
    """Train on the sample with other training settings; the version registered."""
    changed = settings.training.model_copy(update=training)
    return run_training(settings.model_copy(update={"training": changed})).version.version


def weak_champion_strong_challenger(settings: Settings) -> tuple[int, int]:
    """A weak champion, then a better model that a huge margin kept as the challenger."""
    weak = train_with(settings, **WEAK)
    strong = train_with(settings, promotion_margin=1000.0)
    return weak, strong


def aliases(settings: Settings) -> tuple[int | None, int | None]:
    registry = open_registry(settings)
    champion, challenger = (registry.get_version(alias) for alias in (CHAMPION, CHALLENGER))
    return (
        None if champion is None else champion.version,
        None if challenger is None else challenger.version,
    )


def test_promote_and_rollback_round_trip(settings: Settings):
    weak, strong = weak_champion_strong_challenger(settings)
    assert aliases(settings) == (weak, strong)

    promoted = promote_challenger(settings, open_registry(settings), month="2023-02")
    assert (promoted.action, promoted.version, promoted.previous) == (PROMOTE, strong, weak)
    assert promoted.evidence["kind"] == "evaluation"
    assert promoted.evidence["challenger_rmse"] < promoted.evidence["champion_rmse"]
    assert aliases(settings) == (strong, None)  # the challenger alias is gone with the promotion

    rolled = rollback_champion(open_registry(settings), "p99 latency alarms after the promotion")
    assert (rolled.action, rolled.version, rolled.previous) == (ROLLBACK, weak, strong)
    assert aliases(settings) == (weak, None)

    history = open_registry(settings).history()
    assert [(e.action, e.alias, e.version, e.previous) for e in history] == [
        (TRAIN, CHAMPION, weak, None),
        (TRAIN, CHALLENGER, strong, None),
        (PROMOTE, CHAMPION, strong, weak),
        (ROLLBACK, CHAMPION, weak, strong),
    ]
    assert history[-1].reason == "p99 latency alarms after the promotion"
    assert all(event.at for event in history)
    with pytest.raises(LifecycleError, match="no champion before version"):
        rollback_champion(open_registry(settings), "once more")
    assert aliases(settings) == (weak, None)


def test_promote_without_evidence_is_refused_and_changes_nothing(settings: Settings):
    strong = train_with(settings)
    weak = train_with(settings, **WEAK)  # worse: the gate keeps it as the challenger
    registry = open_registry(settings)
    assert aliases(settings) == (strong, weak)

    with pytest.raises(PromotionRefused, match="no feedback report"):
        promote_challenger(settings, registry)
    with pytest.raises(PromotionRefused, match="does not beat"):
        promote_challenger(settings, registry, month="2023-02")
    with pytest.raises(LifecycleError, match="needs --reason"):
        promote_challenger(settings, registry, force=True)
    assert aliases(settings) == (strong, weak)
    assert [event.action for event in registry.history()] == [TRAIN, TRAIN]

    forced = promote_challenger(
        settings, registry, month="2023-02", force=True, reason="incident 42: feature fix"
    )
    assert forced.version == weak
    assert forced.reason.startswith("forced: incident 42: feature fix; evidence: evaluation")
    assert registry.history()[-1] == forced


def test_promote_on_live_evidence_from_the_feedback_report(settings: Settings, tmp_path: Path):
    weak, strong = weak_champion_strong_challenger(settings)
    registry = open_registry(settings)
    month = "2024-01"
    trips = split_for_inference(
        read_trips(SAMPLE_DIR / f"green_tripdata_{month}.parquet", INFERENCE_COLUMNS)
    )[0]
    frames = []
    for number, role in ((weak, CHAMPION), (strong, CHALLENGER)):
        predicted = registry.load(number).predict(trips)
        frames.append(trips.assign(**{PREDICTION: predicted, MODEL_VERSION: number, ROLE: role}))
    log = tmp_path / "log"
    log.mkdir()
    pd.concat(frames).to_parquet(log / "predictions-1.parquet", index=False)
    report = run_feedback(settings, month, log, registry.get_version(CHAMPION))
    live = {group.model_version: group.rmse for group in report.versions}
    assert live[str(strong)] < live[str(weak)]

    promoted = promote_challenger(settings, registry)
    assert promoted.version == strong
    assert promoted.evidence["kind"] == "feedback"
    assert promoted.evidence["challenger_rmse"] == pytest.approx(live[str(strong)])
    assert promoted.evidence["report"] == report.json_summary


def test_the_commands_exit_with_their_statuses(isolated_env: Path):
    assert runner.invoke(app, ["train"]).exit_code == 0
    nothing = runner.invoke(app, ["promote", "--month", "2023-02"])
    assert nothing.exit_code == 1
    assert "no model has the alias 'challenger'" in nothing.output
    env = {f"{ENV_PREFIX}TRAINING__N_ESTIMATORS": "5"}
    assert runner.invoke(app, ["train"], env=env).exit_code == 0  # worse: challenger
    refused = runner.invoke(app, ["promote", "--month", "2023-02"])
    assert refused.exit_code == NOT_PROMOTED_EXIT_CODE, refused.output
    assert "--force --reason" in refused.output

    forced = runner.invoke(app, ["promote", "--force", "--reason", "testing the rollback"])
    assert forced.exit_code == 0, forced.output
    assert json.loads(forced.stdout)["version"] == 2
    assert runner.invoke(app, ["rollback"]).exit_code == 2  # --reason is required
    rolled = runner.invoke(app, ["rollback", "--reason", "bad canary"])
    assert rolled.exit_code == 0, rolled.output
    assert json.loads(rolled.stdout)["version"] == 1

    shown = runner.invoke(app, ["history"])
    assert shown.exit_code == 0
    actions = [json.loads(line)["action"] for line in shown.stdout.splitlines()]
    assert actions == [TRAIN, TRAIN, PROMOTE, ROLLBACK]


def event(action: str, version: int, previous: int | None) -> AliasEvent:
    return AliasEvent(action, CHAMPION, version, previous, reason="", at="")


def test_the_line_of_champions_walks_back_through_rollbacks():
    history = [
        event(TRAIN, 1, None),
        event(TRAIN, 2, 1),
        event(PROMOTE, 4, 2),
        event(ROLLBACK, 2, 4),
        event(TRAIN, 5, 2),
    ]
    assert champion_line(history) == [1, 2, 5]
    assert champion_line([*history, event(ROLLBACK, 2, 5), event(ROLLBACK, 1, 2)]) == [1]
    # A history that starts after the registry did (an older project) starts at its first move.
    assert champion_line([event(PROMOTE, 7, 3)]) == [3, 7]
