"""Fused successive halving: survivors continue from the previous rung's checkpoint, with scikit-learn's results."""

import numpy as np
import pytest
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import HalvingGridSearchCV

from skbatch import FusedGridSearchCV, FusedHalvingGridSearchCV, FusedHalvingRandomSearchCV, MLPClassifier

GRID = {"lr": [3e-4, 1e-3, 3e-3, 1e-2], "batch_size": [32]}
HALVING = dict(resource="max_epochs", min_resources=1, max_resources=4, factor=2, cv=3)


def _mlp(**params):
    return MLPClassifier(**{"hidden_layer_sizes": (16,), "random_state": 0, "device": "cpu", **params})


def _assert_same_results(fused, ordinary):
    assert fused.cv_results_["params"] == ordinary.cv_results_["params"]
    for key, values in ordinary.cv_results_.items():
        if "time" in key:
            continue
        if "score" in key and not key.startswith("rank"):
            np.testing.assert_allclose(fused.cv_results_[key], values, atol=1e-6, err_msg=key)
        else:
            np.testing.assert_array_equal(np.asarray(fused.cv_results_[key]), np.asarray(values), err_msg=key)
    assert fused.best_params_ == ordinary.best_params_


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_cv_results_equal_scikit_learns_halving_with_survivors_continued(small_digits, solver):
    X, y = small_digits
    params = dict(solver=solver, learning_rate="invscaling") if solver == "sgd" else {}
    ordinary = HalvingGridSearchCV(_mlp(**params), GRID, **HALVING, return_train_score=True).fit(X, y)
    fused = FusedHalvingGridSearchCV(_mlp(**params), GRID, **HALVING, return_train_score=True).fit(X, y)
    _assert_same_results(fused, ordinary)
    # Rungs of 1, 2 and 4 epochs; the 2 and then 1 survivors continue their
    # 3 folds, and their full-data fit, which the refit then restores.
    stacks = [[4 * 3 + 4, 0, 1], [2 * 3 + 2, 1, 2], [3 + 1, 2, 4]]
    assert fused.fused_stacks_[["n_models", "from_epoch", "epochs"]].values.tolist() == stacks
    assert fused.resumed_fits_ == {"continued": 2 * 4 + 4}
    assert fused.epochs_trained_ == {"trained": 16 * 1 + 8 * 1 + 4 * 2, "without_reuse": (4 * 1 + 2 * 2 + 1 * 4) * 3}
    np.testing.assert_allclose(fused.best_estimator_.predict_proba(X), ordinary.best_estimator_.predict_proba(X), atol=1e-5)


def test_a_continued_fit_is_the_longer_fit(small_digits, tmp_path):
    X, y = small_digits
    short = _mlp(max_epochs=2, cache_dir=tmp_path, momentum=0.9, solver="sgd")
    FusedGridSearchCV(short, {"lr": [1e-2]}, cv=2).fit(X, y)
    longer = FusedGridSearchCV(short, {"lr": [1e-2], "max_epochs": [5]}, cv=2, refit=False).fit(X, y)
    assert longer.resumed_fits_ == {"continued": 2}
    assert longer.fused_stacks_["from_epoch"].tolist() == [2]
    scratch = FusedGridSearchCV(_mlp(momentum=0.9, solver="sgd"), {"lr": [1e-2], "max_epochs": [5]}, cv=2, refit=False).fit(X, y)
    np.testing.assert_allclose(longer.cv_results_["split0_test_score"], scratch.cv_results_["split0_test_score"])
    np.testing.assert_allclose(longer.cv_results_["split1_test_score"], scratch.cv_results_["split1_test_score"])


def test_a_fit_that_stopped_early_is_reused_not_trained(small_digits, tmp_path):
    X, y = small_digits
    # tol so large that no epoch counts as progress: every fit stops at epoch 4, once more
    # than n_iter_no_change epochs after the first have missed.
    estimator = _mlp(tol=1e9, n_iter_no_change=2, max_epochs=5, cache_dir=tmp_path)
    first = FusedGridSearchCV(estimator, {"lr": [1e-3]}, cv=2, refit=False).fit(X, y)
    again = FusedGridSearchCV(estimator, {"lr": [1e-3], "max_epochs": [6]}, cv=2, refit=False).fit(X, y)
    assert again.resumed_fits_ == {"stopped early before: reused as is": 2}
    assert len(again.fused_stacks_) == 0
    np.testing.assert_array_equal(again.cv_results_["mean_test_score"], first.cv_results_["mean_test_score"])


