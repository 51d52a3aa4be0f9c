"""clone, pickle, joblib and get_params/set_params round trips."""

import io
import pickle

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from skorch.callbacks import EpochScoring

from skbatch import MLPClassifier

NON_DEFAULT = {
    "hidden_layer_sizes": "32-16",
    "activation": "tanh",
    "dropout": 0.1,
    "batch_size": 17,
    "drop_last": True,
    "accumulation_steps": 2,
    "lr_scaling": "sqrt",
    "base_batch_size": 32,
    "batch_size_milestones": 2,
    "batch_size_growth": 1.5,
    "track_noise_scale": True,
    "max_epochs": 3,
    "max_iter": 3,  # the alias, at the same value: both set differently is an error
    "lr": 0.02,
    "learning_rate_init": 0.02,
    "solver": "sgd",
    "momentum": 0.5,
    "nesterovs_momentum": False,
    "beta_1": 0.8,
    "beta_2": 0.9,
    "epsilon": 1e-7,
    "alpha": 0.001,
    "learning_rate": "invscaling",
    "power_t": 0.25,
    "early_stopping": True,
    "validation_fraction": 0.2,
    "n_iter_no_change": 4,
    "tol": 1e-3,
    "max_fun": 500,
    "shuffle": False,
    "random_state": 5,
    "warm_start": True,
    "device": "cpu",
    "verbose": 0,
    "callbacks": [("train_acc", EpochScoring("accuracy", on_train=True, name="train_acc"))],
    "cache_dir": None,  # a folder, set in the test: it needs one that exists
}


def test_every_param_round_trips_through_set_params_and_fit(small_digits, tmp_path):
    assert set(NON_DEFAULT) == set(MLPClassifier().get_params()), "the table above must name every param"
    params = {**NON_DEFAULT, "cache_dir": str(tmp_path)}
    clf = MLPClassifier().set_params(**params)
    assert clf.get_params() == params
    clf.fit(*small_digits)
    assert clf.get_params() == params, "fit must not change params"
    # The first epoch ran at the batch_size asked for; batch_size_ is the last
    # epoch's, which batch_size_milestones grew.
    assert clf.batch_size_curve_[0] == 17
    assert clf.batch_size_ == clf.batch_size_curve_[-1] == 26


def test_clone_of_fitted_estimator_is_unfitted(small_digits):
    clf = MLPClassifier(max_epochs=1, random_state=0).fit(*small_digits)
    copy = clone(clf)
    assert copy.get_params() == clf.get_params()
    assert not hasattr(copy, "net_")


@pytest.mark.parametrize("round_trip", ["pickle", "joblib"])
def test_fitted_model_round_trips(small_digits, round_trip, tmp_path):
    X, y = small_digits
    clf = MLPClassifier(max_epochs=2, random_state=0).fit(X, y)
    if round_trip == "pickle":
        restored = pickle.loads(pickle.dumps(clf))
    else:
        joblib.dump(clf, tmp_path / "model.joblib")
        restored = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    assert restored.batch_size_ == clf.batch_size_ and restored.n_iter_ == clf.n_iter_


def test_restored_model_keeps_training(small_digits):
    X, y = small_digits
    clf = MLPClassifier(max_epochs=2, warm_start=True, learning_rate="invscaling", random_state=0).fit(X, y)
    buffer = io.BytesIO()
    joblib.dump(clf, buffer)
    buffer.seek(0)
    restored = joblib.load(buffer)
    restored.fit(X, y)
    assert len(restored.loss_curve_) == 4
