"""Searches in parallel: the same scores with n_jobs=1, n_jobs=2 and on a Dask cluster; halving over epochs."""

import os

import joblib
import numpy as np
import pytest
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import (
    GridSearchCV,
    HalvingGridSearchCV,
    HalvingRandomSearchCV,
    cross_validate,
)

from probes import intervals, overlapping_pairs, probe
from skbatch import DevicePool, MLPClassifier


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def small_search(n_jobs):
    return GridSearchCV(
        MLPClassifier(hidden_layer_sizes=(16,), max_epochs=4, random_state=0, device="cpu"),
        {"lr": [1e-3, 1e-2]},
        cv=3,
        n_jobs=n_jobs,
    )


@pytest.mark.slow
def test_scores_are_identical_with_one_two_jobs_and_on_dask(small_digits, dask_client):
    X, y = small_digits
    scores = {}
    for name, backend, n_jobs in [("n_jobs=1", "loky", 1), ("n_jobs=2", "loky", 2), ("dask", "dask", 2)]:
        with joblib.parallel_config(backend=backend):
            results = small_search(n_jobs).fit(X, y).cv_results_
        scores[name] = np.array([results[f"split{i}_test_score"] for i in range(3)])
    np.testing.assert_array_equal(scores["n_jobs=1"], scores["n_jobs=2"])
    np.testing.assert_array_equal(scores["n_jobs=1"], scores["dask"])


@pytest.mark.slow
def test_dask_workers_take_slots_of_one_pool(small_digits, dask_client, tmp_path):
    X, y = small_digits
    pool = DevicePool(["cpu"], lock_dir=str(tmp_path))
    with joblib.parallel_config(backend="dask"):
        res = cross_validate(probe(pool), X[:60], y[:60], cv=3, return_estimator=True)
    worker_pids = set(dask_client.run(os.getpid).values())
    assert {est.net_.module_.pid for est in res["estimator"]} <= worker_pids
    spans = intervals(res["estimator"])
    assert {slot for _, _, slot in spans} == {"cpu#0"}
    assert overlapping_pairs(spans) == []


@pytest.mark.slow
@pytest.mark.parametrize("halving", [HalvingGridSearchCV, HalvingRandomSearchCV])
def test_halving_over_epochs_drops_bad_candidates_early(small_digits, halving):
    X, y = small_digits
    # Lists only: the random search samples the four candidates without replacement.
    candidates = {"lr": [1e-6, 3e-6, 1e-2, 3e-2]}
    extra = {"n_candidates": 4, "random_state": 0} if halving is HalvingRandomSearchCV else {}
    search = halving(
        MLPClassifier(hidden_layer_sizes=(16,), random_state=0, device="cpu"),
        candidates,
        resource="max_epochs",
        min_resources=2,
        max_resources=8,
        factor=2,
        cv=3,
        **extra,
    ).fit(X, y)
    assert search.n_resources_ == [2, 4, 8]
    assert search.n_candidates_ == [4, 2, 1]
    results = search.cv_results_
    for lr in (1e-6, 3e-6):
        rows = results["param_lr"] == lr
        # Tried for two epochs only, then dropped.
        assert list(results["n_resources"][rows]) == [2]
    assert search.best_params_["lr"] in (1e-2, 3e-2)
    assert search.best_estimator_.max_epochs == 8
