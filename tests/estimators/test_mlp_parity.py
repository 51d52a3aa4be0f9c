"""skbatch's MLPs against scikit-learn's: alpha's scale, param aliases, fitted attributes, errors."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier as SkMLPClassifier

from skbatch import MLPClassifier, MLPRegressor
from skbatch.training.faults import NonFiniteLossError


def _copy_weights(ours, theirs):
    """Put scikit-learn's coefs_/intercepts_ into skbatch's module (transposed to torch's layout)."""
    linears = [m for m in ours.net_.module_.modules() if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for layer, coef, intercept in zip(linears, theirs.coefs_, theirs.intercepts_):
            layer.weight.copy_(torch.as_tensor(coef.T))
            layer.bias.copy_(torch.as_tensor(intercept))


def test_one_sgd_step_with_alpha_matches_scikit_learn(digits):
    # One full-batch SGD step with a strong penalty: the weights must move
    # as scikit-learn's do (the penalty scaled by the batch's rows), not
    # shrink by lr * alpha as a plain weight decay would.
    X, y = digits
    X, y = X[:100], y[:100]
    common = dict(hidden_layer_sizes=(8,), solver="sgd", alpha=1.0, momentum=0.0, batch_size=100)
    theirs = SkMLPClassifier(**common, learning_rate_init=0.1, max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs.partial_fit(X, y, classes=np.unique(y))
        start = [c.copy() for c in theirs.coefs_], [b.copy() for b in theirs.intercepts_]
        theirs.partial_fit(X, y)
        ours = MLPClassifier(**common, lr=0.1, shuffle=False, device="cpu", random_state=0)
        ours.partial_fit(X, y, classes=np.unique(y))
        # Start both from scikit-learn's weights before its second step.
        start_model = SkMLPClassifier(**common)
        start_model.coefs_, start_model.intercepts_ = start
        _copy_weights(ours, start_model)
        ours.partial_fit(X, y)
    for step_ours, step_theirs, before in zip(ours.coefs_, theirs.coefs_, start[0]):
        np.testing.assert_allclose(step_ours - before, step_theirs - before, rtol=0.1, atol=1e-4)
    # The reported loss holds the penalty of the weights the step started from.
    penalty = 0.5 * sum(np.sum(c.astype(np.float64) ** 2) for c in start[0]) / 100
    assert ours.loss_curve_[-1] > penalty


def test_alpha_is_in_the_reported_loss(digits):
    X, y = digits[0][:200], digits[1][:200]
    params = dict(hidden_layer_sizes=(16,), max_epochs=2, random_state=0, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = MLPClassifier(alpha=0.0, **params).fit(X, y)
        penalized = MLPClassifier(alpha=10.0, **params).fit(X, y)
    penalty = 0.5 * 10.0 * sum(np.sum(c.astype(np.float64) ** 2) for c in penalized.coefs_) / 200
    assert penalized.loss_ > plain.loss_ + 0.5 * penalty


@pytest.mark.parametrize("alias, own, value", [("learning_rate_init", "lr", 0.05), ("max_iter", "max_epochs", 3)])
def test_aliases_are_params(alias, own, value):
    est = MLPClassifier().set_params(**{alias: value})
    assert est.get_params()[alias] == value
    assert clone(est).get_params()[alias] == value


def test_alias_conflict_names_both_params(digits):
    X, y = digits[0][:50], digits[1][:50]
    with pytest.raises(ValueError, match=r"lr=0\.1 and learning_rate_init=0\.01.*Set only one"):
        MLPClassifier(lr=0.1, learning_rate_init=0.01, device="cpu").fit(X, y)
    with pytest.raises(ValueError, match=r"max_epochs=5 and max_iter=3"):
        MLPClassifier(max_epochs=5, max_iter=3, device="cpu").fit(X, y)


def test_grid_over_scikit_learn_names(digits):
    X, y = digits[0][:150], digits[1][:150]
    grid = {"learning_rate_init": [1e-3, 1e-2], "max_iter": [2], "alpha": [1e-4, 1e-2]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(MLPClassifier(hidden_layer_sizes=(8,), device="cpu"), grid, cv=2).fit(X, y)
    assert search.best_estimator_.n_iter_ == 2
    assert search.best_estimator_.lr_ in (1e-3, 1e-2)


def test_fitted_attributes_follow_scikit_learn(digits):
    X, y = digits[0][:120], digits[1][:120]
    with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(3\\)"):
        clf = MLPClassifier(hidden_layer_sizes=(7, 5), max_iter=3, device="cpu").fit(X, y)
    assert [c.shape for c in clf.coefs_] == [(64, 7), (7, 5), (5, 10)]
    assert [b.shape for b in clf.intercepts_] == [(7,), (5,), (10,)]
    assert clf.n_layers_ == 4 and clf.n_outputs_ == 10 and clf.out_activation_ == "softmax"
    assert clf.t_ == 3 * 120 and clf.best_loss_ == min(clf.loss_curve_)
    np.testing.assert_allclose(clf.predict_log_proba(X[:5]), np.log(clf.predict_proba(X[:5])))
    # Views: a change to the module shows in coefs_.
    with torch.no_grad():
        clf.net_.module_.layers[0].weight[0, 0] = 42.0
    assert clf.coefs_[0][0, 0] == 42.0
    # n_iter_ counts the last call, t_ runs on.
    clf.partial_fit(X, y)
    assert clf.n_iter_ == 1 and clf.t_ == 4 * 120


def test_partial_fit_refuses_early_stopping(digits):
    X, y = digits[0][:60], digits[1][:60]
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        MLPClassifier(early_stopping=True, device="cpu").partial_fit(X, y, classes=np.arange(10))


def test_validation_split_of_one_row_is_refused():
    X, y = np.random.RandomState(0).rand(5, 3), np.arange(5.0)
    with pytest.raises(ValueError, match="The validation set is too small: validation_fraction=0.1 of 5"):
        MLPRegressor(early_stopping=True, device="cpu").fit(X, y)


def test_diverging_regressor_with_early_stopping_raises_non_finite_loss():
    X = np.random.RandomState(0).rand(60, 4) * 100
    y = X.sum(axis=1)
    est = MLPRegressor(solver="sgd", lr=10.0, activation="identity", early_stopping=True, max_epochs=20, device="cpu")
    with pytest.raises(NonFiniteLossError):
        est.fit(X, y)


def test_n_iter_no_change_inf_runs_every_epoch(digits):
    X, y = digits[0][:60], digits[1][:60]
    with pytest.warns(ConvergenceWarning):
        clf = MLPClassifier(tol=1e9, n_iter_no_change=np.inf, max_epochs=4, device="cpu").fit(X, y)
    assert clf.n_iter_ == 4


def test_cli_searches_scikit_learn_names(tmp_path, capsys):
    # Before the alias, the CLI answered "did you mean 'learning_rate'?".
    import pandas as pd
    from sklearn.datasets import load_iris

    from skbatch import cli

    X, y = load_iris(return_X_y=True, as_frame=True)
    X.assign(species=y).to_csv(tmp_path / "iris.csv", index=False)
    argv = [
        "search",
        tmp_path / "iris.csv",
        "--target",
        "species",
        "--output-dir",
        tmp_path / "out",
        "--cv",
        "2",
        "--no-progress",
        "--param",
        "learning_rate_init=1e-3,1e-2",
        "--param",
        "max_iter=2",
    ]
    status = cli.main([str(a) for a in argv])
    assert status == 0, capsys.readouterr().err
    table = pd.read_csv(tmp_path / "out" / "report.csv")
    assert sorted(table["learning_rate_init"]) == [1e-3, 1e-2]


def test_fused_search_over_learning_rate_init_matches_grid_search(digits):
    from skbatch import FusedGridSearchCV

    X, y = digits[0][:150], digits[1][:150]
    net = MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, alpha=1e-2, random_state=0, device="cpu")
    grid = {"learning_rate_init": [1e-3, 1e-2]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fused = FusedGridSearchCV(net, grid, cv=2).fit(X, y)
        plain = GridSearchCV(net, grid, cv=2).fit(X, y)
    assert len(fused.fused_stacks_) == 1  # both rates in one stack: learning_rate_init is per model
    np.testing.assert_allclose(fused.cv_results_["mean_test_score"], plain.cv_results_["mean_test_score"], atol=1e-6)


def test_predict_log_proba_and_out_activation_for_every_classifier():
    # predict_log_proba lives on the classifier base: the ConvNet has it too.
    from skbatch import ConvNetClassifier

    X, y = load_digits(return_X_y=True)
    conv = ConvNetClassifier(channels=(2,), dense_layer_sizes=(), image_shape=(1, 8, 8), max_epochs=1, device="cpu", random_state=0).fit(
        X[:100] / 16, y[:100]
    )
    np.testing.assert_allclose(conv.predict_log_proba(X[:5] / 16), np.log(conv.predict_proba(X[:5] / 16)))
    # A multilabel MLP's outputs go through a sigmoid per label: scikit-learn's 'logistic'.
    Y = np.stack([y[:100] % 2, (y[:100] > 4).astype(int)], axis=1)
    multilabel = MLPClassifier(hidden_layer_sizes=(8,), max_epochs=1, device="cpu", random_state=0).fit(X[:100], Y)
    assert multilabel.out_activation_ == "logistic"
