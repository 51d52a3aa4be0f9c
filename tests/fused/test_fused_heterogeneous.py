"""Heterogeneous stacks: models that differ in width, activation, solver, schedule or early stopping train as one stack.

Exactness is the contract: every member of a stack equals its own unfused
fit. Each case trains a set of fits fused, in one stack, and each one alone
with its own ``fit``, and compares the weights (``coefs_`` and
``intercepts_``) to float32 rounding, the epochs run and the loss curve; the
search cases compare ``FusedGridSearchCV`` with ``GridSearchCV`` over the
same estimator.
"""

import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold

from skbatch import FusedGridSearchCV, FusedHalvingGridSearchCV, MLPClassifier, MLPRegressor
from skbatch.devices.pool import place_fit
from skbatch.fused.train import FusedMember, train_fused

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def data():
    X, y = load_digits(return_X_y=True)
    return (X[:360] / 16.0).astype(np.float32), y[:360]


def _base(**params):
    defaults = dict(hidden_layer_sizes=(16,), max_epochs=4, batch_size=32, lr=0.01, random_state=0, device="cpu")
    return MLPClassifier(**{**defaults, **params})


def _folds(X, n=2):
    return list(KFold(n, shuffle=True, random_state=0).split(X))


def _fit_fused(estimators, X, y, folds):
    """Each estimator on each fold, fused; return the members (fitted in place) and the stacks."""
    members = [
        FusedMember(clone(estimator), X[train], y[train], block=fold) for estimator in estimators for fold, (train, _) in enumerate(folds)
    ]
    with place_fit("cpu") as placement:
        stacks = train_fused(members, placement)
    return members, stacks


def assert_members_equal_their_own_fits(estimators, X, y, folds=None):
    folds = folds or _folds(X)
    members, stacks = _fit_fused(estimators, X, y, folds)
    assert all(member.error is None for member in members), [member.error for member in members]
    assert len(stacks) == 1, stacks  # one stack holds them all
    for member in members:
        own = clone(member.estimator).fit(member.X, member.y)
        fused = member.estimator
        assert fused.n_iter_ == own.n_iter_, (fused.get_params(), fused.n_iter_, own.n_iter_)
        np.testing.assert_allclose(fused.loss_curve_, own.loss_curve_, rtol=1e-4, atol=1e-6)
        for got, expected in zip(fused.coefs_ + fused.intercepts_, own.coefs_ + own.intercepts_):
            assert got.shape == expected.shape
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
        if own.early_stopping:
            np.testing.assert_allclose(fused.validation_scores_, own.validation_scores_, atol=1e-6)
            assert fused.best_validation_score_ == pytest.approx(own.best_validation_score_, abs=1e-6)
        predict = "predict_proba" if hasattr(own, "predict_proba") else "predict"
        np.testing.assert_allclose(getattr(fused, predict)(X), getattr(own, predict)(X), atol=1e-5)
    return members, stacks


# -- each param that now shares a stack, alone -------------------------------------------------

ALONE = {
    # 8 and 9 pad into one block; 16, 24 and two layers get blocks of their own.
    "hidden_layer_sizes": [(8,), (9,), (16,), (24,), (8, 8)],
    "activation": ["relu", "tanh", "logistic", "identity"],
    "solver": ["sgd", "adam", "adamw"],
    "learning_rate": ["constant", "invscaling", "adaptive"],
    "momentum": [0.0, 0.5, 0.9],
    "nesterovs_momentum": [True, False],
    "power_t": [0.25, 0.5],
    "early_stopping": [False, True],
    "validation_fraction": [0.1, 0.25],
    "n_iter_no_change": [1, 10],
    "tol": [1e-4, 1e-1],
    "max_epochs": [2, 4],
    "shuffle": [True, False],
}
# The schedules, momentum and power_t act on sgd only; the stopping params on early stopping.
ALONE_BASE = {
    "learning_rate": {"solver": "sgd", "lr": 0.05},
    "momentum": {"solver": "sgd", "lr": 0.05},
    "nesterovs_momentum": {"solver": "sgd", "lr": 0.05},
    "power_t": {"solver": "sgd", "lr": 0.05, "learning_rate": "invscaling"},
    "validation_fraction": {"early_stopping": True},
    "n_iter_no_change": {"early_stopping": True, "max_epochs": 6},
    "tol": {"max_epochs": 6},
}


@pytest.mark.parametrize("param", sorted(ALONE))
def test_a_param_alone(data, param):
    X, y = data
    base = _base(**ALONE_BASE.get(param, {}))
    estimators = [clone(base).set_params(**{param: value}) for value in ALONE[param]]
    assert_members_equal_their_own_fits(estimators, X, y)


