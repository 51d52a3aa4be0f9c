"""``verbose`` levels: 1 prints a line per epoch, 2 adds a bar over each long epoch's batches, 0 adds nothing."""

import pickle

import pytest
from tqdm.std import tqdm

from skbatch import MLPClassifier
from skbatch.training import progress_bar


def _net(**params):
    defaults = {"hidden_layer_sizes": (8,), "batch_size": 100, "max_epochs": 3, "tol": 0, "random_state": 0, "device": "cpu"}
    return MLPClassifier(**{**defaults, **params})


def _epoch_lines(out):
    return [line for line in out.splitlines() if line.strip()[:1].isdigit()]


@pytest.fixture
def bar_at_once(monkeypatch):
    # Every epoch shows its bar, however short: what a long epoch does.
    monkeypatch.setattr(progress_bar, "SHOW_AFTER", 0)


@pytest.fixture
def closed_bars(monkeypatch):
    """``(description, batches counted, total)`` of each bar when it closed."""
    closed = []

    class Recorded(tqdm):
        def close(self):
            if not self.disable:
                closed.append((self.desc, self.n, self.total))
            super().close()

    monkeypatch.setattr(progress_bar, "tqdm", Recorded)
    return closed


def test_verbose_2_shows_a_bar_over_each_epochs_batches(small_digits, capsys, bar_at_once, closed_bars):
    _net(verbose=2).fit(*small_digits)
    out, err = capsys.readouterr()
    assert len(_epoch_lines(out)) == 3, "the line per epoch of verbose=1 stays"
    # 400 rows in batches of 100: the total is known from the first epoch on.
    assert "epoch 1:   0%|          | 0/4 [" in err
    assert closed_bars == [("epoch 1", 4, 4), ("epoch 2", 4, 4), ("epoch 3", 4, 4)]


def test_the_bar_follows_a_growing_batch_size(small_digits, bar_at_once, closed_bars):
    _net(verbose=2, batch_size_milestones=2).fit(*small_digits)
    assert closed_bars == [("epoch 1", 4, 4), ("epoch 2", 4, 4), ("epoch 3", 2, 2)]


def test_the_bar_closes_when_the_stopping_rule_ends_training(small_digits, bar_at_once, closed_bars):
    clf = _net(verbose=2, max_epochs=50, n_iter_no_change=1, tol=10.0).fit(*small_digits)
    assert clf.n_iter_ < 50
    assert len(closed_bars) == clf.n_iter_ and all(n == total for _, n, total in closed_bars)


def test_verbose_1_prints_lines_and_no_bar(small_digits, capsys, bar_at_once):
    clf = _net(verbose=1).fit(*small_digits)
    out, err = capsys.readouterr()
    assert len(_epoch_lines(out)) == 3
    assert err == ""
    assert "progress_bar" not in dict(clf.net_.callbacks_)


def test_verbose_0_adds_no_callback(small_digits, capsys, bar_at_once):
    clf = _net().fit(*small_digits)
    assert capsys.readouterr() == ("", "")
    assert "progress_bar" not in dict(clf.net_.callbacks_)


def test_a_fit_with_verbose_2_pickles(small_digits, capsys, bar_at_once):
    clf = _net(verbose=2).fit(*small_digits)
    assert pickle.loads(pickle.dumps(clf)).history_ == clf.history_
