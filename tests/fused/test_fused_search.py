"""Fused searches: the parent search's results, from fused fits, and ordinary fits wherever fusing cannot apply."""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats
from sklearn.base import clone
from sklearn.exceptions import FitFailedWarning
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import (
    GridSearchCV,
    HalvingGridSearchCV,
    RandomizedSearchCV,
    StratifiedKFold,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from _seams import BatchNormNet
from skbatch import (
    ConvNetClassifier,
    FusedGridSearchCV,
    FusedRandomizedSearchCV,
    FusedSearchMixin,
    MLPClassifier,
    MLPRegressor,
    TorchClassifier,
    load_fit_records,
)

GRID = {"lr": [1e-3, 3e-3], "batch_size": [32, 64]}


def _mlp(**params):
    return MLPClassifier(**{"hidden_layer_sizes": (32,), "max_epochs": 4, "random_state": 0, "device": "cpu", **params})


def _assert_same_results(fused, ordinary, atol=1e-9):
    assert sorted(fused.cv_results_) == sorted(ordinary.cv_results_)
    assert fused.cv_results_["params"] == ordinary.cv_results_["params"]
    for key, values in ordinary.cv_results_.items():
        if "score" in key and "time" not in key and not key.startswith("rank"):
            np.testing.assert_allclose(fused.cv_results_[key], values, atol=atol, err_msg=key)
    assert fused.best_params_ == ordinary.best_params_
    assert fused.best_index_ == ordinary.best_index_


def test_grid_search_gives_gridsearchcvs_results(small_digits):
    X, y = small_digits
    ordinary = GridSearchCV(_mlp(), GRID, cv=3, return_train_score=True).fit(X, y)
    fused = FusedGridSearchCV(_mlp(), GRID, cv=3, return_train_score=True).fit(X, y)
    # The same seeds and the same rows in the same order: the same models, up to rounding.
    _assert_same_results(fused, ordinary, atol=1e-6)
    # 2 candidates x 3 folds, + each one's full-data fit for the refit
    assert fused.fused_stacks_[["n_models", "batch_size"]].values.tolist() == [[8, 32], [8, 64]]
    assert fused.unfused_fits_ == {}
    np.testing.assert_allclose(fused.best_estimator_.predict_proba(X), ordinary.best_estimator_.predict_proba(X), atol=1e-5)


def test_multimetric_scoring_and_refit_by_name(small_digits):
    X, y = small_digits
    scoring = {"accuracy": "accuracy", "log_loss": "neg_log_loss"}
    ordinary = GridSearchCV(_mlp(), GRID, cv=3, scoring=scoring, refit="log_loss").fit(X, y)
    fused = FusedGridSearchCV(_mlp(), GRID, cv=3, scoring=scoring, refit="log_loss").fit(X, y)
    _assert_same_results(fused, ordinary, atol=1e-5)
    assert fused.multimetric_ and fused.best_score_ == pytest.approx(ordinary.best_score_, abs=1e-5)


def test_fused_and_unfused_scores_are_statistically_equivalent(digits):
    # With dropout, fused models draw other masks than their own fits, so
    # they are different models: the question is whether they score alike.
    X, y = digits
    estimator = MLPClassifier(hidden_layer_sizes=(64,), dropout=0.3, max_epochs=6, random_state=0, device="cpu")
    grid = {"lr": [1e-3, 3e-3], "batch_size": [32, 128]}
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    ordinary = GridSearchCV(estimator, grid, cv=cv).fit(X, y)
    fused = FusedGridSearchCV(estimator, grid, cv=cv).fit(X, y)
    split_keys = [f"split{k}_test_score" for k in range(5)]
    ours = np.concatenate([fused.cv_results_[key] for key in split_keys])
    theirs = np.concatenate([ordinary.cv_results_[key] for key in split_keys])
    assert not np.allclose(ours, theirs)  # really different dropout masks
    # 20 paired (candidate, fold) scores: no significant difference, and a small one.
    assert stats.ttest_rel(ours, theirs).pvalue > 0.01
    assert abs(ours.mean() - theirs.mean()) < 0.01
    np.testing.assert_allclose(fused.cv_results_["mean_test_score"], ordinary.cv_results_["mean_test_score"], atol=0.02)


def test_candidates_with_other_per_model_scalars_join_one_stack(small_digits):
    X, y = small_digits
    grid = {"lr": [1e-3, 1e-2], "alpha": [0.0, 1e-3], "dropout": [0.0, 0.2], "random_state": [0, 1]}
    search = FusedGridSearchCV(_mlp(batch_size=50), grid, cv=2).fit(X, y)
    assert search.fused_stacks_["n_models"].tolist() == [32]


def test_randomized_search(small_digits):
    X, y = small_digits
    distributions = {"lr": stats.loguniform(1e-4, 1e-2), "batch_size": [32, 64]}
    kwargs = dict(n_iter=4, cv=3, random_state=0)
    ordinary = RandomizedSearchCV(_mlp(), distributions, **kwargs).fit(X, y)
    fused = FusedRandomizedSearchCV(_mlp(), distributions, **kwargs).fit(X, y)
    _assert_same_results(fused, ordinary, atol=1e-6)
    assert fused.fused_stacks_["n_models"].sum() == 12 + 4  # with each candidate's full-data fit


def test_bayes_search_fuses_the_folds_of_each_point(small_digits):
    from skopt.space import Integer, Real

    from skbatch import FusedBayesSearchCV

    X, y = small_digits
    spaces = {"batch_size": Integer(16, 128, prior="log-uniform"), "lr": Real(1e-4, 1e-2, prior="log-uniform")}
    search = FusedBayesSearchCV(_mlp(), spaces, n_iter=4, n_points=2, cv=3, random_state=0).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert search.fused_stacks_["n_models"].sum() == 12
    assert search.unfused_fits_ == {}
    assert 0.5 < search.best_score_ <= 1.0
    # A fitted search pickles: the class is found again under its module.
    assert type(pickle.loads(pickle.dumps(search))).__name__ == "FusedBayesSearchCV"


def test_importing_skbatch_does_not_import_scikit_optimize():
    code = "import sys, skbatch; assert 'skopt' not in sys.modules; skbatch.FusedBayesSearchCV; assert 'skopt' in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_halving_search_through_the_mixin(small_digits):
    X, y = small_digits

    class FusedHalvingGridSearchCV(FusedSearchMixin, HalvingGridSearchCV):
        pass

    kwargs = dict(resource="max_epochs", min_resources=2, max_resources=6, factor=3, cv=3, random_state=0)
    ordinary = HalvingGridSearchCV(_mlp(), GRID, **kwargs).fit(X, y)
    fused = FusedHalvingGridSearchCV(_mlp(), GRID, **kwargs).fit(X, y)
    _assert_same_results(fused, ordinary, atol=1e-6)
    assert fused.fused_stacks_["n_models"].sum() == len(fused.cv_results_["params"]) * 3


def test_pipeline_fuses_the_network_after_fitting_preprocessing_per_fold(small_digits):
    X, y = small_digits
    pipe = make_pipeline(StandardScaler(), _mlp())
    grid = {"mlpclassifier__lr": [1e-3, 3e-3], "standardscaler__with_mean": [True, False]}
    ordinary = GridSearchCV(pipe, grid, cv=3).fit(X, y)
    fused = FusedGridSearchCV(pipe, grid, cv=3).fit(X, y)
    _assert_same_results(fused, ordinary, atol=1e-6)
    # Different preprocessing, same network params: still one stack, each model on its own data.
    assert fused.fused_stacks_["n_models"].tolist() == [12 + 4]  # with the full-data fit of each of the 4 candidates
    assert fused.best_estimator_[-1].cache_dir is None


def test_a_convnet_search_is_fused_too(small_digits):
    X, y = small_digits
    convnet = ConvNetClassifier(image_shape=(8, 8), channels=(4,), dense_layer_sizes=(), max_epochs=2, random_state=0, device="cpu")
    ordinary = GridSearchCV(convnet, {"lr": [1e-3, 3e-3]}, cv=2).fit(X, y)
    fused = FusedGridSearchCV(convnet, {"lr": [1e-3, 3e-3]}, cv=2).fit(X, y)
    _assert_same_results(fused, ordinary, atol=1e-6)
    assert fused.fused_stacks_["n_models"].tolist() == [4]  # at 2 folds the refit trains on its own


def test_unstackable_networks_train_one_by_one_and_say_so(small_digits, capsys):
    X, y = small_digits
    net = TorchClassifier(module=BatchNormNet, max_epochs=2, random_state=0, device="cpu")
    ordinary = GridSearchCV(net, {"lr": [1e-3, 3e-3]}, cv=2).fit(X, y)
    fused = FusedGridSearchCV(net, {"lr": [1e-3, 3e-3]}, cv=2, verbose=1).fit(X, y)
    _assert_same_results(fused, ordinary)
    assert len(fused.fused_stacks_) == 0
    (reason,) = fused.unfused_fits_
    assert reason.startswith("its module BatchNormNet has buffers")
    assert fused.unfused_fits_[reason] == 4
    assert "4 fit(s) train one by one: its module BatchNormNet has buffers" in capsys.readouterr().out


def test_only_the_unstackable_candidates_fall_back(small_digits):
    X, y = small_digits
    grid = {"batch_size_milestones": [None, [2]], "lr": [1e-3, 3e-3]}
    ordinary = GridSearchCV(_mlp(), grid, cv=2).fit(X, y)
    fused = FusedGridSearchCV(_mlp(), grid, cv=2).fit(X, y)
    _assert_same_results(fused, ordinary, atol=1e-6)
    assert fused.fused_stacks_["n_models"].tolist() == [4]
    assert fused.unfused_fits_ == {"batch_size_milestones changes the batch size during training": 4}


def test_at_two_folds_the_refit_trains_on_its_own(small_digits):
    # A full-data model takes twice its fold models' steps per epoch at 2
    # folds: its stack would run on for it alone, longer than the refit takes.
    X, y = small_digits
    ordinary = GridSearchCV(_mlp(), GRID, cv=2).fit(X, y)
    fused = FusedGridSearchCV(_mlp(), GRID, cv=2).fit(X, y)
    _assert_same_results(fused, ordinary, atol=1e-6)
    assert fused.fused_stacks_["n_models"].tolist() == [4, 4]
    three = FusedGridSearchCV(_mlp(), GRID, cv=3).fit(X, y)
    assert three.fused_stacks_["n_models"].tolist() == [6 + 2, 6 + 2]


def test_a_full_data_fit_of_another_batch_size_is_not_prepared_and_the_refit_trains_alone(monkeypatch):
    from sklearn.datasets import load_iris

    from skbatch.fused import tasks, train

    X, y = load_iris(return_X_y=True)
    prepared, keyed = [], []
    real_prepare, real_key = train._prepare, tasks.FitCache.key

    def counting_prepare(member, *args):
        prepared.append(member.rider)
        return real_prepare(member, *args)

    def counting_key(cache, estimator, X, *args, **kwargs):
        keyed.append(len(X))
        return real_key(cache, estimator, X, *args, **kwargs)

    monkeypatch.setattr(train, "_prepare", counting_prepare)
    monkeypatch.setattr(tasks.FitCache, "key", counting_key)
    grid = {"lr": [1e-3, 3e-3, 1e-2]}
    # 'auto' batches 100 rows of each 3-fold split in one batch, and the 150 rows in one of 150: no stack for those.
    fused = FusedGridSearchCV(_mlp(max_epochs=3), grid, cv=3).fit(X, y)
    assert prepared == [False] * 9
    # Nor are they keyed: the only full-data key is the refit's own lookup.
    assert keyed.count(150) == 1 and keyed.count(100) == 18
    ordinary = GridSearchCV(_mlp(max_epochs=3), grid, cv=3).fit(X, y)
    _assert_same_results(fused, ordinary)
    np.testing.assert_array_equal(fused.predict_proba(X), ordinary.predict_proba(X))
    # Where the batch sizes agree, the full-data fits ride as before.
    prepared.clear()
    FusedGridSearchCV(_mlp(max_epochs=3, batch_size=50), grid, cv=3).fit(X, y)
    assert sorted(prepared) == [False] * 9 + [True] * 3
    # Early stopping holds rows out of each fit: nothing is dropped on a guess.
    fold = train.FusedMember(_mlp(early_stopping=True), X[:100], y[:100])
    members = [fold, train.FusedMember(_mlp(early_stopping=True), X, y, rider=True)]
    assert tasks._lone_riders(members) == set()


def test_a_stack_of_fewer_than_three_fits_trains_them_one_by_one(small_digits, capsys):
    X, y = small_digits
    # Each batch size is a stack of its own: 2 folds, 2 fits each.
    grid = {"batch_size": [16, 32]}
    ordinary = GridSearchCV(_mlp(), grid, cv=2).fit(X, y)
    fused = FusedGridSearchCV(_mlp(), grid, cv=2, verbose=1).fit(X, y)
    _assert_same_results(fused, ordinary, atol=1e-6)
    assert len(fused.fused_stacks_) == 0
    reason = "a stack of 2 fit(s) saves less than it costs (fused stacks take at least 3)"
    assert fused.unfused_fits_ == {reason: 4}
    assert f"4 fit(s) train one by one: {reason}" in capsys.readouterr().out
    # Three folds make stacks of three.
    three = FusedGridSearchCV(_mlp(), grid, cv=3).fit(X, y)
    assert three.fused_stacks_["n_models"].tolist() == [3 + 1, 3 + 1] and three.unfused_fits_ == {}


@pytest.mark.parametrize(
    "make_search, fit_params, reason",
    [
        (
            lambda: FusedGridSearchCV(make_pipeline(StandardScaler(), _mlp()), {"mlpclassifier__lr": [1e-3]}, cv=2),
            {"standardscaler__sample_weight": np.ones(400)},
            "fit params (standardscaler__sample_weight) go to each fit",
        ),
        (
            lambda: FusedGridSearchCV(make_pipeline(StandardScaler()), {"standardscaler__with_mean": [True]}, cv=2, scoring=lambda *a: 0.0),
            {},
            "the estimator is not an skbatch estimator, a Pipeline ending in one, or a TransformedTargetRegressor around one",
        ),
    ],
    ids=["fit params", "not skbatch"],
)
def test_whole_search_falls_back_with_a_reason(small_digits, make_search, fit_params, reason, capsys):
    X, y = small_digits
    search = make_search().set_params(verbose=1).fit(X, y, **fit_params)
    assert search.unfused_fits_ == {reason: 2}
    assert len(search.fused_stacks_) == 0
    assert reason in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore:One or more of the test scores are non-finite")
def test_a_diverging_candidate_fails_as_in_an_ordinary_search(small_digits):
    X, y = small_digits
    estimator = MLPClassifier(solver="sgd", batch_size=100, max_epochs=20, random_state=0, device="cpu")
    # lr=1e6: with scikit-learn's alpha scale, 1e4 no longer overflows here.
    grid = {"lr": [1e-3, 1e6]}
    with pytest.warns(FitFailedWarning, match="NonFiniteLossError"):
        fused = FusedGridSearchCV(estimator, grid, cv=2, error_score=np.nan).fit(X * 16, y)
    assert fused.best_params_ == {"lr": 1e-3}
    assert np.isnan(fused.cv_results_["mean_test_score"][1])
    assert fused.unfused_fits_ == {"fused training raised NonFiniteLossError": 2}


def test_a_cache_dir_keeps_fused_fits_for_the_next_run(small_digits, tmp_path):
    X, y = small_digits
    first = FusedGridSearchCV(_mlp(cache_dir=tmp_path), GRID, cv=3).fit(X, y)
    records = load_fit_records(tmp_path)
    # 12 fused fold fits and the 4 candidates' full-data fits; the refit restores its own.
    assert sorted(records["fused_stack_size"].fillna(0).astype(int).tolist()) == [8] * 16
    again = FusedGridSearchCV(_mlp(cache_dir=tmp_path), GRID, cv=3).fit(X, y)
    assert len(again.fused_stacks_) == 0  # nothing left to train
    _assert_same_results(again, first)
    assert again.best_estimator_.cache_dir == tmp_path


def test_the_temporary_store_is_removed_and_the_search_clones_and_pickles(small_digits, monkeypatch, tmp_path):
    X, y = small_digits
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    search = FusedGridSearchCV(_mlp(), {"lr": [1e-3]}, cv=2)
    assert clone(search).get_params().keys() == GridSearchCV(_mlp(), {"lr": [1e-3]}).get_params().keys()
    search.fit(X, y)
    assert os.listdir(tmp_path) == []
    assert search.estimator.cache_dir is None and search.best_estimator_.cache_dir is None
    restored = pickle.loads(pickle.dumps(search))
    np.testing.assert_array_equal(restored.predict(X), search.predict(X))


def test_regressor_search(small_digits):
    X, _ = small_digits
    y = X[:, :5].sum(axis=1)
    regressor = MLPRegressor(hidden_layer_sizes=(16,), max_epochs=4, random_state=0, device="cpu")
    ordinary = GridSearchCV(regressor, GRID, cv=3).fit(X, y)
    fused = FusedGridSearchCV(regressor, GRID, cv=3).fit(X, y)
    _assert_same_results(fused, ordinary, atol=1e-5)


@pytest.mark.slow
def test_stacks_train_in_parallel_workers(small_digits):
    X, y = small_digits
    ordinary = GridSearchCV(_mlp(), GRID, cv=3).fit(X, y)
    fused = FusedGridSearchCV(_mlp(), GRID, cv=3, n_jobs=2).fit(X, y)
    _assert_same_results(fused, ordinary, atol=1e-6)
    assert len(fused.fused_stacks_) == 2


@pytest.mark.gpu
def test_fused_search_on_cuda(digits):
    X, y = digits
    estimator = _mlp(device="cuda")
    ordinary = GridSearchCV(estimator, GRID, cv=3).fit(X, y)
    fused = FusedGridSearchCV(estimator, GRID, cv=3).fit(X, y)
    _assert_same_results(fused, ordinary, atol=2e-3)
    assert set(fused.fused_stacks_["device"]) == {"cuda:0"}


def test_in_one_process_the_fits_take_their_state_without_reading_it_back(small_digits, monkeypatch):
    from skbatch.cache import store as cache

    X, y = small_digits
    loads = []
    real_decode = cache.decode_entry
    monkeypatch.setattr(cache, "decode_entry", lambda *args: loads.append(args) or real_decode(*args))
    search = FusedGridSearchCV(_mlp(), GRID, cv=3, refit=False).fit(X, y)
    assert search.fused_stacks_["n_models"].sum() == 12
    assert loads == []  # every per-fold fit took the state the stack left in memory
    assert cache._handoffs == {}  # and nothing is held after fit


def test_a_temporary_cache_in_one_process_is_never_written(small_digits, monkeypatch):
    # Without a cache_dir, the search's own temporary folder is removed after
    # fit and the per-fold fits take their state from memory: writing each
    # entry would only cost time (more than small fits take to train).
    from skbatch.cache import store as cache

    X, y = small_digits
    writes = []
    real_write = cache.atomic_write
    monkeypatch.setattr(cache, "atomic_write", lambda path, write, **kw: writes.append(path) or real_write(path, write, **kw))
    # The scheduled candidates train one by one, through the same temporary cache.
    grid = {"lr": [1e-3, 3e-3], "batch_size_milestones": [None, [2]]}
    ordinary = GridSearchCV(_mlp(), grid, cv=3).fit(X, y)
    fused = FusedGridSearchCV(_mlp(), grid, cv=3).fit(X, y)
    _assert_same_results(fused, ordinary, atol=1e-6)
    assert fused.fused_stacks_["n_models"].sum() == 6 + 2
    assert fused.unfused_fits_ == {"batch_size_milestones changes the batch size during training": 6}
    assert writes == []
    assert cache._handoffs == {} and cache._scratch == {}


def test_a_users_cache_dir_gets_every_fused_entry(small_digits, tmp_path):
    X, y = small_digits
    FusedGridSearchCV(_mlp(cache_dir=tmp_path), GRID, cv=3, refit=False).fit(X, y)
    records = load_fit_records(tmp_path)
    assert len(records) == 12 and set(records["fused_stack_size"]) == {6}


def test_each_stack_holds_a_slot_of_the_estimators_device_pool(small_digits, tmp_path):
    # The GPU path on the CPU: a pool of slots decides where each stack
    # trains, as it decides for each ordinary fit, and its models leave the
    # device (here the CPU) when the slot is handed back.
    import json

    from safetensors import safe_open

    from skbatch import DevicePool

    X, y = small_digits
    pool = DevicePool(["cpu"], fits_per_device=2, lock_dir=str(tmp_path / "locks"))
    search = FusedGridSearchCV(_mlp(device=pool, cache_dir=tmp_path / "cache"), GRID, cv=3, refit=False).fit(X, y)
    assert search.fused_stacks_["n_models"].sum() == 12
    states = []
    for path in (tmp_path / "cache" / "fits").glob("*.safetensors"):
        with safe_open(path, framework="pt") as entry:
            states.append(json.loads(entry.metadata()["skbatch"]))
    assert len(states) == 12
    assert {state["attributes"]["device_slot_"] for state in states} <= {"cpu#0", "cpu#1"}
    assert {state["net"]["device"] for state in states} == {"cpu"}
