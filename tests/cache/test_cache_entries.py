"""A cache entry or record is used only if it is what a fit wrote: anything else is a miss, retrained with a warning."""

import json
import os
import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from skbatch import FusedGridSearchCV, MLPClassifier, search_report
from skbatch.cache.entry import pack_entry, unpack_entry
from skbatch.cache.store import FitCache

X_RAW, Y = load_iris(return_X_y=True)
X = StandardScaler().fit_transform(X_RAW)


def _net(cache_dir, **params):
    defaults = dict(hidden_layer_sizes=(8,), max_epochs=3, lr=0.02, batch_size=32, random_state=0, device="cpu")
    return MLPClassifier(**{**defaults, **params, "cache_dir": cache_dir})


def _quiet_fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.fit(X, y)


def _entry(cache_dir, estimator, X, y):
    return FitCache(cache_dir).fit_path(FitCache(cache_dir).key(estimator, X, y)["key"])


def _reseal(path, edit):
    """Apply ``edit(tensors, meta)`` to an entry and write it back with a matching checksum."""
    tensors, text = unpack_entry(path.read_bytes())
    meta = json.loads(text)
    edit(tensors, meta)
    path.write_bytes(pack_entry(tensors, json.dumps(meta)))


def _assert_retrained_as_original(cache_dir, original, match, X=X, y=Y):
    with pytest.warns(RuntimeWarning, match=match):
        again = _quiet_fit_keeping(_net(cache_dir, **_differing(original)), X, y)
    np.testing.assert_array_equal(again.predict_proba(X), original.predict_proba(X))
    np.testing.assert_array_equal(again.classes_, original.classes_)
    assert again.get_params() == _net(cache_dir, **_differing(original)).get_params()
    return again


def _differing(estimator):
    return {"hidden_layer_sizes": estimator.hidden_layer_sizes}


def _quiet_fit_keeping(estimator, X, y):
    # Silences the training warnings only: pytest.warns still sees the cache's.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Maximum iterations.*")
        return estimator.fit(X, y)


def test_a_multilabel_fit_comes_back_from_the_cache_as_multilabel(tmp_path):
    Y_multi = np.eye(3, dtype=int)[Y]
    Y_multi[::4, 0] = 1
    first = _quiet_fit(MLPClassifier(max_epochs=3, device="cpu", random_state=0, cache_dir=tmp_path), X, Y_multi)
    again = _quiet_fit(MLPClassifier(max_epochs=3, device="cpu", random_state=0, cache_dir=tmp_path), X, Y_multi)
    assert first.predict(X[:2]).shape == again.predict(X[:2]).shape == (2, 3)
    np.testing.assert_array_equal(again.predict_proba(X), first.predict_proba(X))


def test_a_resumed_multilabel_search_scores_as_the_first_run(tmp_path):
    Y_multi = np.eye(3, dtype=int)[Y]
    Y_multi[::4, 0] = 1
    search = GridSearchCV(_net(tmp_path), {"lr": [0.001, 0.02]}, cv=KFold(3, shuffle=True, random_state=0))
    first = _quiet_fit(search, X, Y_multi).cv_results_["mean_test_score"]
    resumed = _quiet_fit(search, X, Y_multi).cv_results_["mean_test_score"]
    assert np.isfinite(first).all()
    np.testing.assert_array_equal(resumed, first)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda t, m: t["module/module/layers.0.weight"].fill_(float("nan")), "weights of module.*NaN"),
        (
            lambda t, m: t.update({"module/module/layers.0.weight": t["module/module/layers.0.weight"].to(torch.int8)}),
            "torch.int8 of shape",
        ),
        (lambda t, m: m["attributes"].update(lr=1000.0), "sets 'lr', which is not a fitted attribute"),
        (lambda t, m: m["attributes"].update(predict=1), "sets 'predict', which is not a fitted attribute"),
        (lambda t, m: m["attributes"]["classes_"]["__ndarray__"].__setitem__(2, [2, 1, 0]), "classes_ holds"),
        (lambda t, m: m["attributes"].update(n_iter_=1), "n_iter_ does not match its training history"),
        (lambda t, m: m["attributes"].update(loss_=0.0), "loss_ does not match its training history"),
    ],
    ids=["nan", "int8", "param", "method", "unsorted-classes", "n_iter", "loss"],
)
def test_a_tampered_entry_is_retrained_and_never_returned(tmp_path, edit, match):
    original = _quiet_fit(_net(tmp_path), X, Y)
    _reseal(_entry(tmp_path, original, X, Y), edit)
    again = _assert_retrained_as_original(tmp_path, original, f"Ignoring the cached fit.*{match}.*Training again")
    assert again.lr == 0.02


def test_classes_relabelled_in_an_entry_are_checked_against_the_data(tmp_path):
    original = _quiet_fit(_net(tmp_path), X, Y)
    _reseal(_entry(tmp_path, original, X, Y), lambda t, m: m["attributes"]["classes_"]["__ndarray__"].__setitem__(2, [5, 6, 7]))
    _assert_retrained_as_original(tmp_path, original, "Ignoring the cached fit.*classes_ is not what the training data give")


