"""The fit cache can neither run code nor return another fit's model, and never loses a trained fit."""

import errno
import os
import pathlib
import pickle
import shutil
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.utils._param_validation import InvalidParameterError

import _seams
from _seams import CountingNet
from skbatch import MLPClassifier, NonFiniteLossError, TorchClassifier
from skbatch.cache import atomic
from skbatch.cache.store import FitCache

X_IRIS, Y_IRIS = load_iris(return_X_y=True)


@pytest.fixture(autouse=True)
def fresh_counter(monkeypatch):
    monkeypatch.setattr(_seams, "BUILT", 0)
    monkeypatch.setattr(_seams, "INTERRUPT_AT", None)


def counting(cache_dir, **params):
    defaults = dict(module=CountingNet, max_epochs=3, lr=1e-2, device="cpu", random_state=0, cache_dir=cache_dir)
    return TorchClassifier(**{**defaults, **params})


class Payload:
    """Unpickling this creates ``marker``: harmless, and visible."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def _entry_paths(cache_dir, estimator, X, y):
    key = FitCache(cache_dir).key(estimator, X, y)["key"]
    folder = pathlib.Path(cache_dir) / "fits"
    folder.mkdir(parents=True, exist_ok=True)
    # Every name an entry has had: a planted file must not run under any of them.
    return [folder / f"{key}{suffix}" for suffix in (".pkl", ".safetensors")]


def test_a_planted_pickle_is_never_executed_and_the_fit_trains(tmp_path):
    cache_dir, marker = tmp_path / "cache", tmp_path / "payload-ran"
    for path in _entry_paths(cache_dir, counting(cache_dir), X_IRIS, Y_IRIS):
        path.write_bytes(pickle.dumps(Payload(marker)))
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        fitted = counting(cache_dir).fit(X_IRIS, Y_IRIS)
    assert not marker.exists()
    assert _seams.BUILT == 1  # trained, not restored
    assert fitted.n_iter_ == 3 and fitted.predict_proba(X_IRIS).shape == (150, 3)


def test_an_entry_replaced_by_another_fits_entry_is_ignored(tmp_path):
    cache_dir = tmp_path / "cache"
    X_other, y_other = X_IRIS[::-1] * 2, Y_IRIS[::-1]
    other = counting(cache_dir).fit(X_other, y_other)
    own = counting(cache_dir).fit(X_IRIS, Y_IRIS)
    [other_entry] = [p for p in _entry_paths(cache_dir, other, X_other, y_other) if p.exists()]
    [own_entry] = [p for p in _entry_paths(cache_dir, own, X_IRIS, Y_IRIS) if p.exists()]
    shutil.copyfile(other_entry, own_entry)
    with pytest.warns(RuntimeWarning, match="Ignoring the cached fit.*another key.*Training again"):
        again = counting(cache_dir).fit(X_IRIS, Y_IRIS)
    assert _seams.BUILT == 3
    np.testing.assert_allclose(again.predict_proba(X_IRIS), own.predict_proba(X_IRIS), rtol=1e-5)


@pytest.mark.parametrize("seam, code", [("fsync", errno.EFBIG), ("replace", errno.ENOSPC)])
def test_a_failed_write_warns_and_returns_the_trained_model(tmp_path, monkeypatch, seam, code):
    cache_dir = tmp_path / "cache"

    def full_disk(*args):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, seam, full_disk)
    with pytest.warns(RuntimeWarning, match=f"Could not write to the fit cache '{cache_dir}'.*{os.strerror(code)}"):
        fitted = counting(cache_dir).fit(X_IRIS, Y_IRIS)
    assert fitted.n_iter_ == 3 and fitted.predict(X_IRIS).shape == (150,)
    assert not any(p.exists() for p in _entry_paths(cache_dir, fitted, X_IRIS, Y_IRIS))


def test_a_diverging_fit_on_a_full_disk_still_reports_the_divergence(tmp_path, monkeypatch):
    def full_disk(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", full_disk)
    net = MLPClassifier(solver="sgd", lr=1e6, batch_size=100, max_epochs=20, device="cpu", random_state=0, cache_dir=tmp_path / "cache")
    with pytest.warns(RuntimeWarning, match="Could not write to the fit cache"):
        with pytest.raises(NonFiniteLossError):
            net.fit(load_iris().data * 100, Y_IRIS)


@pytest.mark.parametrize(
    "make_value, match",
    [
        (lambda tmp: "", "must be a folder or None. Got '' instead"),
        (lambda tmp: (tmp / "a-file").write_text("x") and tmp / "a-file", "must be a folder or None.*which is a file"),
    ],
)
def test_cache_dir_is_checked_before_training(tmp_path, make_value, match, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidParameterError, match=f"'cache_dir' parameter of TorchClassifier {match}"):
        counting(make_value(tmp_path)).fit(X_IRIS, Y_IRIS)
    assert _seams.BUILT == 0
    assert sorted(os.listdir(tmp_path)) in ([], ["a-file"])


def test_the_next_write_removes_what_killed_writers_left(tmp_path):
    folder = tmp_path / "cache" / "fits"
    folder.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = folder / f".tmp-{atomic._HOST}-{dead.pid}-abc.safetensors"
    old = folder / ".tmp-elsewhere-1-old.safetensors"
    running = folder / f".tmp-{atomic._HOST}-{os.getpid()}-busy.safetensors"
    foreign = folder / ".tmp-elsewhere-1-new.safetensors"
    for path in (orphan, old, running, foreign):
        path.write_bytes(b"partial")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    counting(tmp_path / "cache").fit(X_IRIS, Y_IRIS)
    assert not orphan.exists() and not old.exists()
    assert running.exists() and foreign.exists()  # a live writer's, and one too recent to judge
