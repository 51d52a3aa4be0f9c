"""Device placement: pool slots across threads and processes, GPUs by UUID, thread shares, fit records.

No GPU is needed: the seam ``skbatch.devices.pool._visible_gpus`` is replaced by
fake GPUs that train on the CPU, and ``'cpu'`` slots exercise the same locks
in worker processes, where a monkeypatch does not reach.
"""

import pickle
import subprocess
import sys
import threading
import time
import uuid

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.model_selection import cross_validate
from sklearn.utils._param_validation import InvalidParameterError

from probes import intervals, overlapping_pairs, probe
from skbatch import DevicePool, MLPClassifier
from skbatch.devices import pool as placement_module
from skbatch.devices.pool import _Device, _rebalance, cpu_thread_share, place_fit


@pytest.fixture
def data():
    return make_classification(n_samples=60, n_features=5, random_state=0)


@pytest.fixture
def fake_gpus(monkeypatch, tmp_path):
    """Two fake GPUs (training on the CPU) with UUIDs no other test run shares."""
    gpus = [_Device(torch.device("cpu"), f"GPU-fake-{uuid.uuid4()}") for _ in range(2)]
    monkeypatch.setattr(placement_module, "_visible_gpus", lambda: gpus)
    monkeypatch.setattr(placement_module, "_default_lock_dir", lambda: tmp_path / "default-locks")
    return gpus


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(placement_module, "_visible_gpus", lambda: [])


# -- the pool as a param ---------------------------------------------------------


def test_pool_survives_clone_pickle_and_get_params(tmp_path):
    pool = DevicePool(["cpu"], fits_per_device=2, timeout=5.0, lock_dir=str(tmp_path))
    est = MLPClassifier(device=pool)
    assert est.get_params()["device"] == pool
    assert clone(est).device == pool
    assert pickle.loads(pickle.dumps(est)).device == pool
    assert repr(pool) == f"DevicePool(devices=['cpu'], fits_per_device=2, timeout=5.0, lock_dir={str(tmp_path)!r})"
    assert repr(DevicePool()) == "DevicePool()"
    assert hash(pool) == hash(DevicePool(("cpu",), fits_per_device=2, timeout=5.0, lock_dir=str(tmp_path)))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"fits_per_device": 0}, r"'fits_per_device' parameter of DevicePool must be an int in the range \[1, inf\)"),
        ({"devices": "all"}, r"'devices' parameter of DevicePool must be a str among \{'auto'\}"),
        ({"timeout": -1}, r"'timeout' parameter of DevicePool must be a float in the range \[0.0, inf\) or None"),
        ({"lock_dir": 3}, r"'lock_dir' parameter of DevicePool must be an instance of 'str'"),
    ],
)
def test_invalid_pool_params_fail_in_fit(data, params, match):
    est = MLPClassifier(device=DevicePool(**{"devices": ["cpu"], **params}), max_epochs=1)
    with pytest.raises(InvalidParameterError, match=match):
        est.fit(*data)


@pytest.mark.parametrize(
    "devices, match",
    [
        ([], r"DevicePool\(devices=\[\]\) names no device. Name at least one"),
        (["tpu"], r"Each entry of DevicePool's 'devices' must be 'cpu', 'cuda' or 'cuda:N'. Got 'tpu'"),
        (["cuda:2"], r"DevicePool names 'cuda:2', a GPU that does not exist: this process sees 2 CUDA"),
    ],
)
def test_pool_naming_missing_devices_fails_in_fit(data, fake_gpus, devices, match):
    with pytest.raises(ValueError, match=match):
        MLPClassifier(device=DevicePool(devices), max_epochs=1).fit(*data)


def test_pool_naming_cuda_without_gpu_says_why(data, no_gpu):
    with pytest.raises(ValueError, match=r"DevicePool names 'cuda:0', but torch .* Use DevicePool\(devices='auto'\)"):
        MLPClassifier(device=DevicePool(["cuda:0"]), max_epochs=1).fit(*data)


def test_device_of_another_type_is_rejected(data):
    with pytest.raises(InvalidParameterError, match=r"'device' parameter of MLPClassifier must be .*DevicePool"):
        MLPClassifier(device=0, max_epochs=1).fit(*data)


