"""Learning rate that follows the batch size."""

import math

import pytest
from sklearn.datasets import load_iris
from torch import nn

from skbatch import MLPClassifier, TorchClassifier, scaled_lr

X_IRIS, Y_IRIS = load_iris(return_X_y=True)


@pytest.mark.parametrize(
    "rule, batch_size, expected",
    [(None, 512, 1e-3), ("linear", 512, 2e-3), ("linear", 64, 2.5e-4), ("sqrt", 1024, 2e-3), ("sqrt", 64, 5e-4)],
)
def test_scaled_lr(rule, batch_size, expected):
    assert scaled_lr(1e-3, batch_size, rule, 256) == pytest.approx(expected)


def test_scaled_lr_rejects_a_non_positive_base():
    with pytest.raises(ValueError, match="base_batch_size must be a positive int.*Got 0"):
        scaled_lr(1e-3, 32, "linear", 0)


def test_scaled_lr_rejects_an_unknown_rule():
    with pytest.raises(ValueError, match="lr_scaling must be 'linear', 'sqrt' or None. Got 'cubic'"):
        scaled_lr(1e-3, 32, "cubic", 32)


@pytest.mark.parametrize("rule, factor", [(None, 1.0), ("linear", 150 / 50), ("sqrt", math.sqrt(150 / 50))])
def test_fitted_estimator_records_and_uses_the_scaled_rate(rule, factor):
    clf = MLPClassifier(batch_size="full", lr=1e-3, lr_scaling=rule, base_batch_size=50, max_epochs=1, device="cpu").fit(X_IRIS, Y_IRIS)
    assert clf.lr_ == pytest.approx(1e-3 * factor)
    assert clf.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(clf.lr_)


def test_scaling_uses_the_resolved_batch_size():
    # 'auto' is min(200, n) = 150 on iris.
    clf = MLPClassifier(lr=1e-3, lr_scaling="linear", base_batch_size=300, max_epochs=1, device="cpu")
    assert clf.fit(X_IRIS, Y_IRIS).lr_ == pytest.approx(5e-4)


class Linear(nn.Module):
    def __init__(self, n_features_in, n_classes):
        super().__init__()
        self.linear = nn.Linear(n_features_in, n_classes)

    def forward(self, X):
        return self.linear(X)


def test_torch_classifier_scales_too():
    clf = TorchClassifier(module=Linear, batch_size=30, lr=0.1, lr_scaling="sqrt", base_batch_size=120, max_epochs=1, device="cpu").fit(
        X_IRIS, Y_IRIS
    )
    assert clf.lr_ == pytest.approx(0.05)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"base_batch_size": 0}, "'base_batch_size' parameter of MLPClassifier must be an int in the range \\[1, inf\\)"),
        ({"base_batch_size": -32}, "'base_batch_size' parameter of MLPClassifier must be an int in the range \\[1, inf\\).*Got -32"),
        ({"lr_scaling": "cubic"}, "'lr_scaling' parameter of MLPClassifier must be a str among \\{.*'linear'.*\\} or None. Got 'cubic'"),
    ],
)
def test_bad_scaling_params_are_rejected_in_fit(params, match):
    with pytest.raises(ValueError, match=match):
        MLPClassifier(device="cpu", **params).fit(X_IRIS, Y_IRIS)