def test_a_flipped_byte_or_another_fits_weights_fail_the_checksum(tmp_path):
    original = _quiet_fit(_net(tmp_path), X, Y)
    other = _quiet_fit(_net(tmp_path, lr=0.001), X, Y)
    path = _entry(tmp_path, original, X, Y)
    good = path.read_bytes()
    data = bytearray(good)
    data[-5] ^= 0x01  # inside the last tensor's bytes
    path.write_bytes(bytes(data))
    _assert_retrained_as_original(tmp_path, original, "Ignoring the cached fit.*checksum does not match")
    # The other candidate's weights (same shapes) under this entry's key and JSON.
    theirs, _ = unpack_entry(_entry(tmp_path, other, X, Y).read_bytes())
    ours, meta = unpack_entry(good)
    spliced = bytearray(pack_entry(ours, meta))
    start = 8 + int.from_bytes(spliced[:8], "little")
    path.write_bytes(bytes(spliced[:start]) + pack_entry(theirs, meta)[start:])
    _assert_retrained_as_original(tmp_path, original, "Ignoring the cached fit.*checksum does not match")


def test_a_fifo_at_the_entry_is_refused_without_waiting(tmp_path):
    estimator = _net(tmp_path)
    path = _entry(tmp_path, estimator, X, Y)
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    with pytest.warns(RuntimeWarning, match="Ignoring the cached fit.*not a regular file.*Training again"):
        fitted = _quiet_fit_keeping(estimator, X, Y)
    assert fitted.n_iter_ == 3


@pytest.mark.parametrize("content", ["[]", "3", '"text"', "{not json"])
def test_a_records_file_that_is_not_a_record_is_skipped_with_a_warning(tmp_path, content):
    grid = {"lr": [0.001, 0.02]}
    cv = KFold(3, shuffle=True, random_state=0)
    first = _quiet_fit(FusedGridSearchCV(_net(tmp_path), grid, cv=cv), X, Y)
    (tmp_path / "records" / "x.json").write_text(content)
    os.mkfifo(tmp_path / "records" / "fifo.json")
    with pytest.warns(RuntimeWarning, match=r"Ignoring the fit record .*x\.json"):
        report = search_report(first, X, Y)
    assert len(report) == 2
    with pytest.warns(RuntimeWarning, match=r"Ignoring the fit record .*fifo\.json: it is not a regular file"):
        again = _quiet_fit_keeping(FusedGridSearchCV(_net(tmp_path), {**grid, "max_epochs": [4]}, cv=cv), X, Y)
    assert np.isfinite(again.cv_results_["mean_test_score"]).all()


def test_a_cache_folder_others_may_write_or_another_account_owns_is_refused(tmp_path):
    cache_dir = tmp_path / "cache"
    _quiet_fit(_net(cache_dir), X, Y)
    (cache_dir / "fits").chmod(0o777)
    with pytest.raises(
        InvalidParameterError,
        match=r"'cache_dir' parameter of MLPClassifier must be a folder of this "
        r"account's.*fits' has mode 777: other accounts may write to it.*chmod go-w",
    ):
        _net(cache_dir).fit(X, Y)
    (cache_dir / "fits").chmod(0o755)
    if os.getuid() == 0:  # only root can give a folder away
        os.chown(cache_dir, 12345, -1)
        with pytest.raises(InvalidParameterError, match="belongs to uid 12345, not to this account"):
            _net(cache_dir).fit(X, Y)


def test_folders_the_cache_makes_are_not_group_writable_whatever_the_umask(tmp_path):
    old = os.umask(0o002)
    try:
        _quiet_fit(_net(tmp_path / "cache"), X, Y)
    finally:
        os.umask(old)
    for folder in ("cache", "cache/fits", "cache/records"):
        assert (tmp_path / folder).stat().st_mode & 0o777 == 0o755
    _quiet_fit(_net(tmp_path / "cache"), X, Y)  # and a second fit accepts them


def test_a_records_n_iter_edited_makes_the_continued_fit_train_from_scratch(tmp_path):
    grid = {"lr": [0.02]}
    short = _net(tmp_path, max_epochs=2, solver="sgd", momentum=0.9)
    _quiet_fit(FusedGridSearchCV(short, grid, cv=2), X, Y)
    for path in (tmp_path / "records").glob("*.json"):
        record = json.loads(path.read_text())
        path.write_text(json.dumps({**record, "n_iter": 1}))
    with pytest.warns(RuntimeWarning, match="Ignoring the fit record .*its n_iter 1 is not the 2 epochs its fit ran"):
        longer = _quiet_fit_keeping(FusedGridSearchCV(short, {**grid, "max_epochs": [5]}, cv=2, refit=False), X, Y)
    assert longer.resumed_fits_ == {}
    scratch = _quiet_fit(FusedGridSearchCV(_net(None, solver="sgd", momentum=0.9), {**grid, "max_epochs": [5]}, cv=2, refit=False), X, Y)
    np.testing.assert_array_equal(longer.cv_results_["mean_test_score"], scratch.cv_results_["mean_test_score"])
