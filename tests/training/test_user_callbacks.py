"""The ``callbacks`` param: the user's skorch callbacks run in each fit, as copies, after skbatch's own."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback, EpochScoring

from skbatch import FusedGridSearchCV, MLPClassifier, MLPRegressor
from skbatch._compat import InvalidParameterError
from skbatch.fused.train import unstackable_reason


class CountSteps(Callback):
    """Counts training batches, gradient computations and epochs; state set in initialize, as skorch wants."""

    def initialize(self):
        self.batches_ = 0
        self.gradients_ = 0
        self.epochs_ = []
        return self

    def on_batch_end(self, net, training=False, **kwargs):
        self.batches_ += bool(training)

    def on_grad_computed(self, net, named_parameters, **kwargs):
        self.gradients_ += 1

    def on_epoch_end(self, net, **kwargs):
        self.epochs_.append(len(net.history))


def _net(**params):
    defaults = {"hidden_layer_sizes": (8,), "batch_size": 100, "max_epochs": 3, "tol": 0, "random_state": 0, "device": "cpu"}
    return MLPClassifier(**{**defaults, **params})


def test_batch_and_epoch_hooks_of_a_user_callback_run(small_digits):
    # The lean net calls only the batch hooks a callback overrides: a user's must be among them.
    counter = CountSteps()
    clf = _net(callbacks=[("counter", counter)]).fit(*small_digits)
    ran = dict(clf.net_.callbacks_)["counter"]
    assert ran.batches_ == ran.gradients_ == 3 * 4  # 400 rows in batches of 100, 3 epochs
    assert ran.epochs_ == [1, 2, 3]


def test_the_param_is_copied_for_each_fit_and_never_filled_in(small_digits):
    counter, scoring = CountSteps(), EpochScoring("accuracy", on_train=True, name="train_acc")
    callbacks = [("counter", counter), scoring]
    clf = _net(callbacks=callbacks).fit(*small_digits)
    assert clf.get_params()["callbacks"] is callbacks
    assert callbacks == [("counter", counter), scoring]
    assert not hasattr(counter, "batches_"), "the instance in the param must not run"
    assert not hasattr(scoring, "best_score_")
    again = clf.fit(*small_digits)
    assert dict(again.net_.callbacks_)["counter"].epochs_ == [1, 2, 3], "a refit starts from fresh copies"


def test_epoch_scoring_lands_in_history(small_digits):
    X, y = small_digits
    after_epoch = EpochScoring("accuracy", on_train=True, use_caching=False, name="train_acc", lower_is_better=False)
    during_epoch = EpochScoring("accuracy", on_train=True, name="running_acc", lower_is_better=False)
    clf = _net(callbacks=[after_epoch, during_epoch]).fit(X, y)
    assert len(clf.history_) == 3
    # Without caching, the score is the trained net's on the training data.
    assert clf.history_[-1]["train_acc"] == pytest.approx(clf.score(X, y))
    # With caching, it is made of the predictions of the epoch's own batches.
    assert all(0 <= epoch["running_acc"] <= 1 for epoch in clf.history_)


def test_clone_and_grid_search_see_the_param_as_given(small_digits):
    counter = CountSteps()
    clf = _net(callbacks=[("counter", counter)])
    copy = clone(clf)
    assert copy.callbacks[0][0] == "counter" and copy.callbacks[0][1] is not counter
    search = GridSearchCV(clf, {"lr": [1e-3, 1e-2]}, cv=2).fit(*small_digits)
    best = search.best_estimator_
    assert dict(best.net_.callbacks_)["counter"].epochs_ == [1, 2, 3]
    assert not hasattr(counter, "batches_")


def test_a_fitted_estimator_with_callbacks_pickles(small_digits):
    clf = _net(callbacks=[("counter", CountSteps())]).fit(*small_digits)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict(small_digits[0]), clf.predict(small_digits[0]))
    assert dict(restored.net_.callbacks_)["counter"].batches_ == 12


@pytest.mark.parametrize("name", ["stopping", "nonfinite_loss", "valid_loss", "train_loss", "print_log"])
def test_a_name_skbatch_or_skorch_uses_is_refused(small_digits, name):
    clf = _net(callbacks=[(name, CountSteps())])
    with pytest.raises(InvalidParameterError, match=f"callbacks\\[0\\] of MLPClassifier is named '{name}'.*another name"):
        clf.fit(*small_digits)


def test_the_regressor_checks_its_own_scoring_name():
    X = np.random.RandomState(0).normal(size=(60, 3))
    reg = MLPRegressor(max_epochs=1, early_stopping=True, device="cpu", callbacks=[("valid_r2", CountSteps())])
    with pytest.raises(InvalidParameterError, match="named 'valid_r2'"):
        reg.fit(X, X[:, 0])


def test_a_name_given_twice_is_refused(small_digits):
    clf = _net(callbacks=[("mine", CountSteps()), ("mine", CountSteps())])
    with pytest.raises(InvalidParameterError, match=r"callbacks\[1\] of MLPClassifier is named 'mine', like an earlier one"):
        clf.fit(*small_digits)


@pytest.mark.parametrize("bad", [["accuracy"], [("name", "accuracy")], [(1, CountSteps())]])
def test_an_item_that_is_not_a_callback_is_refused(small_digits, bad):
    with pytest.raises(InvalidParameterError, match=r"callbacks\[0\] of MLPClassifier must be a skorch callback"):
        _net(callbacks=bad).fit(*small_digits)


def test_a_single_callback_must_come_in_a_list(small_digits):
    with pytest.raises(InvalidParameterError, match="'callbacks' parameter of MLPClassifier must be"):
        _net(callbacks=CountSteps()).fit(*small_digits)


def test_a_fused_search_trains_candidates_with_callbacks_one_by_one(small_digits):
    clf = _net(callbacks=[("counter", CountSteps())])
    assert unstackable_reason(clf) == "its callbacks run inside each fit's own training loop"
    search = FusedGridSearchCV(clf, {"lr": [1e-3, 1e-2]}, cv=2).fit(*small_digits)
    assert search.unfused_fits_ == {"its callbacks run inside each fit's own training loop": 4}
    assert dict(search.best_estimator_.net_.callbacks_)["counter"].epochs_ == [1, 2, 3]
