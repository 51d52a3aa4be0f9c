"""The batch plan: one function decides every batch size of a fit, and everything reads its answer."""

import dataclasses
import math
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris
from torch import nn

from _seams import MemoryHungryNet
from skbatch import DeviceOutOfMemoryError, MLPClassifier, NonFiniteLossError, TorchClassifier, load_fit_records
from skbatch._compat import InvalidParameterError
from skbatch.batching.plan import PLAN_PARAMS, BatchPlan, plan_batches, running_batch_size
from skbatch.devices.pool import place_fit
from skbatch.fused.train import FusedMember, train_fused
from skbatch.training import faults

X_IRIS, Y_IRIS = load_iris(return_X_y=True)

DEFAULTS = {name: MLPClassifier().get_params()[name] for name in PLAN_PARAMS}


def plan(n_samples=150, max_batch_size=None, **params):
    return plan_batches({**DEFAULTS, **params}, n_samples, max_batch_size=max_batch_size, owner="MLPClassifier")


# (params, n_samples, max_batch_size) -> (batch size and steps per epoch of
# epochs 0..3, accumulation steps of epochs 0..3, slice size)
PLAN_CASES = {
    "auto below 200": (({}, 150, None), ([150] * 4, [1] * 4, [1] * 4, None)),
    "auto above 200": (({}, 1000, None), ([200] * 4, [5] * 4, [1] * 4, None)),
    "full": (({"batch_size": "full"}, 150, None), ([150] * 4, [1] * 4, [1] * 4, None)),
    "-1": (({"batch_size": -1}, 150, None), ([150] * 4, [1] * 4, [1] * 4, None)),
    "int above n_samples": (({"batch_size": 500}, 150, None), ([150] * 4, [1] * 4, [1] * 4, None)),
    "int keeps the partial batch": (({"batch_size": 32}, 150, None), ([32] * 4, [5] * 4, [1] * 4, None)),
    "drop_last skips it": (({"batch_size": 32, "drop_last": True}, 150, None), ([32] * 4, [4] * 4, [1] * 4, None)),
    "accumulation without max": (
        ({"batch_size": 64, "accumulation_steps": 4}, 150, None),
        ([64] * 4, [3] * 4, [4] * 4, None),
    ),
    "max": (({"batch_size": "max"}, 150, 40), ([40] * 4, [4] * 4, [1] * 4, 40)),
    "max with accumulation": (
        ({"batch_size": "max", "accumulation_steps": 3}, 150, 40),
        ([120] * 4, [2] * 4, [3] * 4, 40),
    ),
    "max with accumulation, clamped": (
        ({"batch_size": "max", "accumulation_steps": 3}, 150, 60),
        ([150] * 4, [1] * 4, [3] * 4, 60),
    ),
    "max above n_samples": (({"batch_size": "max"}, 150, 500), ([150] * 4, [1] * 4, [1] * 4, 150)),
    "milestones every epoch": (
        ({"batch_size": 32, "batch_size_milestones": 1}, 150, None),
        ([32, 64, 128, 150], [5, 3, 2, 1], [1] * 4, None),
    ),
    "milestones at epochs": (
        ({"batch_size": 10, "batch_size_milestones": [2, 3], "batch_size_growth": 3.0}, 150, None),
        ([10, 10, 30, 90], [15, 15, 5, 2], [1] * 4, None),
    ),
    "milestones with drop_last": (
        ({"batch_size": 32, "batch_size_milestones": 1, "drop_last": True}, 150, None),
        ([32, 64, 128, 150], [4, 2, 1, 1], [1] * 4, None),
    ),
    "milestones with max accumulate past the limit": (
        ({"batch_size": "max", "batch_size_milestones": 1}, 150, 40),
        ([40, 80, 150, 150], [4, 2, 1, 1], [1, 2, 4, 4], 40),
    ),
}


@pytest.mark.parametrize("case", PLAN_CASES.values(), ids=PLAN_CASES.keys())
def test_plan_of_each_batch_size_setting(case):
    (params, n_samples, max_batch_size), (sizes, updates, accumulation, slice_size) = case
    result = plan(n_samples, max_batch_size, **params)
    assert [result.batch_size_at(epoch) for epoch in range(4)] == sizes
    assert [result.updates_per_epoch(epoch) for epoch in range(4)] == updates
    assert [result.accumulation_steps_at(epoch) for epoch in range(4)] == accumulation
    assert result.batch_size == sizes[0] and result.slice_size == slice_size
    assert result.scheduled == (params.get("batch_size_milestones") is not None)


@pytest.mark.parametrize(
    "params, n_samples, lr",
    [
        ({"lr_scaling": None, "batch_size": 50}, 150, 1e-3),
        ({"lr_scaling": "linear", "batch_size": 100}, 150, 5e-4),
        ({"lr_scaling": "sqrt", "batch_size": 50}, 150, 5e-4),
        # Scaled by the size that runs, not the one asked for: 500 is clamped to 150.
        ({"lr_scaling": "linear", "batch_size": 500, "base_batch_size": 150}, 150, 1e-3),
        ({"lr_scaling": "linear", "batch_size": "max", "accumulation_steps": 2, "base_batch_size": 40}, 150, 2e-3),
    ],
)
def test_plan_scales_lr_by_the_batch_size_used(params, n_samples, lr):
    assert plan(n_samples, 40, **params).lr == pytest.approx(lr)


def test_plan_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan().batch_size = 10


def test_max_without_the_search_result_is_refused():
    with pytest.raises(ValueError, match="batch_size='max' of MLPClassifier needs the largest batch that fits"):
        plan(batch_size="max")