def test_widths_of_two_hidden_layers(data):
    X, y = data
    sizes = [(8, 16), (16, 8), (12, 12)]
    assert_members_equal_their_own_fits([_base(hidden_layer_sizes=size) for size in sizes], X, y)


def test_padding_stays_zero_under_a_logistic_activation_and_the_penalty(data):
    # A padded logistic unit outputs 0.5: its weights out would train without the mask.
    X, y = data
    estimators = [_base(hidden_layer_sizes=width, activation="logistic", alpha=0.1) for width in [(4,), (16,)]]
    assert_members_equal_their_own_fits(estimators, X, y)


# -- in combination --------------------------------------------------------------------------


def test_every_param_at_once(data):
    X, y = data
    rng = np.random.RandomState(0)
    estimators = []
    for _ in range(6):
        params = {name: values[rng.randint(len(values))] for name, values in ALONE.items()}
        params["lr"] = 0.05 if params["solver"] == "sgd" else 0.01
        estimators.append(_base(**params))
    assert_members_equal_their_own_fits(estimators, X, y)


def test_a_padded_block_of_every_solver_and_activation(data):
    # Close widths pad into one block, where solvers and activations alternate row by row.
    X, y = data
    estimators = [
        _base(hidden_layer_sizes=(width,), solver=solver, activation=activation, lr=0.05 if solver == "sgd" else 0.01)
        for width, solver, activation in [
            (10, "adam", "relu"),
            (11, "sgd", "tanh"),
            (12, "adamw", "logistic"),
            (10, "sgd", "identity"),
            (12, "adam", "tanh"),
        ]
    ]
    assert_members_equal_their_own_fits(estimators, X, y)


def test_the_tutorial_grid_with_early_stopping(data):
    X, y = data
    estimators = [
        _base(hidden_layer_sizes=size, activation=activation, solver=solver, learning_rate=schedule, early_stopping=True)
        for size in [(8,), (16,)]
        for activation in ["tanh", "relu"]
        for solver in ["sgd", "adam"]
        for schedule in ["constant", "adaptive"]
    ]
    assert_members_equal_their_own_fits(estimators, X, y)


def test_a_regressor_stack(data):
    X, y = data
    target = y.astype(np.float32) / 9
    estimators = [
        MLPRegressor(hidden_layer_sizes=size, activation=act, solver=solver, max_epochs=4, batch_size=32, random_state=0, device="cpu")
        for size, act, solver in [((8,), "relu", "adam"), ((16,), "tanh", "sgd"), ((12,), "identity", "adamw")]
    ]
    assert_members_equal_their_own_fits(estimators, X, target)


def test_depths_share_a_stack_in_blocks_of_their_own(data):
    X, y = data
    sizes = [(8,), (8, 8), (16, 8, 4)]
    assert_members_equal_their_own_fits([_base(hidden_layer_sizes=size) for size in sizes], X, y)


def test_widths_far_apart_get_blocks_of_their_own(data):
    # 8 and 64 units: padding the narrow one to the wide one would cost it 8 times its size.
    X, y = data
    sizes = [(8,), (9,), (64,), (70,)]
    members, stacks = assert_members_equal_their_own_fits([_base(hidden_layer_sizes=size) for size in sizes], X, y)


# -- searches --------------------------------------------------------------------------------

TUTORIAL_GRID = {
    "hidden_layer_sizes": [(10,), (20,)],
    "activation": ["tanh", "relu"],
    "solver": ["sgd", "adam"],
    "learning_rate": ["constant", "adaptive"],
}


