"""MLPRegressor and the regressor base: targets, outputs, loss, R² and early stopping."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.datasets import make_regression
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV
from skorch import NeuralNetRegressor

from skbatch import MLPClassifier, MLPRegressor
from skbatch.training.modules import MLPModule
from skbatch.training.net import LeanNeuralNetRegressor


@pytest.fixture(scope="module")
def data():
    X, y = make_regression(n_samples=200, n_features=5, n_targets=2, noise=0.1, random_state=0)
    return X.astype(np.float32), (y / y.std(axis=0)).astype(np.float32)


def fast(**params):
    defaults = {"hidden_layer_sizes": (32,), "max_epochs": 40, "lr": 1e-2, "random_state": 0, "device": "cpu"}
    return MLPRegressor(**{**defaults, **params})


def test_same_params_as_mlp_classifier():
    # Besides the regressor's own loss, as in scikit-learn's MLPRegressor.
    params = MLPRegressor().get_params()
    assert params.pop("loss") == "squared_error"
    assert params == MLPClassifier().get_params()


def test_one_dimensional_target_gives_one_dimensional_predictions(data):
    X, Y = data
    reg = fast().fit(X, Y[:, 0])
    assert reg.n_outputs_ == 1
    assert reg.predict(X).shape == (len(X),)
    assert reg.predict(X).dtype == np.float64


def test_two_dimensional_target_gives_one_column_per_output(data):
    X, Y = data
    reg = fast().fit(X, Y)
    assert reg.n_outputs_ == 2
    assert reg.predict(X).shape == (len(X), 2)
    assert reg.net_.module_.layers[-1].out_features == 2


def test_single_column_target_predicts_one_dimension_as_scikit_learn_does(data):
    X, Y = data
    reg = fast().fit(X, Y[:, :1])
    assert reg.n_outputs_ == 1
    assert reg.predict(X).shape == (len(X),)


def test_learns_and_scores_r2(data):
    X, Y = data
    reg = fast().fit(X, Y)
    assert reg.score(X, Y) == pytest.approx(r2_score(Y, reg.predict(X)))
    assert reg.score(X, Y) > 0.9


def test_integer_targets_train_as_floats(data):
    X, Y = data
    reg = fast(max_epochs=2).fit(X, np.round(Y[:, 0] * 10).astype(int))
    assert reg.predict(X).dtype == np.float64


def test_loss_is_mean_squared_error(data):
    X, Y = data
    # A negligible step leaves the weights as they were, so the training loss
    # of the second fit is the squared error of the first fit's predictions.
    reg = fast(max_epochs=1, batch_size="full", lr=1e-12, alpha=0.0, warm_start=True).fit(X, Y)
    before = reg.predict(X)
    reg.fit(X, Y)
    assert isinstance(reg.net_.criterion_, torch.nn.MSELoss)
    assert reg.loss_ == pytest.approx(np.mean((Y - before) ** 2), rel=1e-4)


def test_early_stopping_monitors_validation_r2(data):
    X, Y = data
    reg = fast(early_stopping=True, n_iter_no_change=3, max_epochs=100).fit(X, Y)
    assert len(reg.validation_scores_) == reg.n_iter_
    assert all(score <= 1 for score in reg.validation_scores_)
    assert reg.best_validation_score_ == max(reg.validation_scores_)
    assert reg.best_validation_score_ > 0.5


def test_without_early_stopping_there_are_no_validation_scores(data):
    X, Y = data
    reg = fast(max_epochs=2).fit(X, Y)
    assert reg.validation_scores_ is None
    assert reg.best_validation_score_ is None


def test_partial_fit_trains_one_epoch_per_call(data):
    X, Y = data
    reg = fast()
    for _ in range(3):
        reg.partial_fit(X, Y)
    assert reg.n_iter_ == 1 and len(reg.loss_curve_) == 3


def test_partial_fit_rejects_a_different_number_of_outputs(data):
    X, Y = data
    reg = fast().partial_fit(X, Y)
    with pytest.raises(ValueError, match=r"y has 1 output\(s\), but MLPRegressor was fitted with 2"):
        reg.partial_fit(X, Y[:, 0])


def test_warm_start_rejects_a_different_number_of_outputs(data):
    X, Y = data
    reg = fast(max_epochs=2, warm_start=True).fit(X, Y[:, 0])
    with pytest.raises(ValueError, match="set warm_start=False to train from scratch"):
        reg.fit(X, Y)


def test_predict_rejects_a_different_number_of_features(data):
    X, Y = data
    reg = fast(max_epochs=1).fit(X, Y)
    with pytest.raises(ValueError, match="X has 4 features, but MLPRegressor is expecting 5"):
        reg.predict(X[:, :4])


def test_pickled_regressor_predicts_the_same(data):
    X, Y = data
    reg = fast(max_epochs=3).fit(X, Y)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(reg)).predict(X), reg.predict(X))


def test_grid_search_ranks_by_r2(data):
    X, Y = data
    search = GridSearchCV(fast(max_epochs=5), {"batch_size": [16, 64]}, cv=2).fit(X, Y[:, 0])
    assert set(search.cv_results_["param_batch_size"]) == {16, 64}
    assert search.best_score_ <= 1


def test_lean_regressor_net_records_the_same_history_as_skorch(data):
    X, Y = data
    histories = []
    for net_class in (NeuralNetRegressor, LeanNeuralNetRegressor):
        torch.manual_seed(0)
        net = net_class(
            MLPModule,
            module__n_features_in=X.shape[1],
            module__n_outputs=Y.shape[1],
            max_epochs=3,
            lr=1e-2,
            batch_size=32,
            train_split=None,
            verbose=0,
        ).fit(X, Y)
        histories.append(net.history)
    skorch_history, lean_history = histories
    assert lean_history[:, "train_loss"] == pytest.approx(skorch_history[:, "train_loss"])
    assert lean_history[-1, "batches"] == skorch_history[-1, "batches"]


def test_batch_size_toolkit_trains_a_regressor(data):
    X, Y = data
    # 'max' probes with the regressor's own loss and float targets.
    reg = fast(batch_size="max", max_epochs=2).fit(X, Y)
    assert reg.batch_size_ == len(X)
    assert reg.max_batch_search_.batch_size == len(X)
    scheduled = fast(batch_size=16, batch_size_milestones=1, max_epochs=3, lr_scaling="linear").fit(X, Y)
    assert scheduled.batch_size_curve_ == [16, 32, 64]
    assert scheduled.lr_ == pytest.approx(1e-2 * 16 / 200)


def test_accumulated_slices_give_the_update_of_the_whole_batch(data):
    X, Y = data
    whole = fast(batch_size=40, max_epochs=2, shuffle=False).fit(X, Y)
    sliced = fast(batch_size=40, max_epochs=2, shuffle=False, accumulation_steps=4).fit(X, Y)
    np.testing.assert_allclose(sliced.predict(X), whole.predict(X), rtol=1e-4, atol=1e-5)
