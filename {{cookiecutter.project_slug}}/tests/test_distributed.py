"""Dask code paths without a separate cluster: an in-process cluster (threads, no LightGBM).

Training on a cluster needs worker processes (LightGBM's network is one per process); the
template's own tests start a scheduler and two workers and compare it with local training.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from dask.distributed import Client, LocalCluster

from {{ cookiecutter.package_name }}.config import DaskSettings, Settings
from {{ cookiecutter.package_name }}.data import DURATION, load_months
from {{ cookiecutter.package_name }}.distributed import (
    ClusterUnreachableError,
    connect,
    metrics_on_cluster,
    months_on_cluster,
    predict_file_on_cluster,
)
from {{ cookiecutter.package_name }}.evaluate import regression_metrics
from {{ cookiecutter.package_name }}.predict import PREDICTION, REJECTION, predict_file
from {{ cookiecutter.package_name }}.registry import load_model
from {{ cookiecutter.package_name }}.train import TrainingResult

from .helpers import SAMPLE_DIR


def test_an_unreachable_scheduler_is_one_clear_error():
    settings = DaskSettings(scheduler_address="tcp://127.0.0.1:9", connect_timeout=1)
    with pytest.raises(ClusterUnreachableError, match=r"tcp://127\.0\.0\.1:9"):
        connect(settings)


@pytest.mark.slow
def test_batch_prediction_on_a_cluster_equals_local(
    trained: tuple[Settings, TrainingResult], tmp_path: Path
):
    settings, _ = trained
    model, _ = load_model(settings)
    batch = pd.read_parquet(SAMPLE_DIR / "green_tripdata_2024-01.parquet")
    batch.loc[5, "PULocationID"] = 999
    batch.loc[900, "lpep_pickup_datetime"] = pd.NaT
    source = tmp_path / "batch.parquet"
    batch.to_parquet(source, index=False, row_group_size=500)  # four partitions

    local = predict_file(source, tmp_path / "local.parquet", model)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False) as cluster,
        Client(cluster) as client,
    ):
        distributed = predict_file_on_cluster(client, source, tmp_path / "cluster.parquet", model)

    assert distributed == local
    scored = pd.read_parquet(tmp_path / "cluster.parquet")
    pd.testing.assert_frame_equal(scored, pd.read_parquet(tmp_path / "local.parquet"))
    assert scored.loc[[5, 900], PREDICTION].isna().all()
    assert scored.loc[[5, 900], REJECTION].notna().all()


@pytest.mark.slow
@pytest.mark.parametrize("in_month_only", [False, True])
def test_months_are_cleaned_and_scored_on_a_cluster_as_locally(
    trained: tuple[Settings, TrainingResult], tmp_path: Path, in_month_only: bool
):
    """The cluster's reading, cleaning, accounts and metrics, without LightGBM's own network
    (training needs worker processes: the template's tests start them)."""
    settings, _ = trained
    model, _ = load_model(settings)
    data = settings.data.model_copy(
        update={"quarantine_dir": tmp_path, "pickups_in_month_only": in_month_only}
    )
    months = ("2023-01", "2023-02")
    local = load_months(data, months)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False) as cluster,
        Client(cluster) as client,
    ):
        remote = months_on_cluster(client, data, months)
        metrics = metrics_on_cluster(client, remote, model)

    assert remote.account.as_dict() == local.account.as_dict()
    assert {month: account.as_dict() for month, account in remote.by_month.items()} == {
        month: account.as_dict() for month, account in local.by_month.items()
    }
    expected = regression_metrics(local.trips[DURATION].to_numpy(), model.predict(local.trips))
    for name in ("rmse", "mae", "r2"):
        assert metrics[name] == pytest.approx(expected[name], rel=1e-9)
