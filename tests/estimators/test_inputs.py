"""Inputs as users have them: arrays of any numeric dtype, DataFrames, lists, labels of any type."""

import numpy as np
import pandas as pd
import pytest

from skbatch import MLPClassifier


def _fit(X, y, **params):
    return MLPClassifier(hidden_layer_sizes=(16,), max_epochs=2, random_state=0, **params).fit(X, y)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.int32, np.uint8])
def test_numeric_dtypes_give_the_same_model(small_digits, dtype):
    X, y = small_digits
    X_int = np.round(X * 16)
    reference = _fit(X_int.astype(np.float64), y).predict_proba(X_int)
    np.testing.assert_allclose(_fit(X_int.astype(dtype), y).predict_proba(X_int.astype(dtype)), reference)


def test_lists(small_digits):
    X, y = small_digits
    reference = _fit(X, y).predict(X)
    np.testing.assert_array_equal(_fit(X.tolist(), y.tolist()).predict(X.tolist()), reference)


def test_dataframe_records_feature_names(small_digits):
    X, y = small_digits
    frame = pd.DataFrame(X, columns=[f"px{i}" for i in range(64)])
    clf = _fit(frame, pd.Series(y))
    assert list(clf.feature_names_in_) == list(frame.columns)
    np.testing.assert_array_equal(clf.predict(frame), _fit(X, y).predict(X))


def test_string_labels_keep_scikit_learn_order(small_digits):
    X, y = small_digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    clf = _fit(X, names[y])
    np.testing.assert_array_equal(clf.classes_, np.sort(names))
    assert set(clf.predict(X)) <= set(names)
    # predict_proba's columns follow classes_.
    proba = clf.predict_proba(X)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))


def test_categorical_labels(small_digits):
    X, y = small_digits
    labels = pd.Series(pd.Categorical.from_codes(y % 3, categories=["cat", "dog", "bird"]))
    clf = _fit(X, labels)
    np.testing.assert_array_equal(clf.classes_, ["bird", "cat", "dog"])
    # The same model as on the labels' positions in classes_ (a score after
    # two epochs depends on the initial draw, not on the labels' type).
    positions = np.searchsorted(clf.classes_, labels.astype(str))
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[_fit(X, positions).predict(X)])


def test_sparse_integer_labels(small_digits):
    X, y = small_digits
    clf = _fit(X, y * 10 + 3)
    np.testing.assert_array_equal(clf.classes_, np.arange(10) * 10 + 3)
    assert set(clf.predict(X)) <= set(clf.classes_)


def test_boolean_labels(small_digits):
    X, y = small_digits
    clf = _fit(X, y > 4)
    np.testing.assert_array_equal(clf.classes_, [False, True])
    assert clf.predict(X).dtype == bool


def test_probabilities_sum_to_one(small_digits):
    X, y = small_digits
    proba = _fit(X, y).predict_proba(X)
    assert proba.dtype == np.float64 and proba.shape == (len(X), 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
