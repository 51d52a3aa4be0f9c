"""Fused searches over a TransformedTargetRegressor: its regressor stacks on the target its own fit would get."""

import numpy as np
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_diabetes
from sklearn.exceptions import FitFailedWarning
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from skbatch import FusedGridSearchCV, FusedHalvingGridSearchCV, MLPRegressor


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return X[:300], y[:300]


def _scaled(**params):
    network = MLPRegressor(hidden_layer_sizes=(16,), max_epochs=3, random_state=0, device="cpu", **params)
    return TransformedTargetRegressor(network, transformer=StandardScaler())


def _same_scores(fused, ordinary):
    assert fused.best_params_ == ordinary.best_params_
    # A stack's batched float32 products round otherwise than one network's.
    np.testing.assert_allclose(fused.cv_results_["mean_test_score"], ordinary.cv_results_["mean_test_score"], atol=1e-5)
    np.testing.assert_allclose(fused.cv_results_["split0_test_score"], ordinary.cv_results_["split0_test_score"], atol=1e-5)


@pytest.mark.parametrize("in_pipeline", [False, True], ids=["alone", "last step of a Pipeline"])
def test_the_regressor_of_a_target_transformer_stacks_with_gridsearchcvs_results(diabetes, in_pipeline):
    X, y = diabetes
    estimator, prefix = _scaled(), ""
    if in_pipeline:
        estimator, prefix = make_pipeline(StandardScaler(), estimator), "transformedtargetregressor__"
    # A grid over the transformer too: each setting transforms each fold's target once.
    grid = {f"{prefix}regressor__lr": [1e-3, 1e-2], f"{prefix}transformer": [StandardScaler(), MinMaxScaler()]}
    ordinary = GridSearchCV(estimator, grid, cv=3).fit(X, y)
    fused = FusedGridSearchCV(estimator, grid, cv=3).fit(X, y)
    assert fused.unfused_fits_ == {}
    assert fused.fused_stacks_["n_models"].sum() == 4 * 3 + 4  # the fold models, and each candidate's full-data fit
    _same_scores(fused, ordinary)
    # The refit, restored from its stack, is the TransformedTargetRegressor's own fit.
    target = fused.best_estimator_[-1] if in_pipeline else fused.best_estimator_
    own = ordinary.best_estimator_[-1] if in_pipeline else ordinary.best_estimator_
    for ours, theirs in zip(target.regressor_.coefs_, own.regressor_.coefs_):
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
    np.testing.assert_allclose(fused.predict(X), ordinary.predict(X), rtol=1e-4)
    # The temporary cache is the search's alone: neither the regressor param nor its fitted clone keeps it.
    assert target.regressor.cache_dir is None and target.regressor_.cache_dir is None


def test_a_target_transformer_that_fails_fails_its_fits_as_in_gridsearchcv(diabetes):
    X, y = diabetes
    # 'transformer' and 'func' together: the TransformedTargetRegressor's fit refuses them.
    grid = [{"regressor__lr": [1e-3]}, {"regressor__lr": [1e-2], "func": [np.log1p], "inverse_func": [np.expm1]}]
    with pytest.warns(FitFailedWarning):
        ordinary = GridSearchCV(_scaled(), grid, cv=3).fit(X, y)
    with pytest.warns(FitFailedWarning):
        fused = FusedGridSearchCV(_scaled(), grid, cv=3).fit(X, y)
    assert np.isnan(fused.cv_results_["mean_test_score"][1]) and np.isnan(ordinary.cv_results_["mean_test_score"][1])
    np.testing.assert_allclose(fused.cv_results_["mean_test_score"][0], ordinary.cv_results_["mean_test_score"][0], atol=1e-5)
    assert fused.unfused_fits_ == {"its target transformer raised ValueError": 3}
    assert fused.fused_stacks_["n_models"].tolist() == [3 + 1]  # the working candidate's folds, and its full-data fit


def test_a_subclass_of_the_target_transformer_trains_one_by_one(diabetes):
    class OwnTarget(TransformedTargetRegressor):
        pass

    X, y = diabetes
    estimator = OwnTarget(_scaled().regressor, transformer=StandardScaler())
    fused = FusedGridSearchCV(estimator, {"regressor__lr": [1e-3, 1e-2]}, cv=3).fit(X, y)
    assert len(fused.fused_stacks_) == 0
    assert sum(fused.unfused_fits_.values()) == 6


def test_fused_halving_continues_the_regressor_behind_a_target_transformer(diabetes):
    X, y = diabetes
    search = FusedHalvingGridSearchCV(
        _scaled(),
        {"regressor__lr": [1e-3, 3e-3, 1e-2]},
        resource="regressor__max_epochs",
        min_resources=2,
        max_resources=6,
        factor=3,
        cv=KFold(3, shuffle=True, random_state=0),
    ).fit(X, y)
    assert search.unfused_fits_ == {}
    assert search.resumed_fits_.get("continued", 0) > 0
