"""progress_bar: counts every fit of a search on every joblib backend, and leaves joblib as it found it."""

import io
import re

import joblib
import numpy as np
import pytest
from joblib import Parallel, delayed, parallel_config
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.tree import DecisionTreeClassifier

from skbatch import MLPClassifier, progress_bar

X_IRIS, Y_IRIS = load_iris(return_X_y=True)
ORIGINAL_CALL = Parallel.__call__
ORIGINAL_PRINT_PROGRESS = Parallel.print_progress


def logistic_search(n_jobs=1):
    return GridSearchCV(DecisionTreeClassifier(), {"max_depth": [1, 2, 3]}, cv=KFold(3), n_jobs=n_jobs)


def assert_joblib_restored():
    assert Parallel.__call__ is ORIGINAL_CALL
    assert Parallel.print_progress is ORIGINAL_PRINT_PROGRESS


def test_counts_every_fit_sequentially_and_prints_done_over_total():
    out = io.StringIO()
    with progress_bar(file=out, mininterval=0) as bar:
        logistic_search(n_jobs=1).fit(X_IRIS, Y_IRIS)
    assert (bar.n, bar.total) == (9, 9)
    assert "9/9" in out.getvalue() and "fits" in out.getvalue()
    assert_joblib_restored()


def test_counts_skbatch_fits():
    net = MLPClassifier(hidden_layer_sizes=(8,), max_epochs=2, device="cpu", random_state=0)
    with progress_bar(file=io.StringIO()) as bar:
        GridSearchCV(net, {"lr": [1e-3, 1e-2]}, cv=2).fit(X_IRIS, Y_IRIS)
    assert (bar.n, bar.total) == (4, 4)


def test_counts_with_threads():
    with parallel_config(backend="threading"), progress_bar(file=io.StringIO()) as bar:
        logistic_search(n_jobs=2).fit(X_IRIS, Y_IRIS)
    assert (bar.n, bar.total) == (9, 9)


def test_counts_with_loky_processes():
    with progress_bar(file=io.StringIO()) as bar:
        logistic_search(n_jobs=2).fit(X_IRIS, Y_IRIS)
    assert (bar.n, bar.total) == (9, 9)
    assert_joblib_restored()


def test_total_grows_with_bayes_search():
    skopt = pytest.importorskip("skopt")
    from skopt.space import Real

    search = skopt.BayesSearchCV(
        DecisionTreeClassifier(),
        {"ccp_alpha": Real(1e-4, 1e-1, prior="log-uniform")},
        n_iter=4,
        cv=KFold(2),
        random_state=0,
    )
    totals = []
    original = Parallel.__call__

    with progress_bar(file=io.StringIO()) as bar:
        counted = Parallel.__call__

        def spy(parallel, iterable):
            result = counted(parallel, iterable)
            totals.append(bar.total)
            return result

        Parallel.__call__ = spy
        try:
            search.fit(X_IRIS, Y_IRIS)
        finally:
            Parallel.__call__ = counted
    assert Parallel.__call__ is original
    # One Parallel call per BayesSearchCV iteration, each adding its fits.
    assert totals == [2, 4, 6, 8]
    assert bar.n == 8


def test_counts_every_round_of_a_halving_search():
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingGridSearchCV

    search = HalvingGridSearchCV(DecisionTreeClassifier(), {"max_depth": [1, 2, 3, 4]}, cv=3, factor=2, min_resources=30)
    with progress_bar(file=io.StringIO()) as bar:
        search.fit(X_IRIS, Y_IRIS)
    assert bar.total == bar.n == sum(search.n_candidates_) * 3


class _ParallelInside(ClassifierMixin, BaseEstimator):
    """An estimator whose fit runs joblib itself, as a random forest would."""

    def fit(self, X, y):
        Parallel(n_jobs=2, backend="threading")(delayed(np.sum)(X[:, j]) for j in range(X.shape[1]))
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


def test_parallel_calls_inside_a_fit_are_not_counted():
    with progress_bar(file=io.StringIO()) as bar:
        GridSearchCV(_ParallelInside(), {}, cv=3).fit(X_IRIS, Y_IRIS)
    assert (bar.n, bar.total) == (3, 3)


