"""The gradient noise scale: exact per-example path, two-batch fallback, and the estimate tracked during training."""

import math

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from simulated_oom import OutOfMemoryAbove, released  # noqa: F401 (fixture)
from skbatch import (
    ConvNetClassifier,
    MLPClassifier,
    MLPRegressor,
    TorchClassifier,
    gradient_noise_scale,
)
from skbatch.fused.train import unstackable_reason
from skbatch.training.noise_tracking import two_batch_estimates

X_DIGITS, Y_DIGITS = load_digits(return_X_y=True)
X_DIGITS = (X_DIGITS / 16).astype(np.float32)
X_SMALL, Y_SMALL = X_DIGITS[:120], Y_DIGITS[:120]


def _loop_noise_scale(estimator, X, y):
    """tr(Sigma) and |G|^2 one row at a time with plain autograd: the independent computation."""
    net = estimator.net_
    module = net.module_
    module.train()
    X = torch.as_tensor(estimator._shape_input(np.asarray(X, dtype=np.float32), reset=False))
    y = torch.as_tensor(estimator._encode_targets(y, classes=None, resume=True, incremental=False))
    params = [p for p in module.parameters() if p.requires_grad]
    rows = []
    for i in range(len(X)):
        loss = estimator._criterion()(module(X[i : i + 1]), y[i : i + 1])
        grads = torch.autograd.grad(loss, params)
        rows.append(torch.cat([g.ravel() for g in grads]).double())
    G = torch.stack(rows)
    mean = G.mean(dim=0)
    trace = float(((G - mean) ** 2).sum(dim=1).mean())
    return trace, float((mean**2).sum())


def _assert_exact(estimator, X, y):
    result = gradient_noise_scale(estimator, X, y, chunk_size=32)
    trace, grad_sq = _loop_noise_scale(estimator, X, y)
    assert result.method == "exact"
    assert result.n_samples == len(X)
    np.testing.assert_allclose(result.trace_covariance, trace, rtol=1e-4)
    np.testing.assert_allclose(result.grad_norm_squared, grad_sq, rtol=1e-4)
    np.testing.assert_allclose(result.b_simple, trace / grad_sq, rtol=1e-4)


def test_exact_path_matches_a_row_by_row_computation_on_an_mlp():
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_epochs=2, random_state=0, device="cpu").fit(X_SMALL, Y_SMALL)
    _assert_exact(clf, X_SMALL, Y_SMALL)


def test_exact_path_matches_on_a_convnet_and_a_regressor():
    conv = ConvNetClassifier(max_epochs=1, random_state=0, device="cpu").fit(X_SMALL[:60], Y_SMALL[:60])
    _assert_exact(conv, X_SMALL[:60], Y_SMALL[:60])
    reg = MLPRegressor(hidden_layer_sizes=(8,), max_epochs=2, random_state=0, device="cpu")
    target = X_SMALL[:, :2] @ np.array([[1.0, -1.0], [0.5, 2.0]])
    _assert_exact(reg.fit(X_SMALL, target), X_SMALL, target)


def test_a_pipeline_transforms_x_through_its_earlier_steps():
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(8,), max_epochs=2, random_state=0, device="cpu"))
    pipe.fit(X_SMALL, Y_SMALL)
    result = gradient_noise_scale(pipe, X_SMALL, Y_SMALL)
    direct = gradient_noise_scale(pipe[-1], pipe[0].transform(X_SMALL), Y_SMALL)
    assert result == direct


def test_the_estimator_is_left_as_it_was():
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_epochs=2, random_state=0, device="cpu").fit(X_SMALL, Y_SMALL)
    before = clf.predict_proba(X_SMALL)
    gradient_noise_scale(clf, X_SMALL, Y_SMALL, method="two-batch", n_draws=4, random_state=0)
    gradient_noise_scale(clf, X_SMALL, Y_SMALL)
    np.testing.assert_array_equal(clf.predict_proba(X_SMALL), before)
    assert not clf.net_.module_.training
    assert all(p.grad is None for p in clf.net_.module_.parameters())


