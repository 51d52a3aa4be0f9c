"""A fused search's Pipelines fit their preprocessing once per fold and setting, and give the parent's results."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skbatch import FusedGridSearchCV, MLPClassifier
from skbatch.fused.preprocessing import FoldMemory, FoldPipeline, fold_pipeline, fold_preprocessing, shared_preprocessing_reason

GRID = {"mlpclassifier__lr": [1e-3, 3e-3], "mlpclassifier__alpha": [1e-4, 1e-2]}

FITS = []


TRANSFORMS = []


class CountingScaler(StandardScaler):
    """StandardScaler that notes each fit and transform, to count them."""

    def fit(self, X, y=None, sample_weight=None):
        FITS.append(len(X))
        return super().fit(X, y, sample_weight=sample_weight)

    def transform(self, X, copy=None):
        TRANSFORMS.append(len(X))
        return super().transform(X, copy=copy)


@pytest.fixture
def table():
    rng = np.random.default_rng(0)
    n = 240
    frame = pd.DataFrame(
        {
            "colour": rng.choice(["red", "green", "blue"], n),
            "size": rng.normal(size=n),
            "weight": rng.normal(size=n),
        }
    )
    y = ((frame["colour"] == "red") ^ (frame["size"] > 0)).to_numpy().astype(int)
    return frame, y


def _pipeline(scaler=None):
    columns = ColumnTransformer([("cat", OneHotEncoder(), ["colour"]), ("num", scaler or CountingScaler(), ["size", "weight"])])
    return make_pipeline(columns, MLPClassifier(hidden_layer_sizes=(8,), max_epochs=3, random_state=0, device="cpu"))


def test_each_fold_fits_its_preprocessing_once_and_the_results_are_the_parents(table):
    X, y = table
    FITS.clear()
    ordinary = GridSearchCV(_pipeline(), GRID, cv=3).fit(X, y)
    ordinary_fits = len(FITS)
    FITS.clear()
    fused = FusedGridSearchCV(_pipeline(), GRID, cv=3).fit(X, y)
    assert ordinary_fits == 4 * 3 + 1  # every (candidate, fold) fit, and the refit
    # One fit per fold and one on all rows (the refit's, trained beside the folds):
    # every Pipeline of the search after them copies what they fitted.
    assert sorted(FITS) == [160, 160, 160, 240]
    np.testing.assert_allclose(fused.cv_results_["mean_test_score"], ordinary.cv_results_["mean_test_score"], atol=1e-6)
    assert fused.best_params_ == ordinary.best_params_
    # Only fit reads the memory: the user's estimator and the best one keep theirs.
    assert fused.estimator.memory is None and fused.best_estimator_.memory is None
    np.testing.assert_array_equal(fused.predict(X), ordinary.predict(X))


def test_a_candidate_that_changes_the_preprocessing_fits_its_own(table):
    X, y = table
    grid = {"columntransformer__num__with_mean": [True, False], "mlpclassifier__lr": [1e-3, 3e-3]}
    FITS.clear()
    ordinary = GridSearchCV(_pipeline(), grid, cv=2, refit=False).fit(X, y)
    FITS.clear()
    fused = FusedGridSearchCV(_pipeline(), grid, cv=2, refit=False).fit(X, y)
    assert len(FITS) == 2 * 2  # each setting, on each fold
    np.testing.assert_allclose(fused.cv_results_["mean_test_score"], ordinary.cv_results_["mean_test_score"], atol=1e-6)


def test_what_is_not_shared(table):
    assert shared_preprocessing_reason(MLPClassifier()) == "not a Pipeline with preprocessing"
    assert shared_preprocessing_reason(_pipeline()) is None
    own = _pipeline().set_params(memory=FoldMemory())
    assert shared_preprocessing_reason(own) == "the Pipeline has a memory of its own"
    unseeded = make_pipeline(PCA(2, svd_solver="randomized"), MLPClassifier())
    assert "pca__random_state=None draws a new result at every fit" in shared_preprocessing_reason(unseeded)
    seeded = make_pipeline(PCA(2, svd_solver="randomized", random_state=0), MLPClassifier())
    assert shared_preprocessing_reason(seeded) is None


def test_an_unseeded_step_is_fitted_anew_by_every_fit(table):
    X, y = table
    X = X[["size", "weight"]]
    estimator = make_pipeline(PCA(2, svd_solver="randomized"), MLPClassifier(max_epochs=2, random_state=0))
    search = FusedGridSearchCV(estimator, {"mlpclassifier__lr": [1e-3, 3e-3]}, cv=2).fit(X, y)
    assert search.best_estimator_.memory is None
    assert "memory" not in search.estimator.get_params() or search.estimator.memory is None


def test_the_memory_gives_each_caller_its_own_copy():
    memory = FoldMemory()
    calls = []

    def fit(scaler, X):
        calls.append(1)
        return scaler.fit(X)

    cached = memory.cache(fit)
    X = np.arange(6.0).reshape(3, 2)
    first, second = cached(StandardScaler(), X), cached(StandardScaler(), X)
    assert len(calls) == 1 and first is not second
    np.testing.assert_array_equal(first.mean_, second.mean_)
    cached(StandardScaler(with_mean=False), X)  # other params: fitted again
    assert len(calls) == 2
    from sklearn.base import clone

    pipeline = make_pipeline(StandardScaler(), MLPClassifier(), memory=memory)
    assert clone(pipeline).memory is memory  # every clone of the search's Pipeline shares it


def test_the_memory_finds_the_same_rows_and_refits_any_other(table):
    from sklearn.utils import _safe_indexing

    memory = FoldMemory()
    calls = []

    def fit(scaler, X, weight=None):
        calls.append(1)
        return scaler.fit(X[["size", "weight"]])

    cached = memory.cache(fit)
    X, _ = table
    rows = np.arange(0, len(X), 2)
    cached(StandardScaler(), _safe_indexing(X, rows))
    cached(StandardScaler(), _safe_indexing(X, rows))  # the same rows taken again: found
    assert len(calls) == 1
    changed = _safe_indexing(X, rows)
    changed.iloc[3, 1] += 1e-12  # one value apart: fitted again
    cached(StandardScaler(), changed)
    cached(StandardScaler(), _safe_indexing(X, rows[1:]))  # other rows: fitted again
    assert len(calls) == 3


def test_each_fold_transforms_its_test_rows_once_and_the_scores_are_the_parents(table):
    X, y = table
    TRANSFORMS.clear()
    ordinary = GridSearchCV(_pipeline(), GRID, cv=3, refit=False, return_train_score=True).fit(X, y)
    assert len(TRANSFORMS) == 4 * 3 * 3  # each fit: its fit_transform, and the scores of its test and training rows
    TRANSFORMS.clear()
    fused = FusedGridSearchCV(_pipeline(), GRID, cv=3, refit=False, return_train_score=True).fit(X, y)
    # Each fold's one fit_transform, then its test rows and training rows once, by the copies of that fit.
    assert sorted(TRANSFORMS) == [80, 80, 80] + [160] * 6
    for name in ("mean_test_score", "mean_train_score", "split0_test_score", "split2_train_score"):
        np.testing.assert_array_equal(fused.cv_results_[name], ordinary.cv_results_[name])


def test_the_best_estimator_is_a_plain_pipeline(table):
    import pickle

    X, y = table
    search = FusedGridSearchCV(_pipeline(), GRID, cv=3).fit(X, y)
    assert type(search.best_estimator_) is type(_pipeline()) and search.best_estimator_.memory is None
    again = pickle.loads(pickle.dumps(search.best_estimator_))
    np.testing.assert_array_equal(again.predict(X), search.predict(X))


def test_a_fold_pipeline_wraps_only_the_steps_its_memory_fitted(table):
    X, y = table
    memory = FoldMemory()
    pipeline = fold_pipeline(_pipeline().set_params(memory=memory))
    assert type(pipeline) is FoldPipeline
    assert fold_pipeline(_pipeline()) is not None and type(fold_pipeline(_pipeline())) is not FoldPipeline  # no memory: as it is
    pipeline.fit(X, y)
    twin = clone(pipeline).fit(X, y)  # the same fit: the memory's copy of it
    step, twin_step = pipeline.steps[0][1], twin.steps[0][1]
    assert step is not twin_step and memory.fit_of(step) == memory.fit_of(twin_step) is not None
    wrapped = [s for _, _, s in pipeline._iter(with_final=False)]
    assert wrapped[0].transform is not step.transform and wrapped[0].get_params() == step.get_params()
    assert [s for _, _, s in pipeline._iter(with_final=False, filter_passthrough=False)][0] is step  # fit's iteration: the step itself
    assert [s for _, _, s in pipeline._iter()][0] is step
    assert memory.fit_of(StandardScaler()) is None
    first = pipeline.predict_proba(X)
    np.testing.assert_array_equal(first, twin.predict_proba(X))
    pipeline.get_metadata_routing()  # routing reads the steps through the wrapper


def test_fold_preprocessing_keeps_the_steps_and_their_count():
    pipeline = _pipeline()
    preprocessing = fold_preprocessing(pipeline)
    assert [name for name, _ in preprocessing.steps] == [name for name, _ in pipeline.steps]
    assert preprocessing.steps[-1][1] == "passthrough"
    assert preprocessing.steps[0][1] is pipeline.steps[0][1]