def test_dropout_retrains_each_rung_and_says_why(small_digits, capsys):
    X, y = small_digits
    search = FusedHalvingGridSearchCV(_mlp(dropout=0.2), GRID, **HALVING, verbose=1).fit(X, y)
    assert search.fused_stacks_["from_epoch"].tolist() == [0, 0, 0]
    reason = "retrained: dropout masks come from a stack's own random stream, which a continued fit cannot resume"
    assert search.resumed_fits_ == {reason: 2 * 4 + 4}
    assert search.epochs_trained_["trained"] == 16 * 1 + 8 * 2 + 4 * 4
    assert "dropout masks come from a stack's own random stream" in capsys.readouterr().out


def test_random_halving(small_digits):
    X, y = small_digits
    search = FusedHalvingRandomSearchCV(_mlp(), GRID, n_candidates=4, random_state=0, **HALVING).fit(X, y)
    assert search.resumed_fits_ == {"continued": 2 * 4 + 4}
    assert search.best_params_["max_epochs"] == 4


def test_rungs_continue_from_a_temporary_cache_never_flushed_to_disk(small_digits, monkeypatch):
    # The temporary cache is removed after fit: its entries, which the next
    # rung reads back, need no flush to disk.
    import os

    X, y = small_digits
    syncs = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: syncs.append(fd) or real_fsync(fd))
    ordinary = HalvingGridSearchCV(_mlp(), GRID, **HALVING).fit(X, y)
    fused = FusedHalvingGridSearchCV(_mlp(), GRID, **HALVING).fit(X, y)
    np.testing.assert_allclose(fused.cv_results_["mean_test_score"], ordinary.cv_results_["mean_test_score"], atol=1e-6)
    assert fused.resumed_fits_ == {"continued": 2 * 4 + 4}
    assert syncs == []


@pytest.mark.parametrize("budget", ["default", 0])
def test_rungs_continue_from_snapshots_in_memory_or_files_past_the_budget(small_digits, monkeypatch, budget):
    # A temporary cache's entries stay in memory, as snapshots, for the next
    # rung to continue: no fit file is written. Past the budget they go to
    # files, as before, with the same results.
    import skbatch.cache.store as store

    if budget != "default":
        monkeypatch.setattr(store, "_KEPT_BUDGET", budget)
    written = []
    real_write = store.atomic_write

    def noting_write(path, *args, **kwargs):
        written.append(path.suffix)
        return real_write(path, *args, **kwargs)

    monkeypatch.setattr(store, "atomic_write", noting_write)
    X, y = small_digits
    ordinary = HalvingGridSearchCV(_mlp(), GRID, **HALVING).fit(X, y)
    fused = FusedHalvingGridSearchCV(_mlp(), GRID, **HALVING).fit(X, y)
    _assert_same_results(fused, ordinary)
    assert fused.resumed_fits_ == {"continued": 2 * 4 + 4}
    # A record for each stacked model: 4, 2 and 1 candidates' 3 folds and their full-data fits.
    assert written.count(".json") == (4 + 2 + 1) * (3 + 1)
    assert written.count(".safetensors") == (0 if budget == "default" else written.count(".json"))
    assert store._kept == {} and store._kept_bytes == {}


def test_a_pipelines_epochs_count_against_halving_without_reuse(small_digits):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = small_digits
    grid = {f"mlpclassifier__{name}": values for name, values in GRID.items()}
    halving = {**HALVING, "resource": "mlpclassifier__max_epochs"}
    search = FusedHalvingGridSearchCV(make_pipeline(StandardScaler(), _mlp()), grid, **halving).fit(X, y)
    # Rungs of 1, 2 and 4 epochs over 4, 2 and 1 candidates, 3 folds each, every fit from scratch.
    assert search.epochs_trained_["without_reuse"] == (4 * 1 + 2 * 2 + 1 * 4) * 3
    assert search.epochs_trained_["trained"] == 16 * 1 + 8 * 1 + 4 * 2