def test_two_batch_estimator_agrees_with_the_exact_one_on_a_fixed_model():
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_epochs=3, random_state=0, device="cpu").fit(X_DIGITS, Y_DIGITS)
    exact = gradient_noise_scale(clf, X_DIGITS, Y_DIGITS)
    estimate = gradient_noise_scale(clf, X_DIGITS, Y_DIGITS, method="two-batch", n_draws=64, random_state=0)
    assert estimate.method == "two-batch"
    # The big batch is every row, so |G|^2 carries no sampling error.
    np.testing.assert_allclose(estimate.grad_norm_squared, exact.grad_norm_squared, rtol=1e-5)
    # tr(Sigma) averages 64 draws of a small-batch norm whose relative spread is
    # about sqrt(2 / 32) (a chi-square-like norm of 32 rows): a standard error near 3%.
    np.testing.assert_allclose(estimate.trace_covariance, exact.trace_covariance, rtol=0.12)


def test_two_batch_formulas_by_hand():
    # |G|^2 = 1, tr(Sigma) = 8: E|G_B|^2 = 1 + 8 / B.
    grad_sq, trace = two_batch_estimates(1 + 8 / 2, 1 + 8 / 8, 2, 8)
    assert (grad_sq, trace) == pytest.approx((1.0, 8.0))
    # Without replacement from 9 rows: E|G_B|^2 = |G|^2 + tr(Sigma) * 9/8 * (1/B - 1/9).
    grad_sq, trace = two_batch_estimates(1 + 8 * 9 / 8 * (1 / 3 - 1 / 9), 1.0, 3, 9, n_samples=9)
    assert (grad_sq, trace) == pytest.approx((1.0, 8.0))
    with pytest.raises(ValueError, match="b_small < b_big"):
        two_batch_estimates(1.0, 1.0, 8, 8)


class _BatchNormNet(nn.Module):
    def __init__(self, n_features_in, n_classes):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(n_features_in, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, n_classes))

    def forward(self, X):
        return self.layers(X)


def test_batch_norm_falls_back_to_the_two_batch_estimator_with_a_warning():
    clf = TorchClassifier(module=_BatchNormNet, max_epochs=2, random_state=0, device="cpu").fit(X_SMALL, Y_SMALL)
    running_mean = clf.net_.module_.layers[1].running_mean.clone()
    with pytest.warns(UserWarning, match="batch normalization in training mode.*two-batch"):
        result = gradient_noise_scale(clf, X_SMALL, Y_SMALL, n_draws=8, random_state=0)
    assert result.method == "two-batch"
    assert math.isfinite(result.trace_covariance) and result.trace_covariance > 0
    torch.testing.assert_close(clf.net_.module_.layers[1].running_mean, running_mean)
    with pytest.raises(ValueError, match="cannot give per-example gradients.*method='two-batch'"):
        gradient_noise_scale(clf, X_SMALL, Y_SMALL, method="exact")


class _DataDependentNet(nn.Module):
    def __init__(self, n_features_in, n_classes):
        super().__init__()
        self.linear = nn.Linear(n_features_in, n_classes)

    def forward(self, X):
        out = self.linear(X)
        if out.sum() > 0:  # a Python branch on the data: vmap cannot trace it
            return out
        return -out


def test_a_data_dependent_forward_falls_back_naming_the_reason():
    clf = TorchClassifier(module=_DataDependentNet, max_epochs=1, random_state=0, device="cpu").fit(X_SMALL, Y_SMALL)
    with pytest.warns(UserWarning, match="could not vectorize"):
        result = gradient_noise_scale(clf, X_SMALL, Y_SMALL, n_draws=4, random_state=0)
    assert result.method == "two-batch"


def test_errors_name_the_problem():
    with pytest.raises(TypeError, match="skbatch estimator or a Pipeline"):
        gradient_noise_scale(StandardScaler(), X_SMALL, Y_SMALL)
    clf = MLPClassifier(max_epochs=1, device="cpu").fit(X_SMALL, Y_SMALL)
    with pytest.raises(ValueError, match="method must be"):
        gradient_noise_scale(clf, X_SMALL, Y_SMALL, method="vmap")


