"""Fit cache: finished fits are restored, not retrained; interrupted searches resume; stale data never reused."""

import os

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV, KFold

import _seams
from _seams import CountingNet, count_lines
from skbatch import MLPClassifier, TorchClassifier, load_fit_records, search_report
from skbatch.cache.keys import data_fingerprint
from skbatch.cache.store import FitCache

X_IRIS, Y_IRIS = load_iris(return_X_y=True)


@pytest.fixture(autouse=True)
def fresh_counter(monkeypatch):
    monkeypatch.setattr(_seams, "BUILT", 0)
    monkeypatch.setattr(_seams, "INTERRUPT_AT", None)


def counting(tmp_path, **params):
    defaults = dict(
        module=CountingNet,
        module_kwargs={"log": str(tmp_path / "built.log")},
        max_epochs=3,
        lr=1e-2,
        device="cpu",
        random_state=0,
        cache_dir=tmp_path / "cache",
    )
    return TorchClassifier(**{**defaults, **params})


def test_second_fit_is_restored_and_predicts_identically(tmp_path):
    first = counting(tmp_path).fit(X_IRIS, Y_IRIS)
    second = counting(tmp_path, verbose=0).fit(X_IRIS, Y_IRIS)
    assert _seams.BUILT == 1
    np.testing.assert_array_equal(first.predict_proba(X_IRIS), second.predict_proba(X_IRIS))
    assert second.n_iter_ == first.n_iter_ and second.batch_size_ == first.batch_size_
    assert second.loss_curve_ == first.loss_curve_


def test_a_scratch_directorys_snapshot_restores_as_copies_of_its_own(tmp_path):
    # In a scratch directory read again, a stored fit is kept in memory: each
    # restore rebuilds it, and training one copy further changes no other.
    from skbatch.cache.store import _kept, _kept_bytes, scratch_directory

    fitted = MLPClassifier(hidden_layer_sizes=(8,), max_epochs=2, random_state=0, device="cpu").fit(X_IRIS, Y_IRIS)
    cache = FitCache(tmp_path)
    key = cache.key(fitted, X_IRIS, Y_IRIS)
    with scratch_directory(tmp_path, read_again=True):
        cache.store(fitted, key, cache.make_record(fitted, key, status="ok"))
        assert not cache.fit_path(key["key"]).exists() and cache.record_path(key["key"]).exists()
        assert cache.has_fit(key)
        first, second = (MLPClassifier(**fitted.get_params()) for _ in range(2))
        assert cache.restore_copy(first, key) and cache.restore(second, key)
        first.partial_fit(X_IRIS, Y_IRIS)
        for before, restored, trained in zip(fitted.coefs_, second.coefs_, first.coefs_):
            np.testing.assert_array_equal(restored, before)
            assert not np.array_equal(trained, before)
        np.testing.assert_array_equal(second.predict_proba(X_IRIS), fitted.predict_proba(X_IRIS))
        assert second.n_iter_ == fitted.n_iter_ and second.loss_curve_ == fitted.loss_curve_
        # Stored again, handed off as a fused search stores its fits: the
        # snapshot is replaced (counted once), and a copy leaves the handed-off
        # state for the fit it belongs to.
        size = _kept_bytes[str(tmp_path)]
        cache.store(fitted, key, cache.make_record(fitted, key, status="ok"), handoff=True)
        assert _kept_bytes[str(tmp_path)] == size
        third, handed = (MLPClassifier(**fitted.get_params()) for _ in range(2))
        assert cache.restore_copy(third, key) and third.net_ is not fitted.net_
        assert cache.restore(handed, key) and handed.net_ is fitted.net_
    assert not _kept and not cache.has_fit(key)


def test_verbose_and_cache_dir_are_not_in_the_key(tmp_path, capsys):
    counting(tmp_path).fit(X_IRIS, Y_IRIS)
    moved = counting(tmp_path, verbose=1)
    moved.set_params(cache_dir=str(tmp_path / "cache"))  # str instead of Path
    moved.fit(X_IRIS, Y_IRIS)
    assert _seams.BUILT == 1


def test_changed_data_or_params_train_again(tmp_path):
    counting(tmp_path).fit(X_IRIS, Y_IRIS)
    X_changed = X_IRIS.copy()
    X_changed[0, 0] += 0.1
    counting(tmp_path).fit(X_changed, Y_IRIS)
    y_changed = Y_IRIS.copy()
    y_changed[[0, -1]] = y_changed[[-1, 0]]
    counting(tmp_path).fit(X_IRIS, y_changed)
    counting(tmp_path, lr=2e-2).fit(X_IRIS, Y_IRIS)
    assert _seams.BUILT == 4
    assert len(os.listdir(tmp_path / "cache" / "fits")) == 4


