"""Differential suite: each fused search against its scikit-learn parent, on the same skbatch estimator.

A fused search promises its parent's results, only faster. Each case runs
both searches with the same arguments and compares everything they give:
``cv_results_`` (keys, scores, ranks, params; not the times), ``best_*``,
the multimetric attributes, the best estimator's predictions, and the
exception raised, when one is. Fast cases run in ``make test``; the long
tail (backends, a seeded random mix of options) is marked ``slow``.
"""

import warnings

import joblib
import numpy as np
import pytest
import torch
from scipy.stats import loguniform
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning, FitFailedWarning
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.metrics import accuracy_score, make_scorer
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    HalvingGridSearchCV,
    HalvingRandomSearchCV,
    KFold,
    RandomizedSearchCV,
    ShuffleSplit,
    StratifiedKFold,
)
from sklearn.model_selection.tests.common import OneTimeSplitter
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from skbatch import (
    FusedGridSearchCV,
    FusedHalvingGridSearchCV,
    FusedHalvingRandomSearchCV,
    FusedRandomizedSearchCV,
    MLPClassifier,
    MLPRegressor,
    TorchClassifier,
)

PAIRS = {
    "grid": (GridSearchCV, FusedGridSearchCV),
    "random": (RandomizedSearchCV, FusedRandomizedSearchCV),
    "halving_grid": (HalvingGridSearchCV, FusedHalvingGridSearchCV),
    "halving_random": (HalvingRandomSearchCV, FusedHalvingRandomSearchCV),
}
_FRESH = ("cv", "random_state")  # made anew for each search when given as a function
_TIMES = ("mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time")


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X).astype(np.float32), y


def _net(**params):
    defaults = dict(hidden_layer_sizes=(8,), max_epochs=3, lr=0.02, batch_size=32, random_state=0, device="cpu")
    return MLPClassifier(**{**defaults, **params})


def _run(cls, estimator, space, X, y, fit_params, **kwargs):
    """Fit one search; return it, or the exception it raised."""
    # A fresh splitter or RandomState for each search: both start from the same state.
    kwargs = {name: value() if name in _FRESH and callable(value) else value for name, value in kwargs.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", FitFailedWarning)
        try:
            return cls(estimator, space, **kwargs).fit(X, y, **fit_params)
        except Exception as error:  # compared below with the parent's
            return error


def assert_same_search(kind, estimator, space, X, y, *, fit_params=None, seed_numpy=None, **kwargs):
    """Run the parent and the fused search of ``kind`` alike; assert they give the same answers."""
    parent_cls, fused_cls = PAIRS[kind]
    fit_params = fit_params or {}
    if seed_numpy is not None:
        np.random.seed(seed_numpy)
    parent = _run(parent_cls, estimator, space, X, y, fit_params, **kwargs)
    if seed_numpy is not None:
        np.random.seed(seed_numpy)
    fused = _run(fused_cls, estimator, space, X, y, fit_params, **kwargs)
    if isinstance(parent, Exception):
        assert isinstance(fused, Exception), f"the parent raised {parent!r}, the fused search did not"
        assert type(fused) is type(parent)
        assert str(fused).replace(fused_cls.__name__, parent_cls.__name__) == str(parent)
        return parent, fused
    assert not isinstance(fused, Exception), f"the fused search raised {fused!r}; the parent did not"
    _assert_same_results(parent.cv_results_, fused.cv_results_)
    for name in ("best_index_", "best_params_", "n_splits_", "multimetric_", "n_candidates_", "n_resources_", "n_iterations_"):
        if hasattr(parent, name):
            assert getattr(fused, name) == getattr(parent, name), name
    if hasattr(parent, "best_score_"):
        assert fused.best_score_ == pytest.approx(parent.best_score_, abs=1e-5)
    assert hasattr(fused, "refit_time_") == hasattr(parent, "refit_time_")
    assert hasattr(fused, "best_estimator_") == hasattr(parent, "best_estimator_")
    if hasattr(parent, "best_estimator_"):
        np.testing.assert_array_equal(fused.predict(X), parent.predict(X))
        np.testing.assert_allclose(fused.predict_proba(X), parent.predict_proba(X), atol=1e-5)
    return parent, fused


def _assert_same_results(expected, got):
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        if key in _TIMES:
            continue
        if key == "params":
            assert got[key] == value
        elif key.startswith("param_"):  # masked where a candidate has no such param
            mask = np.ma.getmaskarray(value)
            np.testing.assert_array_equal(np.ma.getmaskarray(got[key]), mask, err_msg=key)
            assert list(np.asarray(got[key], dtype=object)[~mask]) == list(np.asarray(value, dtype=object)[~mask]), key
        elif key.startswith("rank_"):
            np.testing.assert_array_equal(got[key], value, err_msg=key)
        elif np.asarray(value).dtype.kind == "f":
            np.testing.assert_allclose(np.asarray(got[key], dtype=float), np.asarray(value, dtype=float), atol=1e-5, err_msg=key)
        else:
            np.testing.assert_array_equal(np.asarray(got[key]), np.asarray(value), err_msg=key)


# -- the reproductions that failed before --------------------------------------------------


class FrozenBackbone(nn.Module):
    """A first layer frozen, as a pretrained backbone's would be, under a trainable head."""

    def __init__(self, n_features_in, n_classes, hidden=8):
        super().__init__()
        self.backbone = nn.Linear(n_features_in, hidden)
        self.backbone.requires_grad_(False)
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, X):
        return self.head(torch.relu(self.backbone(X)))