def test_tracked_estimate_stays_within_a_factor_of_two_of_the_exact_one():
    clf = MLPClassifier(
        hidden_layer_sizes=(32,),
        batch_size=128,
        max_epochs=1,
        warm_start=True,
        track_noise_scale=True,
        random_state=0,
        device="cpu",
    )
    for _ in range(6):
        clf.fit(X_DIGITS, Y_DIGITS)
        exact = gradient_noise_scale(clf, X_DIGITS, Y_DIGITS).b_simple
        tracked = clf.noise_scale_curve_[-1]
        assert exact / 2 <= tracked <= 2 * exact, (clf.n_iter_, tracked, exact)
    assert len(clf.noise_scale_curve_) == 6


def test_no_curve_without_tracking_and_tracking_fits_train_unfused():
    clf = MLPClassifier(max_epochs=1, device="cpu").fit(X_SMALL, Y_SMALL)
    assert clf.noise_scale_curve_ is None
    assert "noise_scale" not in dict(clf.net_.callbacks_)
    assert "track_noise_scale" in unstackable_reason(MLPClassifier(track_noise_scale=True))


# -- batch_size_growth='noise' ----------------------------------------------------------


def _adaptive_plan(limit=100):
    from skbatch.batching.plan import plan_batches

    params = {
        "batch_size": 10,
        "drop_last": False,
        "accumulation_steps": 1,
        "lr": 1e-3,
        "lr_scaling": None,
        "base_batch_size": 200,
        "batch_size_milestones": None,
        "batch_size_growth": "noise",
    }
    return plan_batches(params, 500, max_batch_size=limit)


def test_the_adaptive_policy_grows_toward_the_noise_scale_within_the_limit():
    plan = _adaptive_plan(limit=100)
    assert plan.adaptive and plan.scheduled and plan.batch_limit == 100
    assert plan.adaptive_batch_size(10, 15.2) == 15  # toward the noise scale
    assert plan.adaptive_batch_size(10, 500.0) == 20  # at most doubling per epoch
    assert plan.adaptive_batch_size(80, 500.0) == 100  # never past the memory limit
    assert plan.adaptive_batch_size(40, 12.0) == 40  # never shrinking
    assert plan.adaptive_batch_size(40, float("nan")) == 40  # no estimate yet
    with pytest.raises(ValueError, match="read it from the net's history"):
        plan.batch_size_at(3)


def test_noise_growth_refuses_milestones():
    from skbatch._compat import InvalidParameterError

    clf = MLPClassifier(batch_size_growth="noise", batch_size_milestones=2, device="cpu")
    with pytest.raises(InvalidParameterError, match="batch_size_milestones must be None; got 2"):
        clf.fit(X_SMALL, Y_SMALL)


def test_noise_growth_fit_grows_within_the_memory_limit_and_records_honestly(released):  # noqa: F811 (the fixture)
    clf = TorchClassifier(
        module=OutOfMemoryAbove,
        module_kwargs={"limit": 40},
        batch_size=8,
        batch_size_growth="noise",
        max_epochs=6,
        lr=1e-2,
        random_state=0,
        device="cpu",
    ).fit(X_DIGITS, Y_DIGITS)
    curve, noise = clf.batch_size_curve_, clf.noise_scale_curve_
    limit = clf.max_batch_search_.batch_size
    assert 38 <= limit <= 40
    assert curve[0] == 8 and curve[-1] > curve[0]
    assert all(b <= a * 2 and a <= b <= limit for a, b in zip(curve, curve[1:]))
    # Each epoch's size is the policy's answer to the noise scale measured the epoch before.
    plan = clf.net_.batch_plan
    assert curve[1:] == [plan.adaptive_batch_size(a, n) for a, n in zip(curve[:-1], noise[:-1])]
    # batch_size_curve_ (batches that ran), the history and batch_size_ agree.
    assert [row["batch_size"] for row in clf.net_.history] == curve
    assert clf.batch_size_ == curve[-1]
    assert clf.n_updates_per_epoch_ == math.ceil(len(X_DIGITS) / curve[-1])
