"""alpha's L2 penalty added to the gradients equals the penalty differentiated by autograd."""

import numpy as np
import pytest
import torch

from skbatch import MLPClassifier, MLPRegressor
from skbatch.training import net as net_module
from skbatch.training.modules import MLPModule
from skbatch.training.penalty import add_penalty_gradient, module_penalty

# Every fit here trains a fixed 3 epochs on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _autograd_penalty(self, loss, y_true):
    # The reference: the penalty built as a differentiable term and backpropagated.
    penalty = module_penalty(self.module_, self.penalty_alpha, net_module._penalty_rows(y_true))
    penalty.backward()
    return loss + penalty.detach()


@pytest.mark.parametrize("n_rows", [32, 17.5, torch.tensor(9.25)])
def test_add_penalty_gradient_equals_autograd(n_rows):
    torch.manual_seed(0)
    fast, slow = MLPModule(5, 3, hidden_layer_sizes=(4, 6)), MLPModule(5, 3, hidden_layer_sizes=(4, 6))
    slow.load_state_dict(fast.state_dict())
    X = torch.randn(8, 5)
    for module in (fast, slow):
        module(X).square().sum().backward()
    value = add_penalty_gradient(fast, torch.tensor(1.5), 0.3, n_rows)
    expected = module_penalty(slow, 0.3, n_rows)
    expected.backward()
    assert not value.requires_grad
    torch.testing.assert_close(value, 1.5 + expected.detach())
    for (name, a), b in zip(fast.named_parameters(), slow.parameters()):
        torch.testing.assert_close(a.grad, b.grad, msg=name)
    # Biases carry no penalty: their gradient is the data loss's alone.
    assert fast.layers[0].bias.grad.equal(slow.layers[0].bias.grad)


def test_add_penalty_gradient_fills_a_missing_gradient():
    module = MLPModule(3, 2, hidden_layer_sizes=(4,))
    add_penalty_gradient(module, torch.tensor(0.0), 0.5, 4)
    weight = module.layers[0].weight
    torch.testing.assert_close(weight.grad, weight.detach() * 0.5 / 4)
    assert module.layers[0].bias.grad is None


def _fit(estimator_class, X, y, sample_weight=None, **params):
    params = dict(hidden_layer_sizes=(16,), batch_size=32, max_epochs=3, tol=0.0, random_state=0, device="cpu", **params)
    estimator = estimator_class(**params)
    return estimator.fit(X, y) if sample_weight is None else estimator.fit(X, y, sample_weight=sample_weight)


def _same_fit(fast, slow):
    for a, b in zip(fast.coefs_ + fast.intercepts_, slow.coefs_ + slow.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fast.loss_curve_, slow.loss_curve_, rtol=1e-5)
    assert fast.loss_ == pytest.approx(slow.loss_, rel=1e-5)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("accumulation_steps", [1, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_fit_equals_the_autograd_penalty(small_digits, monkeypatch, solver, accumulation_steps, weighted):
    # 150 rows in batches of 32: the last batch is short, and weighs the penalty by its own rows.
    X, y = small_digits[0][:150], small_digits[1][:150]
    sample_weight = np.random.default_rng(0).uniform(0.2, 3.0, len(y)) if weighted else None
    params = dict(alpha=0.5, solver=solver, accumulation_steps=accumulation_steps)
    fast = _fit(MLPClassifier, X, y, sample_weight, **params)
    unpenalized = _fit(MLPClassifier, X, y, sample_weight, **{**params, "alpha": 0.0})
    with monkeypatch.context() as patch:
        patch.setattr(net_module.LeanNetMixin, "_add_penalty", _autograd_penalty)
        slow = _fit(MLPClassifier, X, y, sample_weight, **params)
    _same_fit(fast, slow)
    # The penalty took part: without it the weights and losses differ.
    assert not np.allclose(fast.coefs_[0], unpenalized.coefs_[0], rtol=1e-3)
    assert fast.loss_ > unpenalized.loss_


def test_regressor_fit_equals_the_autograd_penalty(small_digits, monkeypatch):
    X, y = small_digits[0][:150], small_digits[1][:150].astype(float)
    fast = _fit(MLPRegressor, X, y, alpha=0.5)
    with monkeypatch.context() as patch:
        patch.setattr(net_module.LeanNetMixin, "_add_penalty", _autograd_penalty)
        slow = _fit(MLPRegressor, X, y, alpha=0.5)
    _same_fit(fast, slow)