def test_fingerprint_ignores_container_but_not_values():
    import pandas as pd

    frame = pd.DataFrame(X_IRIS, columns=list("abcd"))
    assert data_fingerprint(Y_IRIS) == data_fingerprint(list(Y_IRIS))
    assert data_fingerprint(frame.iloc[10:]) == data_fingerprint(frame.iloc[10:].reset_index(drop=True))
    assert data_fingerprint(frame) != data_fingerprint(X_IRIS)  # column names count
    assert data_fingerprint(X_IRIS) != data_fingerprint(X_IRIS.astype(np.float32))


def test_fingerprint_of_an_array_is_its_dtype_shape_and_values(tmp_path):
    # The layout in memory does not count; the byte order, the shape and the
    # fields of a structured dtype do, as does any value.
    assert data_fingerprint(X_IRIS) == data_fingerprint(np.asfortranarray(X_IRIS))
    assert data_fingerprint(X_IRIS[::2]) == data_fingerprint(X_IRIS[::2].copy())
    np.save(tmp_path / "x.npy", X_IRIS)
    assert data_fingerprint(np.load(tmp_path / "x.npy", mmap_mode="r")) == data_fingerprint(X_IRIS)
    assert data_fingerprint(X_IRIS) != data_fingerprint(X_IRIS.reshape(75, 8))
    assert data_fingerprint(X_IRIS) != data_fingerprint(X_IRIS.astype(X_IRIS.dtype.newbyteorder()))
    changed = X_IRIS.copy()
    changed[3, 2] = np.nextafter(changed[3, 2], np.inf)
    assert data_fingerprint(X_IRIS) != data_fingerprint(changed)
    pairs = np.zeros(4, dtype=[("a", "<i4"), ("b", "<i4")])
    assert data_fingerprint(pairs) != data_fingerprint(pairs.view([("c", "<i4"), ("d", "<i4")]))
    assert data_fingerprint(pairs) != data_fingerprint(np.zeros(4, dtype="<i8"))


def test_warm_start_refits_are_not_cached(tmp_path):
    net = counting(tmp_path, warm_start=True).fit(X_IRIS, Y_IRIS)
    net.fit(X_IRIS, Y_IRIS)
    assert len(net.loss_curve_) == 6 and net.n_iter_ == 3  # n_iter_: the last fit's epochs
    assert _seams.BUILT == 1  # built once, trained twice, second fit continued


def test_interrupted_write_leaves_no_entry(tmp_path, monkeypatch):
    def interrupted_fsync(fd):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", interrupted_fsync)
        with pytest.raises(KeyboardInterrupt):
            counting(tmp_path).fit(X_IRIS, Y_IRIS)
    # Neither the entry, nor its record, nor the temporary file remain.
    assert os.listdir(tmp_path / "cache" / "fits") == []
    assert not (tmp_path / "cache" / "records").exists()
    counting(tmp_path).fit(X_IRIS, Y_IRIS)
    counting(tmp_path).fit(X_IRIS, Y_IRIS)
    assert _seams.BUILT == 2


def test_unreadable_entry_is_retrained_with_a_warning(tmp_path):
    counting(tmp_path).fit(X_IRIS, Y_IRIS)
    [entry] = (tmp_path / "cache" / "fits").iterdir()
    entry.write_bytes(b"not an entry")
    with pytest.warns(RuntimeWarning, match="Ignoring the cached fit.*Training again"):
        counting(tmp_path).fit(X_IRIS, Y_IRIS)
    assert _seams.BUILT == 2
    counting(tmp_path).fit(X_IRIS, Y_IRIS)
    assert _seams.BUILT == 2


def test_entry_without_record_gets_its_record_back(tmp_path):
    counting(tmp_path).fit(X_IRIS, Y_IRIS)
    [record] = (tmp_path / "cache" / "records").iterdir()
    record.unlink()  # as if the process died between the two writes
    counting(tmp_path).fit(X_IRIS, Y_IRIS)
    assert _seams.BUILT == 1
    [restored] = load_fit_records(tmp_path / "cache").to_dict("records")
    assert restored["status"] == "ok" and restored["device"] == "cpu"


def search(tmp_path, n_jobs=1):
    tmp_path.mkdir(parents=True, exist_ok=True)
    return GridSearchCV(
        counting(tmp_path),
        {"lr": [1e-2, 1e-1]},
        cv=KFold(3, shuffle=True, random_state=0),
        n_jobs=n_jobs,
        error_score="raise",
    )


