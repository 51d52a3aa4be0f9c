"""Searches on a real Dask cluster (a scheduler and worker processes on 127.0.0.1) survive a killed worker."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from limits import HANG_LIMIT
from skbatch import FusedGridSearchCV, MLPClassifier, dask_parallel
from skbatch.cache.store import FitCache

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow

# Each worker imports torch on its first fit, on two cores shared with other
# suites: the waits only guard against a hang (limits.py).
_TIMEOUT = HANG_LIMIT


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Cluster:
    """``dask scheduler`` and ``dask worker`` processes, each in its own process group."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        self.workers = {}
        self._processes = []
        port = self.address.rsplit(":", 1)[1]
        self._start("scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard")

    def _start(self, *args):
        env = dict(
            os.environ,
            OMP_NUM_THREADS="1",
            MKL_NUM_THREADS="1",
            # Fits fail, rather than the test hanging, if no worker is left.
            DASK_DISTRIBUTED__SCHEDULER__NO_WORKERS_TIMEOUT=f"{_TIMEOUT}s",
        )
        log = open(self.workdir / f"{args[0]}-{len(self._processes)}.log", "wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "dask", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            env=env,
            start_new_session=True,  # its own process group, killed whole
        )
        log.close()
        self._processes.append(process)
        return process

    def start_worker(self):
        # --no-nanny: the worker is the process itself, so SIGKILL loses it
        # for good (a nanny would restart it). --preload: it imports torch
        # before it joins, while the test computes its reference results.
        worker = self._start(
            "worker", self.address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
            "--host", "127.0.0.1", "--local-directory", str(self.workdir), "--preload", "skbatch",
        )  # fmt: skip
        self.workers[worker.pid] = worker

    def kill_worker(self, pid):
        worker = self.workers.pop(pid)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=_TIMEOUT)

    def client(self, n_workers):
        client = distributed.Client(self.address, timeout=_TIMEOUT)
        client.wait_for_workers(n_workers, timeout=_TIMEOUT)
        return client

    def close(self):
        for process in reversed(self._processes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=_TIMEOUT)


@pytest.fixture(scope="module")
def _processes(tmp_path_factory):
    cluster = _Cluster(tmp_path_factory.mktemp("dask-cluster"))
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def cluster(_processes):
    """The cluster, with two workers again: they import torch while the test computes its reference."""
    while len(_processes.workers) < 2:
        _processes.start_worker()
    return _processes


class _KillAfterFirstFit(threading.Thread):
    """Kills the worker that stores the first fit in ``cache_dir`` (of those ``counts``), once it has.

    The other worker finishes the search alone.
    """

    def __init__(self, cluster, cache_dir, counts):
        super().__init__(daemon=True)
        self.cluster, self.cache, self.counts = cluster, FitCache(cache_dir), counts
        self.stop, self.killed_pid, self.records_at_kill = threading.Event(), None, None

    def run(self):
        deadline = time.monotonic() + _TIMEOUT
        while not self.stop.is_set() and time.monotonic() < deadline:
            pids = [record["pid"] for record in self.cache.records() if self.counts(record)]
            pid = next((pid for pid in pids if pid in self.cluster.workers), None)
            if pid is not None:
                self.cluster.kill_worker(pid)
                self.killed_pid = pid
                self.records_at_kill = {record["key"]: record for record in self.cache.records()}
                return
            time.sleep(0.02)


def _search_on_cluster_losing_a_worker(cluster, search, X, y, cache_dir, counts=lambda record: True):
    with cluster.client(n_workers=2) as client, dask_parallel(client):
        killer = _KillAfterFirstFit(cluster, cache_dir, counts)
        killer.start()
        try:
            search.fit(X, y)
        finally:
            killer.stop.set()
            killer.join()
    assert killer.killed_pid is not None, "no fit finished on a worker"
    return killer


def _assert_same_scores(got, expected):
    assert got.cv_results_["params"] == expected.cv_results_["params"]
    for name, values in expected.cv_results_.items():
        if "test_score" in name:
            np.testing.assert_array_equal(got.cv_results_[name], values, err_msg=name)
    assert got.best_params_ == expected.best_params_


def _assert_finished_fits_kept(killer, cache_dir, n_fits, n_full_data=1):
    records = {record["key"]: record for record in FitCache(cache_dir).records()}
    assert len(records) == n_fits + n_full_data  # and the fits on all rows (the refit's)
    assert all(record["status"] == "ok" for record in records.values())
    # The worker died mid-search, after storing fits of its own ...
    assert len(killer.records_at_kill) < n_fits + n_full_data
    finished = [key for key, record in killer.records_at_kill.items() if record["pid"] == killer.killed_pid]
    assert finished
    # ... which the rest of the search restored rather than trained again.
    assert all(records[key]["pid"] == killer.killed_pid for key in finished)


def _mlp(**params):
    return MLPClassifier(hidden_layer_sizes=(16,), max_epochs=6, batch_size=32, random_state=0, device="cpu", **params)


def test_grid_search_survives_a_killed_worker(cluster, small_digits, tmp_path):
    X, y = small_digits[0][:240], small_digits[1][:240]
    grid = {"lr": [1e-3, 3e-3, 1e-2, 3e-2]}
    expected = GridSearchCV(_mlp(), grid, cv=3).fit(X, y)
    search = GridSearchCV(_mlp(cache_dir=str(tmp_path)), grid, cv=3, n_jobs=-1)
    killer = _search_on_cluster_losing_a_worker(cluster, search, X, y, tmp_path)
    _assert_same_scores(search, expected)
    _assert_finished_fits_kept(killer, tmp_path, n_fits=12)


def test_fused_search_survives_a_killed_worker(cluster, small_digits, tmp_path):
    X, y = small_digits[0][:240], small_digits[1][:240]
    # Two stacks of six fused fits, then six fits that cannot be fused
    # (batch_size_milestones) and train one by one while the search scores
    # the fused ones: the worker is killed then, with fits of the search
    # still to run.
    grid = [{"lr": [1e-3, 1e-2], "batch_size": [16, 64]}, {"lr": [1e-3, 1e-2], "batch_size_milestones": [[2]]}]
    expected = FusedGridSearchCV(_mlp(), grid, cv=3).fit(X, y)
    search = FusedGridSearchCV(_mlp(cache_dir=str(tmp_path)), grid, cv=3, n_jobs=-1)
    killer = _search_on_cluster_losing_a_worker(cluster, search, X, y, tmp_path, counts=lambda record: "fused_stack_size" not in record)
    _assert_same_scores(search, expected)
    # 12 fold fits, and each fused candidate's fit on all rows, trained in its
    # stack so that the refit restores it.
    assert search.fused_stacks_["n_models"].sum() == 12 + 4
    # The refit of an unfused (batch_size_milestones) best candidate trains on its own.
    n_full_data = 4 + ("batch_size_milestones" in search.best_params_)
    _assert_finished_fits_kept(killer, tmp_path, n_fits=18, n_full_data=n_full_data)
