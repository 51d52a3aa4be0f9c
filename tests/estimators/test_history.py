"""``history_``: the training history as plain per-epoch dicts, read from the net, surviving pickles and the cache."""

import pickle

import numpy as np
import pandas as pd
import pytest

from skbatch import MLPClassifier


def _net(**params):
    defaults = {"hidden_layer_sizes": (8,), "batch_size": 100, "max_epochs": 3, "tol": 0, "random_state": 0, "device": "cpu"}
    return MLPClassifier(**{**defaults, **params})


def test_one_plain_dict_per_epoch_with_loss_batch_size_and_duration(small_digits):
    clf = _net(batch_size_milestones=2).fit(*small_digits)
    history = clf.history_
    assert isinstance(history, list) and all(type(epoch) is dict for epoch in history)
    assert [epoch["epoch"] for epoch in history] == [1, 2, 3]
    assert [epoch["train_loss"] for epoch in history] == clf.loss_curve_
    assert [epoch["batch_size"] for epoch in history] == clf.batch_size_curve_ == [100, 100, 200]
    assert [epoch["train_batch_count"] for epoch in history] == [4, 4, 2]
    assert all(epoch["dur"] > 0 for epoch in history)
    assert not any("batches" in epoch for epoch in history), "the per-batch list stays in net_.history"
    table = pd.DataFrame(history)
    assert {"epoch", "train_loss", "batch_size", "dur"} <= set(table.columns)


def test_held_out_scores_come_with_early_stopping(small_digits):
    clf = _net(early_stopping=True).fit(*small_digits)
    assert [epoch["valid_acc"] for epoch in clf.history_] == clf.validation_scores_
    assert all("valid_loss" in epoch for epoch in clf.history_)


def test_not_there_before_fit_and_changing_it_changes_nothing(small_digits):
    clf = _net()
    assert not hasattr(clf, "history_")
    with pytest.raises(AttributeError, match="call fit or partial_fit first"):
        clf.history_
    clf.fit(*small_digits)
    clf.history_[0]["train_loss"] = -1.0
    clf.history_.clear()
    assert clf.history_[0]["train_loss"] == clf.loss_curve_[0] > 0


def test_partial_fit_extends_it(small_digits):
    X, y = small_digits
    clf = _net()
    clf.partial_fit(X, y, classes=np.unique(y))
    clf.partial_fit(X, y)
    assert [epoch["epoch"] for epoch in clf.history_] == [1, 2]


def test_survives_pickle_and_the_fit_cache(small_digits, tmp_path):
    clf = _net(cache_dir=tmp_path).fit(*small_digits)
    assert pickle.loads(pickle.dumps(clf)).history_ == clf.history_
    restored = _net(cache_dir=tmp_path).fit(*small_digits)  # from the cache, not trained
    assert restored.history_ == clf.history_
    assert "history_" not in vars(clf), "read from the net, not stored a second time"
