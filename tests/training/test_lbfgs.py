"""solver='lbfgs': full-batch scipy L-BFGS-B, matching scikit-learn's MLP."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.preprocessing import StandardScaler

from skbatch import (
    ConvNetClassifier,
    FusedGridSearchCV,
    MLPClassifier,
    MLPRegressor,
    TorchClassifier,
    find_max_batch_size,
)
from skbatch.fused.train import unstackable_reason
from skbatch.training.penalty import l2_penalty, penalized_weights

X_iris, y_iris = load_iris(return_X_y=True)
X_iris = StandardScaler().fit_transform(X_iris).astype(np.float32)


def lbfgs(**params):
    return MLPClassifier(**{"solver": "lbfgs", "hidden_layer_sizes": (8,), "random_state": 0, "device": "cpu", **params})


def _linears(estimator):
    return [m for m in estimator.net_.module_.modules() if isinstance(m, torch.nn.Linear)]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_same_start_reaches_scikit_learns_loss():
    # Both start from the same weights (an skbatch fit of one iteration,
    # copied into scikit-learn's warm start); alpha=1 gives one clear
    # minimum, with the penalty a large part of the loss.
    ours = lbfgs(alpha=1.0, max_epochs=1, warm_start=True).fit(X_iris, y_iris)
    theirs = SkMLPClassifier(solver="lbfgs", hidden_layer_sizes=(8,), alpha=1.0, max_iter=1, warm_start=True, random_state=0).fit(
        X_iris, y_iris
    )
    theirs.coefs_ = [layer.weight.detach().numpy().T.astype(np.float64) for layer in _linears(ours)]
    theirs.intercepts_ = [layer.bias.detach().numpy().astype(np.float64) for layer in _linears(ours)]
    theirs.set_params(max_iter=300).fit(X_iris, y_iris)
    ours.set_params(max_epochs=300).fit(X_iris, y_iris)
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=0.03)
    assert ours.score(X_iris, y_iris) == pytest.approx(theirs.score(X_iris, y_iris), abs=0.02)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_digits_score_close_to_scikit_learn():
    X, y = load_digits(return_X_y=True)
    X = X[:600] / 16.0
    y = y[:600]
    params = {"solver": "lbfgs", "hidden_layer_sizes": (32,), "random_state": 0}
    ours = MLPClassifier(max_epochs=100, device="cpu", **params).fit(X[:400], y[:400])
    theirs = SkMLPClassifier(max_iter=100, **params).fit(X[:400], y[:400])
    assert ours.score(X[400:], y[400:]) == pytest.approx(theirs.score(X[400:], y[400:]), abs=0.04)


def test_loss_includes_scikit_learns_penalty():
    clf = lbfgs(alpha=0.5, max_epochs=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_iris, y_iris)
    module = clf.net_.module_
    with torch.no_grad():
        data_loss = torch.nn.functional.cross_entropy(module(torch.as_tensor(X_iris)), torch.as_tensor(y_iris))
        squares = sum(float((layer.weight.double() ** 2).sum()) for layer in _linears(clf))
    assert clf.loss_ == pytest.approx(float(data_loss) + 0.5 * 0.5 * squares / len(X_iris), rel=1e-4)
    # The biases are left out, as scikit-learn's intercepts_.
    assert len(penalized_weights(module)) == len(_linears(clf))
    with torch.no_grad():
        penalty = float(l2_penalty(penalized_weights(module), 0.5, len(X_iris)))
    assert penalty == pytest.approx(0.5 * 0.5 * squares / len(X_iris), rel=1e-5)


def test_max_fun_limits_loss_evaluations():
    clf = lbfgs(max_fun=10, max_epochs=150)
    with pytest.warns(ConvergenceWarning, match="F,G EVALUATIONS EXCEEDS LIMIT"):
        clf.fit(X_iris, y_iris)
    assert clf.n_iter_ <= 10
    # scipy may finish the call in progress: at most one beyond max_fun, as in scikit-learn.
    calls = sum(row["train_batch_count"] for row in clf.net_.history)
    assert 10 <= calls <= 11


def test_max_epochs_counts_lbfgs_iterations():
    clf = lbfgs(max_epochs=7, warm_start=True)
    with pytest.warns(ConvergenceWarning, match="max_iter=7"):
        clf.fit(X_iris, y_iris)
    assert clf.n_iter_ == 7
    assert len(clf.net_.history) == 7
    # n_iter_ counts the last fit's iterations, as scipy's nit in scikit-learn.
    clf.set_params(max_epochs=9)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X_iris, y_iris)
    assert clf.n_iter_ == 9
    assert not hasattr(clf, "loss_curve_")


def test_converges_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = lbfgs(max_epochs=500, tol=1e-3).fit(X_iris, y_iris)
    assert clf.n_iter_ < 500
    assert clf.score(X_iris, y_iris) > 0.95


def test_partial_fit_refused_as_in_scikit_learn():
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    assert not hasattr(MLPRegressor(solver="lbfgs"), "partial_fit")
    assert hasattr(MLPClassifier(solver="adam"), "partial_fit")
    # scikit-learn's available_if message, with its reason as the cause.
    with pytest.raises(AttributeError, match="has no attribute 'partial_fit'") as raised:
        MLPClassifier(solver="lbfgs").partial_fit(X_iris, y_iris, classes=[0, 1, 2])
    assert "partial_fit is only available for stochastic optimizers. lbfgs is not stochastic." in str(raised.value.__cause__)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_full_batch_whatever_batch_size_and_early_stopping_say():
    reference = lbfgs(max_epochs=5).fit(X_iris, y_iris)
    for params in ({"batch_size": 16}, {"batch_size": "max"}, {"early_stopping": True}):
        clf = lbfgs(max_epochs=5, **params).fit(X_iris, y_iris)
        assert clf.batch_size_ == len(X_iris)
        assert clf.max_batch_search_ is None
        assert clf.validation_scores_ is None
        assert clf.loss_ == reference.loss_, params
    # accumulation_steps splits each pass; the gradient is the same up to rounding.
    split = lbfgs(max_epochs=5, accumulation_steps=3).fit(X_iris, y_iris)
    assert split.loss_ == pytest.approx(reference.loss_, rel=1e-3)


def test_find_max_batch_size_refuses_lbfgs():
    with pytest.raises(ValueError, match="solver='lbfgs', which always trains on the full batch"):
        find_max_batch_size(MLPClassifier(solver="lbfgs", device="cpu"), X_iris, y_iris)


def test_warm_start_from_lbfgs_to_another_solver_refused():
    clf = lbfgs(max_epochs=3, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_iris, y_iris)
    with pytest.raises(ValueError, match="fitted with solver='lbfgs'.*warm_start=False"):
        clf.set_params(solver="adam").fit(X_iris, y_iris)


def test_fused_fallback_reason():
    assert "solver='lbfgs'" in unstackable_reason(MLPClassifier(solver="lbfgs"))


class _Softmax(torch.nn.Module):
    def __init__(self, n_features_in, n_classes):
        super().__init__()
        self.linear = torch.nn.Linear(n_features_in, n_classes)

    def forward(self, X):
        return self.linear(X)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_regressor_convnet_and_custom_module():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 4)).astype(np.float32)
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1
    reg = MLPRegressor(solver="lbfgs", hidden_layer_sizes=(8,), max_epochs=100, random_state=0, device="cpu")
    assert reg.fit(X, y).score(X, y) > 0.98
    cnn = ConvNetClassifier(solver="lbfgs", image_shape=(2, 2), channels=(2,), dense_layer_sizes=(4,), max_epochs=5, device="cpu")
    assert cnn.fit(X_iris, y_iris).n_iter_ <= 5
    custom = TorchClassifier(module=_Softmax, solver="lbfgs", max_epochs=30, device="cpu")
    assert custom.fit(X_iris, y_iris).score(X_iris, y_iris) > 0.9


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("search_class", [GridSearchCV, FusedGridSearchCV])
def test_grid_over_solvers(search_class):
    grid = {"solver": ["adam", "lbfgs"], "alpha": [1e-4, 1e-2], "max_epochs": [10]}
    search = search_class(lbfgs(), grid, cv=3).fit(X_iris, y_iris)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    if search_class is FusedGridSearchCV:
        assert any("lbfgs" in reason for reason in search.unfused_fits_)


@pytest.mark.gpu
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_cuda_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    cpu = lbfgs(alpha=1.0, max_epochs=50).fit(X_iris, y_iris)
    gpu = lbfgs(alpha=1.0, max_epochs=50, device="cuda").fit(X_iris, y_iris)
    assert gpu.device_.type == "cuda"
    assert gpu.loss_ == pytest.approx(cpu.loss_, rel=1e-2)


def test_lbfgs_takes_sparse_x_and_sample_weight():
    # Full batch never densifies the whole matrix, and weights weigh as repeated rows do.
    import scipy.sparse

    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    params = dict(solver="lbfgs", hidden_layer_sizes=(8,), max_epochs=20, random_state=0, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sparse = MLPClassifier(**params).fit(scipy.sparse.csr_matrix(X), y)
        dense = MLPClassifier(**params).fit(X, y)
        weights = np.ones(len(y))
        weights[:10] = 2
        weighted = MLPClassifier(**params).fit(X, y, sample_weight=weights)
        repeated = MLPClassifier(**params).fit(np.vstack([X, X[:10]]), np.concatenate([y, y[:10]]))
    np.testing.assert_allclose(sparse.predict_proba(X), dense.predict_proba(X), atol=1e-5)
    # The first call of the objective is the loss at the same initial weights.
    first = [est.net_.history[0]["batches"][0]["train_loss"] for est in (weighted, repeated)]
    np.testing.assert_allclose(first[0], first[1], rtol=1e-5)
