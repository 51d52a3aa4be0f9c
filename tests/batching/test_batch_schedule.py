"""Batch size that grows during training."""

import math
import pickle

import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV
from skorch.dataset import Dataset

from simulated_oom import OutOfMemoryAbove, released  # noqa: F401 (fixture)
from skbatch import MLPClassifier, TensorBatchIterator, TorchClassifier
from skbatch.batching.schedule import check_milestones, scheduled_batch_size

# Simulated failures hold no memory; skip the garbage collection after each.
pytestmark = pytest.mark.usefixtures("released")

X_IRIS, Y_IRIS = load_iris(return_X_y=True)


@pytest.mark.parametrize(
    "epoch, milestones, expected",
    [(0, 2, 10), (1, 2, 10), (2, 2, 30), (4, 2, 90), (9, 2, 150), (0, (1, 3), 10), (1, (1, 3), 30), (3, (1, 3), 90)],
)
def test_scheduled_batch_size(epoch, milestones, expected):
    assert scheduled_batch_size(10, epoch, growth=3, milestones=milestones, n_samples=150) == expected


def test_fractional_growth_rounds():
    sizes = [scheduled_batch_size(16, e, growth=1.5, milestones=1, n_samples=1000) for e in range(4)]
    assert sizes == [16, 24, 36, 54]


@pytest.mark.parametrize("milestones", [(10, 5), (5, 5), (0, 5), (), ("a",), (True, 3)])
def test_milestones_must_increase(milestones):
    with pytest.raises(ValueError, match="'batch_size_milestones' parameter of MLPClassifier must be .*strictly increasing"):
        check_milestones(milestones, "MLPClassifier")


def test_fit_rejects_a_schedule_that_is_not_increasing():
    clf = MLPClassifier(batch_size_milestones=[4, 2], device="cpu")
    with pytest.raises(ValueError, match="strictly increasing sequence of epochs >= 1.*Got \\[4, 2\\]"):
        clf.fit(X_IRIS, Y_IRIS)


@pytest.mark.parametrize("growth", [1, 0.5, 0])
def test_fit_rejects_a_growth_that_does_not_grow(growth):
    clf = MLPClassifier(batch_size_milestones=2, batch_size_growth=growth, device="cpu")
    with pytest.raises(ValueError, match="'batch_size_growth' parameter of MLPClassifier must be a float in the range \\(1.0, inf\\)"):
        clf.fit(X_IRIS, Y_IRIS)


def test_fit_rejects_a_non_positive_period():
    with pytest.raises(ValueError, match="'batch_size_milestones' parameter of MLPClassifier must be an int in the range \\[1, inf\\)"):
        MLPClassifier(batch_size_milestones=0, device="cpu").fit(X_IRIS, Y_IRIS)


def test_fit_follows_the_schedule_epoch_by_epoch():
    clf = MLPClassifier(
        hidden_layer_sizes=(8,),
        batch_size=10,
        batch_size_milestones=(2, 3),
        batch_size_growth=2.0,
        max_epochs=5,
        n_iter_no_change=10,
        device="cpu",
    ).fit(X_IRIS, Y_IRIS)
    assert clf.batch_size_curve_ == [10, 10, 20, 40, 40]
    assert clf.net_.history[:, "train_batch_count"] == [15, 15, 8, 4, 4]
    # Both describe the last epoch, which the schedule grew.
    assert clf.batch_size_ == 40
    assert clf.n_updates_per_epoch_ == 4


def test_schedule_continues_across_partial_fit_calls():
    clf = MLPClassifier(hidden_layer_sizes=(8,), batch_size=10, batch_size_milestones=1, device="cpu")
    for _ in range(3):
        clf.partial_fit(X_IRIS, Y_IRIS, classes=np.unique(Y_IRIS))
    assert clf.batch_size_curve_ == [10, 20, 40]


def test_schedule_set_after_the_first_fit_is_refused_on_warm_start():
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_epochs=1, warm_start=True, device="cpu").fit(X_IRIS, Y_IRIS)
    clf.set_params(batch_size_milestones=1)
    with pytest.raises(ValueError, match="batch_size_milestones was set after the network was built.*warm_start=False"):
        clf.fit(X_IRIS, Y_IRIS)


def test_schedule_with_max_accumulates_above_the_memory_limit():
    clf = TorchClassifier(
        module=OutOfMemoryAbove,
        module_kwargs={"limit": 40},
        batch_size="max",
        batch_size_milestones=1,
        max_epochs=3,
        n_iter_no_change=10,
        device="cpu",
    ).fit(X_IRIS, Y_IRIS)
    slice_size = clf.max_batch_search_.batch_size
    assert clf.batch_size_curve_ == [slice_size, min(150, 2 * slice_size), min(150, 4 * slice_size)]
    assert clf.net_.accumulation_steps == math.ceil(clf.batch_size_curve_[-1] / slice_size)


def test_a_search_can_tune_the_schedule():
    grid = {"batch_size_milestones": [None, 2], "batch_size_growth": [2.0, 4.0]}
    clf = MLPClassifier(hidden_layer_sizes=(8,), batch_size=10, max_epochs=4, device="cpu", random_state=0)
    search = GridSearchCV(clf, grid, cv=2).fit(X_IRIS, Y_IRIS)
    assert len(search.cv_results_["params"]) == 4


def test_iterator_reads_a_callable_batch_size_at_every_pass():
    sizes = iter([50, 75])
    current = {"size": 0}

    def batch_size():
        return current["size"]

    iterator = TensorBatchIterator(Dataset(torch.zeros(150, 2), torch.zeros(150)), batch_size=batch_size)
    for expected_batches in (3, 2):
        current["size"] = next(sizes)
        assert len(iterator) == expected_batches
        assert len(list(iterator)) == expected_batches


def test_a_scheduled_fitted_model_pickles_and_keeps_one_schedule():
    clf = MLPClassifier(
        hidden_layer_sizes=(8,),
        batch_size=10,
        batch_size_milestones=1,
        accumulation_steps=2,
        max_epochs=2,
        device="cpu",
    ).fit(X_IRIS, Y_IRIS)
    copy = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(copy.predict_proba(X_IRIS), clf.predict_proba(X_IRIS))
    schedule = dict(copy.net_.callbacks_)["batch_size_schedule"]
    assert copy.net_.iterator_train__batch_size is schedule
    copy.set_params(warm_start=True, max_epochs=1).fit(X_IRIS, Y_IRIS)
    assert copy.batch_size_curve_ == [10, 20, 40]