# -- where a fit lands -------------------------------------------------------------


def test_auto_without_gpu_is_the_cpu_without_a_slot(data, no_gpu):
    est = MLPClassifier(max_epochs=2, random_state=0).fit(*data)
    assert est.device_ == torch.device("cpu")
    assert est.device_uuid_ is None and est.device_slot_ is None and est.peak_memory_ is None
    assert isinstance(est.fit_time_, float) and est.fit_time_ > 0


def test_auto_takes_a_gpu_slot_named_by_uuid(data, fake_gpus):
    est = MLPClassifier(max_epochs=2, random_state=0).fit(*data)
    assert est.device_uuid_ == fake_gpus[0].uuid
    assert est.device_slot_ == f"{fake_gpus[0].uuid}#0"
    # The slot was given back: the next fit takes the same one.
    assert clone(est).fit(*data).device_slot_ == est.device_slot_


def test_slots_spread_over_devices_before_doubling_up(fake_gpus):
    a, b = (gpu.uuid for gpu in fake_gpus)
    pool = DevicePool(["cuda:0", "cuda:1"], fits_per_device=2)
    assert pool.slots() == [f"{a}#0", f"{b}#0", f"{a}#1", f"{b}#1"]
    assert DevicePool(["cuda:1", "cuda:1"]).slots() == [f"{b}#0", f"{b}#1"]


def test_same_uuid_under_another_index_shares_the_lock(monkeypatch, tmp_path):
    # Two Dask-CUDA workers that both see one physical GPU, once as cuda:0 and
    # once as cuda:1, must contend for the same slot.
    gpu = f"GPU-fake-{uuid.uuid4()}"
    first = [_Device(torch.device("cpu"), gpu)]
    second = [_Device(torch.device("cpu"), f"GPU-fake-{uuid.uuid4()}"), _Device(torch.device("cpu"), gpu)]
    monkeypatch.setattr(placement_module, "_visible_gpus", lambda: first)
    with DevicePool(["cuda:0"], lock_dir=tmp_path).hold() as held:
        monkeypatch.setattr(placement_module, "_visible_gpus", lambda: second)
        with pytest.raises(TimeoutError, match=r"No free slot in DevicePool\(devices=\['cuda:1'\].* all 1 slots"):
            with DevicePool(["cuda:1"], timeout=0.1, lock_dir=tmp_path).hold():
                pass
    assert held.uuid == gpu


def test_pinned_device_takes_no_slot():
    with place_fit("cpu") as placement:
        assert placement == placement_module.Placement(torch.device("cpu"))


def test_concurrent_threads_land_on_distinct_gpus(data, fake_gpus):
    with joblib.parallel_config(backend="threading"):
        res = cross_validate(probe("auto"), *data, cv=4, n_jobs=2, return_estimator=True)
    spans = intervals(res["estimator"])
    assert {s for _, _, s in spans} <= {f"{gpu.uuid}#0" for gpu in fake_gpus}
    overlaps = overlapping_pairs(spans)
    assert overlaps, "the two threads never trained at the same time"
    assert all(a[2] != b[2] for a, b in overlaps)


def _start_worker():
    import skbatch  # noqa: F401  (the import is what takes a worker long to start)

    time.sleep(0.5)


@pytest.fixture
def warm_loky_workers():
    """Two started loky workers, so that the fits of a test overlap in time."""
    joblib.Parallel(n_jobs=2)(joblib.delayed(_start_worker)() for _ in range(2))


