"""Per-model metrics: the bulk histogram update, and the folder several workers share."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram

from {{ cookiecutter.package_name }}.serving.metrics import (
    MULTIPROCESS_DIR,
    PREDICTION_BUCKETS,
    observe_many,
    prepare_multiprocess_dir,
)


@pytest.mark.parametrize("count", [3, 5_000])
def test_observe_many_equals_one_observe_per_value(count: int):
    values = np.random.default_rng(0).uniform(0, 150, count)
    values[:3] = [1.0, 120.0, 0.0]  # on a bound, on the last bound, below every bound
    one, many = CollectorRegistry(), CollectorRegistry()
    single = Histogram("minutes", "", buckets=PREDICTION_BUCKETS, registry=one)
    bulk = Histogram("minutes", "", buckets=PREDICTION_BUCKETS, registry=many)
    for value in values:
        single.observe(float(value))
    observe_many(bulk, values)
    expected, found = samples(one), samples(many)
    assert found.keys() == expected.keys()
    assert expected[("minutes_count", ())] == count
    for key, value in expected.items():
        assert found[key] == pytest.approx(value), key


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple], float]:
    """Every sample but the creation time, by name and labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for metric in registry.collect()
        for sample in metric.samples
        if not sample.name.endswith("_created")
    }


def test_a_given_folder_is_emptied_and_otherwise_a_new_one_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    stale = tmp_path / "counter_123.db"
    stale.write_bytes(b"old run")
    keep = tmp_path / "notes.txt"
    keep.write_text("not ours")
    monkeypatch.setenv(MULTIPROCESS_DIR, str(tmp_path))
    assert prepare_multiprocess_dir() is None
    assert not stale.exists()
    assert keep.exists()

    monkeypatch.delenv(MULTIPROCESS_DIR)
    made = prepare_multiprocess_dir()
    try:
        assert made is not None
        assert made.is_dir()
        assert not any(made.iterdir())
        assert os.environ[MULTIPROCESS_DIR] == str(made)
    finally:
        if made is not None:
            made.rmdir()