def test_interrupted_search_resumes_without_retraining(tmp_path):
    reference = search(tmp_path / "reference").fit(X_IRIS, Y_IRIS)
    assert _seams.BUILT == 6 + 1  # 2 candidates x 3 folds, and the refit
    _seams.BUILT = 0

    # Ctrl-C during the 4th fit: 3 fits finished before it.
    _seams.INTERRUPT_AT = 4
    with pytest.raises(KeyboardInterrupt):
        search(tmp_path).fit(X_IRIS, Y_IRIS)
    assert len(os.listdir(tmp_path / "cache" / "fits")) == 3

    _seams.INTERRUPT_AT = None
    _seams.BUILT = 0
    resumed = search(tmp_path).fit(X_IRIS, Y_IRIS)
    # The 5 fits left, and the refit on all the data, which the interrupted
    # run never reached.
    assert _seams.BUILT == 6 - 3 + 1
    for key in [k for k in reference.cv_results_ if k.startswith("split")]:
        np.testing.assert_array_equal(resumed.cv_results_[key], reference.cv_results_[key])

    _seams.BUILT = 0
    search(tmp_path).fit(X_IRIS, Y_IRIS)
    assert _seams.BUILT == 0
    records = load_fit_records(tmp_path / "cache")
    assert len(records) == 7 and set(records["status"]) == {"ok"}

    # No result was lost: the report of the resumed search holds every
    # split's device and the training time measured when it first ran.
    report = search_report(resumed, X_IRIS, Y_IRIS)
    fit_times = report[[f"split{k}_fit_time" for k in range(3)]].to_numpy().ravel()
    assert not np.isnan(fit_times).any() and set(fit_times) <= set(records["fit_time"])
    assert (report[[f"split{k}_device" for k in range(3)]] == "cpu").all().all()


def test_changed_dataset_retrains_every_fit(tmp_path):
    search(tmp_path).fit(X_IRIS, Y_IRIS)
    _seams.BUILT = 0
    search(tmp_path).fit(X_IRIS * 1.01, Y_IRIS)
    assert _seams.BUILT == 7


def test_failed_fits_are_recorded_and_tried_again(tmp_path):
    net = MLPClassifier(solver="sgd", lr=1e6, max_epochs=10, device="cpu", random_state=0, cache_dir=tmp_path)
    for _ in range(2):
        with pytest.raises(FloatingPointError, match="training diverged"):
            net.fit(X_IRIS * 100, Y_IRIS)
    [record] = FitCache(tmp_path).records()
    assert record["status"] == "failed" and "NonFiniteLossError" in record["error"]
    assert not (tmp_path / "fits").exists()


@pytest.mark.slow
def test_resume_across_worker_processes(tmp_path):
    log = tmp_path / "built.log"
    search(tmp_path, n_jobs=2).fit(X_IRIS, Y_IRIS)
    # 6 fits in the workers and the refit here.
    assert count_lines(log) == 7
    assert len(set(log.read_text().split())) >= 2
    search(tmp_path, n_jobs=2).fit(X_IRIS, Y_IRIS)
    assert count_lines(log) == 7


@pytest.mark.slow
def test_search_resumes_after_a_worker_is_killed(tmp_path):
    from joblib.externals.loky import get_reusable_executor
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    log, marker = tmp_path / "built.log", tmp_path / "kill-a-worker"
    marker.touch()
    net = counting(tmp_path, module_kwargs={"log": str(log), "kill_marker": str(marker)})
    grid = {"lr": [1e-2, 1e-1]}
    with pytest.raises(TerminatedWorkerError):
        GridSearchCV(net, grid, cv=KFold(3, shuffle=True, random_state=0), n_jobs=2).fit(X_IRIS, Y_IRIS)
    # The surviving worker may still be finishing a fit; count only once it is
    # gone. A worker killed mid-write leaves a '.tmp-' file, which is no entry.
    get_reusable_executor().shutdown(wait=True)
    finished = len(list((tmp_path / "cache" / "fits").glob("[!.]*.safetensors")))
    assert 1 <= finished < 6  # the fits of both workers up to the kill
    started = count_lines(log)
    GridSearchCV(net, grid, cv=KFold(3, shuffle=True, random_state=0), n_jobs=2).fit(X_IRIS, Y_IRIS)
    # Only the fits that had not finished, and the refit, were trained.
    assert count_lines(log) - started == 6 - finished + 1