def test_frozen_parameters_stay_frozen_and_unpenalized_in_a_stack(iris):
    X, y = iris
    net = TorchClassifier(module=FrozenBackbone, max_epochs=3, lr=0.02, batch_size=32, random_state=0, device="cpu")
    parent, fused = assert_same_search("grid", net, {"lr": [0.01, 0.05]}, X, y, cv=3)
    assert fused.fused_stacks_["n_models"].sum() > 0  # the case is fused, not left to train alone
    # The frozen weights are those the network was built with: the seed's, untouched.
    built = TorchClassifier(module=FrozenBackbone, random_state=0, max_epochs=1, device="cpu").fit(X, y)
    torch.testing.assert_close(fused.best_estimator_.net_.module_.backbone.weight, built.net_.module_.backbone.weight, rtol=0, atol=0)


@pytest.mark.parametrize(
    "make_cv",
    [
        pytest.param(lambda: KFold(3, shuffle=True, random_state=np.random.RandomState(0)), id="kfold-randomstate"),
        pytest.param(lambda: KFold(3, shuffle=True), id="kfold-unseeded"),
        pytest.param(lambda: OneTimeSplitter(n_splits=3, n_samples=150), id="one-time-splitter"),
        pytest.param(lambda: ShuffleSplit(3, test_size=0.3), id="shufflesplit-unseeded"),
    ],
)
def test_a_splitter_is_split_as_often_as_the_parent_splits_it(iris, make_cv):
    X, y = iris
    # A fresh splitter for each search, the global RNG seeded alike before each.
    assert_same_search("grid", _net(), {"lr": [0.01, 0.05]}, X, y, cv=make_cv, seed_numpy=0)


def test_halving_subsamples_with_a_random_state_object_as_the_parent(iris):
    X, y = iris
    space = {"lr": loguniform(1e-3, 1e-1), "alpha": [1e-4, 1e-2]}
    parent, fused = assert_same_search(
        "halving_random",
        _net(),
        space,
        X,
        y,
        cv=3,
        resource="n_samples",
        min_resources=40,
        random_state=lambda: np.random.RandomState(0),
    )


def test_a_candidate_whose_device_is_missing_scores_error_score(iris):
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA, where device='cuda' fails")
    X, y = iris
    parent, fused = assert_same_search("grid", _net(), {"device": ["cpu", "cuda"]}, X, y, cv=3, error_score=np.nan)
    assert np.isnan(fused.cv_results_["mean_test_score"][1])


def test_a_candidate_whose_preprocessing_fails_scores_error_score(iris):
    X, y = iris
    pipe = make_pipeline(StandardScaler(), _net())
    parent, fused = assert_same_search("grid", pipe, {"standardscaler__with_mean": [True, "bogus"]}, X, y, cv=3, error_score=np.nan)
    assert np.isnan(fused.cv_results_["mean_test_score"][1])


def test_error_score_raise_raises_the_parents_error(iris):
    X, y = iris
    pipe = make_pipeline(StandardScaler(), _net())
    assert_same_search("grid", pipe, {"standardscaler__with_mean": [True, "bogus"]}, X, y, cv=3, error_score="raise")


def test_an_invalid_param_name_raises_the_parents_message(iris):
    X, y = iris
    parent, fused = assert_same_search("grid", _net(), {"bogus": [1]}, X, y, cv=3)
    assert "skbatch-fused-" not in str(fused)