def test_plan_checks_the_milestones():
    with pytest.raises(InvalidParameterError, match="'batch_size_milestones' parameter of MLPClassifier"):
        plan(batch_size_milestones=[3, 3])


def test_a_fit_trains_by_its_plan_and_reports_the_last_size():
    clf = MLPClassifier(
        hidden_layer_sizes=(8,),
        batch_size=10,
        batch_size_milestones=(2, 3),
        max_epochs=5,
        device="cpu",
        lr_scaling="linear",
        base_batch_size=20,
    ).fit(X_IRIS, Y_IRIS)
    expected = plan(batch_size=10, batch_size_milestones=(2, 3), lr_scaling="linear", base_batch_size=20)
    assert clf.net_.batch_plan == expected
    assert clf.batch_size_curve_ == [expected.batch_size_at(epoch) for epoch in range(5)] == [10, 10, 20, 40, 40]
    assert clf.net_.history[:, "train_batch_count"] == [expected.updates_per_epoch(e) for e in range(5)]
    assert clf.batch_size_ == 40 and clf.lr_ == pytest.approx(5e-4)


def test_the_fused_path_and_the_ordinary_fit_make_the_same_plan():
    X, y = X_IRIS[::2], Y_IRIS[::2]
    base = MLPClassifier(
        hidden_layer_sizes=(8,),
        batch_size=20,
        drop_last=True,
        lr_scaling="sqrt",
        base_batch_size=80,
        max_epochs=2,
        random_state=0,
        device="cpu",
    )
    members = [FusedMember(clone(base), X, y), FusedMember(clone(base).set_params(lr=3e-3), X, y)]
    with place_fit("cpu") as placement:
        (stack,) = train_fused(members, placement)
    assert stack["batch_size"] == 20 and stack["n_batches"] == len(X) // 20
    for member in members:
        alone = clone(member.estimator).fit(X, y)
        assert member.plan == member.estimator.net_.batch_plan == alone.net_.batch_plan
        assert member.estimator.lr_ == alone.lr_ == pytest.approx(member.estimator.lr * 0.5)
        assert member.estimator.batch_size_ == alone.batch_size_ == 20
        assert member.estimator.n_updates_per_epoch_ == alone.n_updates_per_epoch_


def scheduled_hungry(tag, max_batch=40, **kwargs):
    # Runs out of memory above 40 rows: epoch 1 at 32 fits, epoch 2 at 64 does not.
    return TorchClassifier(
        module=MemoryHungryNet,
        module_kwargs={"max_batch": max_batch, "tag": tag},
        batch_size=32,
        batch_size_milestones=1,
        max_epochs=3,
        device="cpu",
        random_state=0,
        **kwargs,
    )


def test_out_of_memory_after_the_schedule_grew_names_the_size_that_ran(tmp_path):
    with pytest.raises(DeviceOutOfMemoryError) as info:
        scheduled_hungry("grown", cache_dir=tmp_path).fit(X_IRIS, Y_IRIS)
    message = str(info.value)
    assert "while training with batch_size=64 (batch_size_milestones grew it from 32 at epoch 2)" in message
    # 32 trained in this fit's first epoch: the advice names it, not half of the failing size's start.
    assert "The largest batch size that trained with these settings was 32: set batch_size=32" in message
    assert "batch_size=16" not in message
    (record,) = load_fit_records(tmp_path).to_dict("records")
    assert record["status"] == "failed" and record["batch_size"] == 64


def test_every_size_a_scheduled_fit_ran_is_remembered():
    clf = scheduled_hungry("remember", max_batch=1000).fit(X_IRIS, Y_IRIS)
    assert clf.batch_size_curve_ == [32, 64, 128]
    assert faults.largest_fitted_batch_size(clf, below=1000) == 128
    assert faults.largest_fitted_batch_size(clf, below=128) == 64


class NonFiniteAbove(nn.Module):
    """A linear model whose training output is NaN on batches larger than ``limit``."""

    def __init__(self, n_features_in, n_classes, limit=40):
        super().__init__()
        self.limit = limit
        self.linear = nn.Linear(n_features_in, n_classes)

    def forward(self, X):
        output = self.linear(X)
        if self.training and len(X) > self.limit:
            return output * math.nan
        return output


def test_a_loss_that_diverges_after_the_schedule_grew_names_the_size_that_ran():
    clf = TorchClassifier(module=NonFiniteAbove, batch_size=32, batch_size_milestones=1, max_epochs=3, device="cpu", random_state=0)
    with pytest.raises(NonFiniteLossError, match=r"became nan at epoch 2 \(lr=0.001, batch_size=64\)"):
        clf.fit(X_IRIS, Y_IRIS)
    assert running_batch_size(clf.net_) == 64


def test_running_batch_size_of_a_net_without_a_plan_is_its_batch_size():
    class Net:
        batch_size = 17

    assert running_batch_size(Net()) == 17
    assert running_batch_size(None) is None


def test_batch_plan_pickles_with_the_net():
    clf = MLPClassifier(hidden_layer_sizes=(4,), batch_size=16, max_epochs=1, device="cpu").fit(X_IRIS, Y_IRIS)
    restored = pickle.loads(pickle.dumps(clf))
    assert isinstance(restored.net_.batch_plan, BatchPlan)
    assert restored.net_.batch_plan == clf.net_.batch_plan
    np.testing.assert_array_equal(restored.predict(X_IRIS), clf.predict(X_IRIS))