def _compare_searches(parent, fused):
    assert fused.best_params_ == parent.best_params_
    for key, value in parent.cv_results_.items():
        if key.endswith("_time") or key == "params":
            continue
        if np.asarray(value).dtype.kind == "f":
            np.testing.assert_allclose(np.asarray(fused.cv_results_[key], dtype=float), value, atol=1e-5, err_msg=key)
    np.testing.assert_allclose(fused.best_estimator_.coefs_[0], parent.best_estimator_.coefs_[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_the_tutorial_grid_trains_in_one_stack_and_matches_grid_search(data, early_stopping):
    X, y = data
    net = _base(max_epochs=3, early_stopping=early_stopping)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        parent = GridSearchCV(net, TUTORIAL_GRID, cv=3).fit(X, y)
        fused = FusedGridSearchCV(net, TUTORIAL_GRID, cv=3).fit(X, y)
    _compare_searches(parent, fused)
    assert fused.unfused_fits_ == {}
    # 16 candidates x 3 folds, and (the grid is over 8) no full-data fits: one stack.
    assert fused.fused_stacks_["n_models"].tolist() == [48]


def test_the_refits_full_data_fits_ride_in_a_heterogeneous_stack(data):
    X, y = data
    grid = {"hidden_layer_sizes": [(8,), (16,)], "solver": ["sgd", "adam"]}
    net = _base(max_epochs=3)
    parent = GridSearchCV(net, grid, cv=3).fit(X, y)
    fused = FusedGridSearchCV(net, grid, cv=3).fit(X, y)
    _compare_searches(parent, fused)
    # 4 candidates x 3 folds + 4 full-data fits, one of which the refit takes.
    assert fused.fused_stacks_["n_models"].tolist() == [16]


def test_continued_fits_in_fused_halving(data):
    X, y = data
    grid = {"hidden_layer_sizes": [(8,), (16,)], "activation": ["relu", "tanh"], "solver": ["sgd", "adam"]}
    net = _base(max_epochs=4)
    kwargs = dict(cv=2, resource="max_epochs", min_resources=1, max_resources=4, factor=2)
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingGridSearchCV

    parent = HalvingGridSearchCV(net, grid, **kwargs).fit(X, y)
    fused = FusedHalvingGridSearchCV(net, grid, **kwargs).fit(X, y)
    assert fused.best_params_ == parent.best_params_
    np.testing.assert_allclose(fused.cv_results_["mean_test_score"], parent.cv_results_["mean_test_score"], atol=1e-5)
    assert fused.resumed_fits_.get("continued", 0) > 0
    assert torch.is_tensor(fused.best_estimator_.net_.module_.layers[0].weight)


def test_blocks_pad_close_widths_and_part_far_ones(data):
    from skbatch.fused.blocks import MAX_PADDING, StackBlocks, block_order

    X, y = data
    sizes = [(8,), (9,), (64,), (70,), (8, 8)]
    estimators = [_base(hidden_layer_sizes=size, max_epochs=1).fit(X, y) for size in sizes]
    estimators.sort(key=lambda e: block_order(e, e.net_.module_, mlp=True))
    blocks = StackBlocks(estimators, [e.net_.module_ for e in estimators], torch.device("cpu"), mlp=True).blocks
    shapes = [[estimators[row].hidden_layer_sizes for row in range(block.start, block.stop)] for block in blocks]
    # 9 pads 8 by less than MAX_PADDING, 70 pads 64 too; 64 against 9 would not; two layers never pad one.
    assert MAX_PADDING < 64 / 9
    assert sorted(map(sorted, shapes)) == [[(8,), (9,)], [(8, 8)], [(64,), (70,)]]


# -- sparse X ---------------------------------------------------------------------------------


def _sparse_data():
    import scipy.sparse

    rng = np.random.RandomState(0)
    X = scipy.sparse.random(240, 400, density=0.03, format="csr", random_state=rng, dtype=np.float32)
    y = (np.asarray(X[:, :200].sum(axis=1)).ravel() > np.median(np.asarray(X[:, :200].sum(axis=1)))).astype(int)
    return X, y


def test_sparse_x_trains_in_a_stack_as_in_its_own_fit():
    X, y = _sparse_data()
    estimators = [
        _base(hidden_layer_sizes=size, solver=solver, early_stopping=stopping)
        for size, solver, stopping in [((8,), "adam", False), ((9,), "sgd", True), ((32,), "adamw", False), ((8, 8), "adam", False)]
    ]
    assert_members_equal_their_own_fits(estimators, X, y)


def test_a_search_over_one_hot_columns_fuses_its_sparse_rows():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.RandomState(0)
    X = rng.randint(0, 12, size=(300, 6))
    y = (X[:, 0] + X[:, 1] > 11).astype(int)
    pipe = make_pipeline(OneHotEncoder(handle_unknown="ignore"), _base(max_epochs=3))  # sparse output
    grid = {"mlpclassifier__hidden_layer_sizes": [(8,), (16,)], "mlpclassifier__solver": ["sgd", "adam"]}
    parent = GridSearchCV(pipe, grid, cv=3).fit(X, y)
    fused = FusedGridSearchCV(pipe, grid, cv=3).fit(X, y)
    assert fused.unfused_fits_ == {}
    assert fused.best_params_ == parent.best_params_
    np.testing.assert_allclose(fused.cv_results_["mean_test_score"], parent.cv_results_["mean_test_score"], atol=1e-5)
