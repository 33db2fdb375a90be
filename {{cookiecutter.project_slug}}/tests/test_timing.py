"""Stage timing: each lap is charged to its stage, repeated stages add up, nothing is lost."""

from __future__ import annotations

import pytest

from {{ cookiecutter.package_name }} import timing
from {{ cookiecutter.package_name }}.timing import Stopwatch


class FakeTime:
    """The module's ``time``, whose clock reads from a list: the laps' arithmetic without waiting
    on real time (and without touching the ``time`` module that everything else uses)."""

    def __init__(self, *readings: float) -> None:
        self.readings = list(readings)

    def perf_counter(self) -> float:
        return self.readings.pop(0)


def test_laps_charge_the_time_since_the_previous_lap_and_repeats_add_up(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(timing, "time", FakeTime(10.0, 11.5, 12.0, 14.25, 14.5))
    watch = Stopwatch()
    watch.lap("load")  # 1.5 s
    watch.lap("predict")  # 0.5 s
    watch.lap("write")  # 2.25 s
    watch.lap("predict")  # 0.25 s more
    assert watch.seconds == {"load": 1.5, "predict": 0.75, "write": 2.25}
    # The stages share the whole time between the start and the last lap.
    assert sum(watch.seconds.values()) == 14.5 - 10.0


def test_rounded_keeps_milliseconds_and_the_stage_order(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(timing, "time", FakeTime(0.0, 0.12345, 2.0))
    watch = Stopwatch()
    watch.lap("features")
    watch.lap("fit")
    assert list(watch.rounded().items()) == [("features", 0.123), ("fit", 1.877)]


def test_a_new_stopwatch_has_no_stages():
    assert Stopwatch().rounded() == {}