@pytest.mark.slow
def test_concurrent_processes_land_on_distinct_slots_with_their_share_of_cores(data, tmp_path, warm_loky_workers):
    pool = DevicePool(["cpu"], fits_per_device=2, lock_dir=str(tmp_path))
    res = cross_validate(probe(pool), *data, cv=4, n_jobs=2, return_estimator=True)
    spans = intervals(res["estimator"])
    assert {s for _, _, s in spans} <= {"cpu#0", "cpu#1"}
    overlaps = overlapping_pairs(spans)
    assert overlaps, "the two worker processes never trained at the same time"
    assert all(a[2] != b[2] for a, b in overlaps)
    # loky caps each worker's threads before torch starts; the fit keeps that share.
    share = max(1, joblib.cpu_count() // 2)
    for est in res["estimator"]:
        assert {threads for _, threads in est.net_.module_.calls} == {share}


def test_fits_wait_when_every_slot_is_held(data, tmp_path):
    pool = DevicePool(["cpu"], lock_dir=str(tmp_path))
    with joblib.parallel_config(backend="threading"):
        res = cross_validate(probe(pool), *data, cv=3, n_jobs=2, return_estimator=True)
    spans = intervals(res["estimator"])
    assert {s for _, _, s in spans} == {"cpu#0"}
    assert overlapping_pairs(spans) == []


@pytest.mark.slow
def test_killed_worker_frees_its_slot(tmp_path):
    holder = (
        "import time\n"
        "from skbatch import DevicePool\n"
        f"with DevicePool(['cpu'], lock_dir={str(tmp_path)!r}).hold() as p:\n"
        "    print(p.slot, flush=True)\n"
        "    time.sleep(120)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "cpu#0"
        with pytest.raises(TimeoutError, match=r"after waiting 0.2 s: all 1 slots are held by other fits"):
            with DevicePool(["cpu"], timeout=0.2, lock_dir=tmp_path).hold():
                pass
    finally:
        proc.kill()
        proc.wait()
    with DevicePool(["cpu"], timeout=10, lock_dir=tmp_path).hold() as placement:
        assert placement.slot == "cpu#0"


# -- CPU threads ---------------------------------------------------------------


def test_fits_in_threads_split_the_threads_and_restore_them():
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        seen = []
        inside = threading.Barrier(2)

        def fit_in_thread():
            with cpu_thread_share():
                inside.wait()
                _rebalance()  # what every epoch does
                seen.append(torch.get_num_threads())
                inside.wait()
            seen.append(("after", torch.get_num_threads()))

        threads = [threading.Thread(target=fit_in_thread) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(s for s in seen if not isinstance(s, tuple)) == [2, 2]
        with cpu_thread_share() as alone:
            assert alone == torch.get_num_threads() == 4
        assert torch.get_num_threads() == 4
    finally:
        torch.set_num_threads(before)


# -- after the fit ---------------------------------------------------------------


def test_fit_with_a_slot_leaves_the_net_on_the_cpu_and_predicts(data, tmp_path):
    X, y = data
    pool = DevicePool(["cpu"], lock_dir=str(tmp_path))
    est = MLPClassifier(max_epochs=3, early_stopping=True, warm_start=True, device=pool, random_state=0)
    est.fit(X, y)
    assert est.net_.device == "cpu" and est.net_.train_split is None
    assert est.predict(X).shape == y.shape
    first_epochs = len(est.loss_curve_)
    assert len(est.fit(X, y).loss_curve_) > first_epochs  # warm start moves it back and goes on


def test_fit_records_are_the_same_without_a_pool(data, tmp_path):
    pooled = MLPClassifier(max_epochs=3, random_state=0, device=DevicePool(["cpu"], lock_dir=str(tmp_path)))
    pinned = MLPClassifier(max_epochs=3, random_state=0, device="cpu")
    np.testing.assert_array_equal(pooled.fit(*data).predict_proba(data[0]), pinned.fit(*data).predict_proba(data[0]))


@pytest.mark.gpu
def test_device_memory_stays_flat_across_folds_on_cuda():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    X, y = make_classification(n_samples=4000, n_features=64, n_informative=20, n_classes=4, random_state=0)
    device = torch.device("cuda", 0)
    allocated, reserved = [], []
    for fold in range(4):
        est = MLPClassifier(hidden_layer_sizes=(512, 512), max_epochs=3, early_stopping=True, device="auto", random_state=fold)
        est.fit(X, y)
        est.predict(X)
        assert est.peak_memory_ > 0 and est.device_uuid_.startswith("GPU-")
        assert est.net_.device == "cpu"
        allocated.append(torch.cuda.memory_allocated(device))
        reserved.append(torch.cuda.memory_reserved(device))
        del est
    # Nothing of a finished fit stays on the card, fold after fold (what is
    # there, such as cuBLAS's workspace, is the same every time).
    assert len(set(allocated)) == 1 and len(set(reserved)) == 1, (allocated, reserved)