# -- the forms of every search option ------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"cv": 3}, id="cv-int"),
        pytest.param({"cv": lambda: StratifiedKFold(2, shuffle=True, random_state=1)}, id="cv-stratified"),
        pytest.param({"cv": 3, "scoring": "neg_log_loss"}, id="scoring-str"),
        pytest.param({"cv": 3, "scoring": make_scorer(accuracy_score)}, id="scoring-scorer"),
        pytest.param({"cv": 3, "scoring": ["accuracy", "f1_macro"], "refit": "f1_macro"}, id="multimetric-refit-name"),
        pytest.param({"cv": 3, "scoring": {"acc": "accuracy", "ll": "neg_log_loss"}, "refit": False}, id="multimetric-no-refit"),
        pytest.param({"cv": 3, "refit": lambda results: int(np.argmin(results["mean_test_score"]))}, id="refit-callable"),
        pytest.param({"cv": 3, "return_train_score": True}, id="train-score"),
        pytest.param({"cv": 3, "refit": False}, id="no-refit"),
    ],
)
def test_grid_search_options(iris, kwargs):
    X, y = iris
    assert_same_search("grid", _net(), {"lr": [0.01, 0.05], "alpha": [1e-4, 1e-2]}, X, y, **kwargs)


def test_groups_reach_the_splitter(iris):
    X, y = iris
    groups = np.arange(len(y)) % 5
    assert_same_search("grid", _net(), {"lr": [0.01, 0.05]}, X, y, cv=GroupKFold(3), fit_params={"groups": groups})


def test_a_list_of_grids_and_a_pipeline(iris):
    X, y = iris
    pipe = make_pipeline(StandardScaler(), _net())
    grid = [{"mlpclassifier__lr": [0.01, 0.05]}, {"mlpclassifier__alpha": [1e-3], "standardscaler__with_std": [False]}]
    assert_same_search("grid", pipe, grid, X, y, cv=3)


def test_randomized_search_with_distributions(iris):
    X, y = iris
    space = {"lr": loguniform(1e-3, 1e-1), "hidden_layer_sizes": [(8,), (16,)]}
    assert_same_search("random", _net(), space, X, y, cv=3, n_iter=4, random_state=0)


def test_halving_grid_over_epochs(iris):
    X, y = iris
    assert_same_search(
        "halving_grid",
        _net(max_epochs=4),
        {"lr": [0.003, 0.01, 0.03, 0.1]},
        X,
        y,
        cv=3,
        resource="max_epochs",
        max_resources=4,
        min_resources=1,
    )


def test_a_regressor(iris):
    X, y = iris
    target = X[:, 0] * 2 + y
    net = MLPRegressor(hidden_layer_sizes=(8,), max_epochs=3, lr=0.02, batch_size=32, random_state=0, device="cpu")
    parent_cls, fused_cls = PAIRS["grid"]
    parent = _run(parent_cls, net, {"lr": [0.01, 0.05]}, X[:, 1:], target, {}, cv=3)
    fused = _run(fused_cls, net, {"lr": [0.01, 0.05]}, X[:, 1:], target, {}, cv=3)
    _assert_same_results(parent.cv_results_, fused.cv_results_)
    np.testing.assert_allclose(fused.predict(X[:, 1:]), parent.predict(X[:, 1:]), atol=1e-5)


# -- backends, and a seeded random mix -----------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["loky", "threading"])
def test_n_jobs_under_a_parallel_config(iris, backend):
    X, y = iris
    with joblib.parallel_config(backend=backend):
        assert_same_search("grid", _net(), {"lr": [0.01, 0.05]}, X, y, cv=3, n_jobs=2)


_MIX_SPLITTERS = [
    lambda: 3,
    lambda: KFold(3, shuffle=True, random_state=np.random.RandomState(2)),
    lambda: StratifiedKFold(3, shuffle=True, random_state=0),
]
_MIX_SCORING = [None, "accuracy", "neg_log_loss", ["accuracy", "balanced_accuracy"]]


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(6))
def test_a_seeded_random_mix_of_options(iris, seed):
    X, y = iris
    rng = np.random.RandomState(seed)
    kind = ["grid", "random"][rng.randint(2)]
    scoring = _MIX_SCORING[rng.randint(len(_MIX_SCORING))]
    kwargs = {"cv": _MIX_SPLITTERS[rng.randint(len(_MIX_SPLITTERS))], "scoring": scoring}
    if isinstance(scoring, list):
        kwargs["refit"] = scoring[rng.randint(2)]
    space = {"lr": [0.005, 0.02, 0.08], "alpha": [1e-4, 1e-2], "batch_size": [16, 32]}
    if kind == "random":
        kwargs.update(n_iter=4, random_state=seed)
    estimator = _net() if rng.randint(2) else make_pipeline(StandardScaler(), _net())
    if not isinstance(estimator, MLPClassifier):
        space = {f"mlpclassifier__{name}": values for name, values in space.items()}
    assert_same_search(kind, estimator, space, X, y, **kwargs)