def test_joblib_is_restored_after_an_error():
    with pytest.raises(ValueError, match="Invalid parameter 'not_a_param'"):
        with progress_bar(file=io.StringIO()):
            GridSearchCV(DecisionTreeClassifier(), {"not_a_param": [1]}, cv=2).fit(X_IRIS, Y_IRIS)
    assert_joblib_restored()


def test_a_second_bar_in_the_same_thread_is_refused():
    with progress_bar(file=io.StringIO()):
        with pytest.raises(RuntimeError, match="already open in this thread"):
            with progress_bar(file=io.StringIO()):
                pass
    assert_joblib_restored()


def test_only_fit_and_score_tasks_count():
    with progress_bar(file=io.StringIO()) as bar:
        joblib.Parallel(n_jobs=1)(delayed(abs)(i) for i in range(5))
        cross_val_score(DecisionTreeClassifier(), X_IRIS, Y_IRIS, cv=4)
    assert (bar.n, bar.total) == (4, 4)


def test_the_bar_opens_showing_the_total():
    out = io.StringIO()
    with progress_bar(file=out, mininterval=0):
        logistic_search(n_jobs=1).fit(X_IRIS, Y_IRIS)
    renders = [r for r in out.getvalue().split("\r") if r.strip()]
    # Not "fits: 0fit [00:00, ?fit/s]": the first thing drawn already knows the 9 fits.
    assert "0/9" in renders[0], renders[0]
    assert not any(re.search(r"\d+fit \[", r) for r in renders), renders  # tqdm's form for an unknown total


def test_a_bar_around_no_search_draws_nothing():
    out = io.StringIO()
    with progress_bar(file=out):
        pass
    assert out.getvalue().strip() == ""


def _cached_search(cache_dir, n_jobs=1):
    net = MLPClassifier(hidden_layer_sizes=(4,), max_epochs=1, device="cpu", random_state=0, cache_dir=cache_dir)
    return GridSearchCV(net, {"lr": [1e-3, 1e-2]}, cv=KFold(2), n_jobs=n_jobs, refit=False)


@pytest.mark.parametrize("backend", ["sequential", "threading"])
def test_a_resumed_search_says_how_many_fits_came_from_the_cache(tmp_path, backend):
    with parallel_config(backend=backend):
        with progress_bar(file=io.StringIO()) as first:
            _cached_search(tmp_path, n_jobs=2).fit(X_IRIS, Y_IRIS)
        # Half the candidates are new: their fits train, the others' come from the cache.
        search = _cached_search(tmp_path, n_jobs=2).set_params(param_grid={"lr": [1e-2, 3e-2]})
        out = io.StringIO()
        with progress_bar(file=out, mininterval=0) as second:
            search.fit(X_IRIS, Y_IRIS)
    assert "from cache" not in str(first)
    assert second.postfix == "2 from cache"
    assert "4/4" in out.getvalue().split("\r")[-1] and "2 from cache" in out.getvalue().split("\r")[-1]
    assert second.n == 4 and np.all(np.isfinite(search.cv_results_["mean_test_score"]))


@pytest.mark.slow
def test_fits_restored_in_worker_processes_are_counted(tmp_path):
    with progress_bar(file=io.StringIO()):
        _cached_search(tmp_path, n_jobs=2).fit(X_IRIS, Y_IRIS)
    with progress_bar(file=io.StringIO()) as bar:
        _cached_search(tmp_path, n_jobs=2).fit(X_IRIS, Y_IRIS)
    assert bar.postfix == "4 from cache"
    assert_joblib_restored()


def test_fits_a_fused_search_trains_and_restores_are_not_from_the_cache(tmp_path):
    from skbatch import FusedGridSearchCV

    net = MLPClassifier(hidden_layer_sizes=(4,), max_epochs=1, device="cpu", random_state=0, cache_dir=tmp_path)
    with progress_bar(file=io.StringIO()) as bar:
        search = FusedGridSearchCV(net, {"lr": [1e-3, 1e-2]}, cv=KFold(2), refit=False).fit(X_IRIS, Y_IRIS)
    assert bar.n == 4 and not bar.postfix, search.fused_stacks_
    assert search.fused_stacks_["n_models"].sum() == 4
