"""MLPClassifier inside scikit-learn's tooling: pipelines, cross-validation and the three search classes."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import loguniform
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skbatch import MLPClassifier

TUTORIAL_GRID = {
    "hidden_layer_sizes": [(50,), (100,), (150,)],
    "activation": ["tanh", "relu"],
    "solver": ["sgd", "adam"],
    "learning_rate": ["constant", "adaptive"],
}


def test_pipeline_with_scaler(digits):
    X, y = digits
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_epochs=5, batch_size=64, random_state=0))
    assert pipe.fit(X, y).score(X, y) > 0.9


def test_column_transformer_on_a_dataframe(small_digits):
    X, y = small_digits
    frame = pd.DataFrame(X[:, :8], columns=[f"f{i}" for i in range(8)])
    frame["parity"] = np.where(y % 2, "odd", "even")
    prep = ColumnTransformer([("num", StandardScaler(), [f"f{i}" for i in range(8)]), ("cat", OneHotEncoder(), ["parity"])])
    pipe = make_pipeline(prep, MLPClassifier(max_epochs=20, lr=0.01, random_state=0))
    pipe.fit(frame, y % 2)
    assert pipe[-1].n_features_in_ == 10
    assert pipe.score(frame, y % 2) > 0.95  # the parity column gives it away


def test_cross_val_score(small_digits):
    scores = cross_val_score(MLPClassifier(max_epochs=10, lr=1e-2, batch_size=32, random_state=0), *small_digits, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.85


def test_tutorial_grid_runs_unchanged(small_digits):
    X, y = small_digits
    search = GridSearchCV(MLPClassifier(max_epochs=2), TUTORIAL_GRID, cv=5).fit(X, y)
    assert len(search.cv_results_["params"]) == 24
    assert not np.isnan(search.cv_results_["mean_test_score"]).any()
    assert set(search.best_params_) == set(TUTORIAL_GRID)


@pytest.mark.slow
def test_tutorial_grid_with_default_estimator(digits):
    """The grid exactly as the tutorial writes it, with MLPClassifier() untouched."""
    X, y = digits
    # 200 rows, 3 folds: the default network trains up to 200 epochs, 72 times.
    # Its best candidate scores about 0.94 on 200 rows as on 400, at half the
    # cost: one update per epoch at the default batch of 200, not two.
    search = GridSearchCV(MLPClassifier(), TUTORIAL_GRID, cv=3, n_jobs=2).fit(X[:200], y[:200])
    assert len(search.cv_results_["params"]) == 24
    assert search.best_score_ > 0.9


def test_grid_search_over_batch_size_in_parallel(small_digits):
    X, y = small_digits
    grid = {"batch_size": [16, 128], "lr": [1e-3, 1e-2]}
    search = GridSearchCV(MLPClassifier(max_epochs=3, random_state=0), grid, cv=3, n_jobs=2).fit(X, y)
    assert search.best_estimator_.batch_size_ == search.best_params_["batch_size"]
    assert search.best_score_ > 0.7


def test_randomized_search_with_scipy_distributions(small_digits):
    X, y = small_digits
    space = {"lr": loguniform(1e-4, 1e-1), "batch_size": [16, 32, 64], "alpha": loguniform(1e-6, 1e-2)}
    search = RandomizedSearchCV(MLPClassifier(max_epochs=3, random_state=0), space, n_iter=4, cv=3, random_state=0)
    search.fit(X, y)
    lrs = [params["lr"] for params in search.cv_results_["params"]]
    assert len(set(lrs)) == 4 and all(1e-4 <= lr <= 1e-1 for lr in lrs)


def test_bayes_search_over_batch_size_lr_and_hidden_layers(small_digits):
    skopt = pytest.importorskip("skopt")
    from skopt.space import Categorical, Integer, Real

    X, y = small_digits
    space = {
        "batch_size": Integer(16, 256, prior="log-uniform"),
        "lr": Real(1e-4, 1e-1, prior="log-uniform"),
        "hidden_layer_sizes": Categorical(["32", "64-32"]),
    }
    search = skopt.BayesSearchCV(MLPClassifier(max_epochs=3, random_state=0), space, n_iter=4, cv=3, random_state=0, n_jobs=2).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_params_["hidden_layer_sizes"] in {"32", "64-32"}
    widths = [m.out_features for m in search.best_estimator_.net_.module_.modules() if hasattr(m, "out_features")]
    assert widths[:-1] == [int(w) for w in search.best_params_["hidden_layer_sizes"].split("-")]
