"""Fused training: each stacked model gets its own gradient, update and stopping, and ends where its own fit would."""

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.base import clone
from sklearn.svm import LinearSVC
from torch import nn

from _seams import BatchNormNet
from skbatch import (
    ConvNetClassifier,
    MLPClassifier,
    MLPRegressor,
    NonFiniteLossError,
    TorchClassifier,
)
from skbatch.devices.pool import place_fit
from skbatch.fused.optim import MixedOptimizer
from skbatch.fused.stacks import MLPStack
from skbatch.fused.train import (
    FusedMember,
    UnstackableError,
    stack_key,
    train_fused,
    unstackable_reason,
)
from skbatch.training.modules import MLPModule


def _flat_grads(module):
    # The stack's layout: each layer's weight as nn.Linear has it, (fan_out, fan_in), then its bias.
    parts = []
    for layer in module.layers:
        if isinstance(layer, nn.Linear):
            parts += [layer.weight.grad.reshape(-1), layer.bias.grad]
    return torch.cat(parts)


def _row(tensors, row):
    # Model ``row``'s part of a stack's tensors (its params, or their gradients), in _flat_grads's order.
    return torch.cat([tensor[row].reshape(-1) for tensor in tensors])


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "gelu", "identity"])
def test_each_stacked_model_gets_exactly_its_own_gradient(activation):
    torch.manual_seed(0)
    modules = [MLPModule(5, 3, hidden_layer_sizes=(6, 4), activation=activation) for _ in range(4)]
    stack = MLPStack(modules, [activation] * len(modules), torch.device("cpu"))
    X = torch.randn(4, 7, 5)  # each model its own rows
    y = torch.randint(0, 3, (4, 7))
    output = stack.forward(X)
    losses = F.cross_entropy(output.reshape(-1, 3), y.reshape(-1), reduction="none").view(4, 7).mean(dim=1)
    grads = stack.gradient(losses.sum())
    for row, module in enumerate(modules):
        module.zero_grad()
        loss = F.cross_entropy(module(X[row]), y[row])
        loss.backward()
        assert torch.allclose(losses[row], loss, atol=1e-6)
        assert torch.allclose(_row(grads, row), _flat_grads(module), atol=1e-6)


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
def test_the_hand_written_gradient_is_autograds(activation):
    # Models of two widths (so padded) and two activations in one stack: the
    # gradient MLPStack.backward writes is each model's own autograd gradient.
    torch.manual_seed(0)
    modules = [MLPModule(5, 3, hidden_layer_sizes=(6, 4), activation=activation) for _ in range(2)]
    modules += [MLPModule(5, 3, hidden_layer_sizes=(5, 4), activation="tanh") for _ in range(2)]
    stack = MLPStack(modules, [activation] * 2 + ["tanh"] * 2, torch.device("cpu"))
    assert stack.differentiable and stack.real is not None
    X, y = torch.randn(4, 7, 5), torch.randint(0, 3, (4, 7))
    output = stack.forward_saving(X)
    losses = F.cross_entropy(output.transpose(1, 2), y, reduction="none").mean(dim=1)
    d_output = (torch.softmax(output, dim=2) - F.one_hot(y, 3)) / 7
    grads = stack.backward(d_output)
    for row, module in enumerate(modules):
        module.zero_grad()
        loss = F.cross_entropy(module(X[row]), y[row])
        loss.backward()
        assert torch.allclose(losses[row], loss, atol=1e-6)
        own = [torch.zeros_like(param[:1]) for param in stack.params]
        for param, view in stack.unstack(own, 0, module):
            view.copy_(param.grad)
        assert torch.allclose(_row(grads, row), _row(own, 0), atol=1e-6)


def test_the_hand_written_gradient_is_autograds_with_dropout_and_a_regression_loss():
    # Per-model dropout rates, masks drawn from one generator: with the same
    # draws, forward_saving + backward give autograd's gradient through forward.
    torch.manual_seed(0)
    modules = [MLPModule(5, 2, hidden_layer_sizes=(6, 4), activation=name) for name in ("relu", "relu", "tanh")]
    stack = MLPStack(modules, ["relu", "relu", "tanh"], torch.device("cpu"))
    X, y = torch.randn(3, 7, 5), torch.randn(3, 7, 2)
    keep = torch.tensor([0.5, 0.8, 1.0]).view(3, 1, 1)
    output = stack.forward(X, keep, torch.Generator().manual_seed(1))
    expected = stack.gradient((output - y).square().mean(dim=2).mean(dim=1).sum())
    saved = stack.forward_saving(X, keep, torch.Generator().manual_seed(1))
    assert torch.equal(saved, output.detach())
    grads = stack.backward((saved - y) * (2.0 / 2) / 7)
    for ours, theirs in zip(grads, expected):
        assert torch.allclose(ours, theirs, atol=1e-6)


@pytest.mark.parametrize("scale", [0.25, torch.tensor([0.5, 0.0, 0.125]).view(3, 1, 1)], ids=["one for all", "one each"])
def test_the_penalty_written_with_the_gradient_is_scale_times_each_weight(scale):
    # Two widths, so padded: the padding's gradient stays 0 with the penalty.
    torch.manual_seed(0)
    modules = [MLPModule(5, 3, hidden_layer_sizes=(width,)) for width in (6, 6, 4)]
    stack = MLPStack(modules, ["relu"] * 3, torch.device("cpu"))
    X = torch.randn(3, 7, 5)
    d_output = torch.randn(3, 7, 3)
    stack.forward_saving(X)
    plain = [gradient.clone() for gradient in stack.backward(d_output)]  # the next call overwrites them
    stack.forward_saving(X)
    penalized = stack.backward(d_output, scale)
    scales = torch.as_tensor(scale).expand(3, 1, 1)
    assert any(real is not None for real in stack.real)
    for ours, without, param, decayed, real in zip(penalized, plain, stack.params, stack.decays, stack.real):
        real = torch.ones_like(param) if real is None else real
        expected = without + scales * param * decayed * real
        torch.testing.assert_close(ours, expected, rtol=0, atol=1e-7)
        assert torch.equal(ours * (1 - real), torch.zeros_like(ours))


def test_gelu_is_left_to_autograd():
    modules = [MLPModule(3, 2, hidden_layer_sizes=(4,), activation="gelu") for _ in range(2)]
    assert not MLPStack(modules, ["gelu"] * 2, torch.device("cpu")).differentiable


def test_a_padded_last_batch_weighs_only_each_models_own_rows():
    torch.manual_seed(0)
    modules = [MLPModule(3, 2, hidden_layer_sizes=(4,)) for _ in range(2)]
    stack = MLPStack(modules, ["relu"] * len(modules), torch.device("cpu"))
    X, y = torch.randn(2, 5, 3), torch.randint(0, 2, (2, 5))
    # Model 0 has 5 real rows in this batch, model 1 only 3: the padding must not count.
    weights = torch.tensor([[0.2] * 5, [1 / 3] * 3 + [0.0] * 2])
    per_row = F.cross_entropy(stack.forward(X).reshape(-1, 2), y.reshape(-1), reduction="none").view(2, 5)
    grads = stack.gradient((per_row * weights).sum())
    modules[1].zero_grad()
    F.cross_entropy(modules[1](X[1, :3]), y[1, :3]).backward()
    assert torch.allclose(_row(grads, 1), _flat_grads(modules[1]), atol=1e-6)


def _fold_members(base, X, y, variants, n_folds=3):
    folds = np.array_split(np.arange(len(X)), n_folds)
    members = []
    for params in variants:
        for fold, rows in enumerate(folds):
            train = np.setdiff1d(np.arange(len(X)), rows)
            members.append(FusedMember(clone(base).set_params(**params), X[train], y[train], block=fold))
    return members


def _fit_fused(members):
    with place_fit("cpu") as placement:
        return train_fused(members, placement)


def _assert_matches_own_fit(member, atol=1e-4):
    fused = member.estimator
    alone = clone(fused).fit(member.X, member.y)
    assert fused.n_iter_ == alone.n_iter_
    assert fused.n_updates_per_epoch_ == alone.n_updates_per_epoch_
    assert fused.batch_size_curve_ == alone.batch_size_curve_
    assert fused.net_.batch_plan == alone.net_.batch_plan
    assert fused.batch_size_ == alone.batch_size_ and fused.lr_ == alone.lr_
    np.testing.assert_allclose(fused.loss_curve_, alone.loss_curve_, rtol=1e-4)
    for ours, theirs in zip(fused.net_.module_.parameters(), alone.net_.module_.parameters()):
        torch.testing.assert_close(ours, theirs, atol=atol, rtol=1e-3)
    return alone


# Small lrs keep Adam in the regime where rounding does not compound: with a
# large lr, Adam scales even rounding noise in near-zero gradients up to a
# full step, and fused and unfused weights drift apart as two runs on
# different hardware would.
OPTIMIZER_CASES = {
    "adam": {"solver": "adam", "lr": 1e-3},
    "adam with weight decay": {"solver": "adam", "lr": 1e-3, "alpha": 1e-2},
    "adamw": {"solver": "adamw", "lr": 1e-3, "alpha": 1e-2},
    "adamw without decay": {"solver": "adamw", "lr": 1e-3, "alpha": 0.0},
    "sgd with nesterov momentum": {"solver": "sgd", "lr": 1e-2, "momentum": 0.9},
    "sgd with plain momentum": {"solver": "sgd", "lr": 1e-2, "momentum": 0.5, "nesterovs_momentum": False},
    "sgd without momentum": {"solver": "sgd", "lr": 1e-2, "momentum": 0.0},
    "invscaling": {"solver": "sgd", "lr": 5e-2, "learning_rate": "invscaling", "power_t": 0.5},
}


@pytest.mark.parametrize("params", OPTIMIZER_CASES.values(), ids=OPTIMIZER_CASES.keys())
def test_a_fused_model_ends_where_its_own_fit_does(small_digits, params):
    X, y = small_digits
    base = MLPClassifier(hidden_layer_sizes=(16,), max_epochs=4, batch_size=48, random_state=0, device="cpu")
    members = _fold_members(base.set_params(**params), X, y, [{}, {"random_state": 1}])
    stacks = _fit_fused(members)
    assert [stack["n_models"] for stack in stacks] == [6]
    for member in members:
        assert member.error is None
        _assert_matches_own_fit(member)


@pytest.mark.parametrize(
    "variants",
    [
        [{"solver": "adam"}, {"solver": "sgd", "lr": 1e-2}],
        [{"solver": "adam"}, {"solver": "adamw"}],
        [{"solver": "adam", "alpha": 0.2}, {"solver": "sgd", "lr": 1e-2}],
    ],
    ids=["one alpha for all", "adamw beside a penalty", "alphas of their own"],
)
def test_a_strong_penalty_is_each_models_own_in_a_mixed_stack(small_digits, variants):
    # alpha large enough that a penalty added twice, or to AdamW's rows, or
    # with another model's alpha, moves the weights well past the tolerance.
    X, y = small_digits
    base = MLPClassifier(hidden_layer_sizes=(16,), max_epochs=3, batch_size=48, lr=1e-3, alpha=0.5, random_state=0, device="cpu")
    members = _fold_members(base, X, y, variants)
    assert [stack["n_models"] for stack in _fit_fused(members)] == [6]
    for member in members:
        assert member.error is None
        _assert_matches_own_fit(member)
    scale = MixedOptimizer([member.estimator for member in members], [True], torch.device("cpu")).penalty_scale(48.0)
    if variants[1]["solver"] == "adamw":
        # AdamW's rows take no penalty: nothing is written with their gradient, not even 0 * W.
        assert scale is None
    elif "alpha" in variants[0]:
        assert scale.shape == (6, 1, 1)
    else:
        assert scale == 0.5 / 48


def test_models_differing_in_per_model_scalars_share_one_stack(small_digits):
    X, y = small_digits
    base = MLPClassifier(hidden_layer_sizes=(16,), max_epochs=3, batch_size=40, solver="sgd", random_state=0, device="cpu")
    variants = [
        {"lr": 1e-2, "alpha": 0.0, "momentum": 0.9},
        {"lr": 3e-2, "alpha": 1e-3, "momentum": 0.5},
        {"lr": 5e-3, "alpha": 1e-2, "momentum": 0.0},
    ]
    members = _fold_members(base, X, y, variants)
    assert len({stack_key(member.estimator) for member in members}) == 1
    assert [stack["n_models"] for stack in _fit_fused(members)] == [9]
    for member in members:
        _assert_matches_own_fit(member)


def test_each_model_stops_on_its_own_plateau(small_digits):
    X, y = small_digits
    # tol this large stops every model after n_iter_no_change epochs without
    # a gain of 0.05, which the larger lr keeps making for longer.
    base = MLPClassifier(hidden_layer_sizes=(16,), max_epochs=30, batch_size=50, tol=0.05, n_iter_no_change=2, random_state=0, device="cpu")
    members = _fold_members(base, X, y, [{"lr": 1e-3}, {"lr": 3e-2}])
    stacks = _fit_fused(members)
    n_iters = [member.estimator.n_iter_ for member in members]
    assert len(set(n_iters)) > 1, n_iters  # the stack went on without the models that stopped
    assert stacks[0]["epochs"] == max(n_iters)
    for member in members:
        _assert_matches_own_fit(member)


def test_adaptive_learning_rate_follows_each_models_own_plateau(small_digits):
    X, y = small_digits
    base = MLPClassifier(
        hidden_layer_sizes=(16,),
        max_epochs=30,
        batch_size=50,
        solver="sgd",
        lr=0.05,
        learning_rate="adaptive",
        tol=0.5,
        n_iter_no_change=1,
        random_state=0,
        device="cpu",
    )
    # The cuts come every other epoch, so the models stop at the rate's floor (1e-6) before max_epochs.
    members = _fold_members(base, X, y, [{}, {"n_iter_no_change": 2}])
    _fit_fused(members)
    for member in members:
        alone = _assert_matches_own_fit(member)
        lr = member.estimator.net_.optimizer_.param_groups[0]["lr"]
        assert lr == pytest.approx(alone.net_.optimizer_.param_groups[0]["lr"])
        assert lr <= 1e-6  # the schedule cut it to its floor
        assert member.estimator.n_iter_ < 30  # and then stopped


@pytest.mark.parametrize("drop_last, shuffle", [(False, True), (True, True), (False, False)])
def test_ragged_folds_and_batches(small_digits, drop_last, shuffle):
    X, y = small_digits
    X, y = X[:331], y[:331]  # folds of 110 and 111 training rows... and last batches of different sizes
    base = MLPClassifier(
        hidden_layer_sizes=(8,), max_epochs=3, batch_size=32, drop_last=drop_last, shuffle=shuffle, random_state=0, device="cpu"
    )
    members = _fold_members(base, X, y, [{}], n_folds=3)
    _fit_fused(members)
    for member in members:
        _assert_matches_own_fit(member)


def test_regressor_with_several_outputs():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(240, 5))
    y = np.c_[X @ rng.normal(size=5), np.sin(X[:, 0])]
    base = MLPRegressor(hidden_layer_sizes=(12,), max_epochs=4, batch_size=32, lr=1e-2, random_state=0, device="cpu")
    members = _fold_members(base, X, y, [{}, {"lr": 3e-3}])
    assert [stack["n_models"] for stack in _fit_fused(members)] == [6]
    for member in members:
        assert member.estimator.n_outputs_ == 2
        _assert_matches_own_fit(member)


def test_fused_fit_continues_like_its_own_fit(small_digits):
    # The optimizer state is handed to each net, so training on continues as
    # it would have: a partial_fit epoch after fusing matches one after the fit.
    X, y = small_digits
    base = MLPClassifier(hidden_layer_sizes=(16,), max_epochs=3, batch_size=40, lr=1e-3, random_state=0, device="cpu")
    members = _fold_members(base, X, y, [{}], n_folds=2)
    _fit_fused(members)
    member = members[0]
    alone = clone(member.estimator).fit(member.X, member.y)
    # Each state tensor as the fit's own: dtype, device and strides (torch's fused kernels read them so).
    ours, theirs = member.estimator.net_.optimizer_, alone.net_.optimizer_
    for param, own in zip(member.estimator.net_.module_.parameters(), alone.net_.module_.parameters()):
        for name, value in theirs.state[own].items():
            handed = ours.state[param][name]
            assert (handed.dtype, handed.device, handed.stride()) == (value.dtype, value.device, value.stride()), name
    member.estimator.partial_fit(member.X, member.y)
    alone.partial_fit(member.X, member.y)
    for ours, theirs in zip(member.estimator.net_.module_.parameters(), alone.net_.module_.parameters()):
        torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-3)


def test_fused_model_is_a_complete_fitted_estimator(small_digits):
    X, y = small_digits
    base = MLPClassifier(hidden_layer_sizes=(8,), max_epochs=2, random_state=0, device="cpu")
    members = _fold_members(base, X, y, [{}])
    _fit_fused(members)
    fused = members[0].estimator
    alone = clone(fused).fit(members[0].X, members[0].y)
    assert set(vars(fused)) == set(vars(alone))
    assert fused.fit_time_ > 0
    assert fused.predict_proba(X).shape == (len(X), 10)


def test_dropout_trains_with_a_mask_per_model(small_digits):
    X, y = small_digits
    base = MLPClassifier(hidden_layer_sizes=(32,), max_epochs=5, batch_size=32, lr=3e-3, random_state=0, device="cpu")
    members = _fold_members(base, X, y, [{"dropout": 0.0}, {"dropout": 0.5}])
    assert [stack["n_models"] for stack in _fit_fused(members)] == [6]
    no_dropout, dropout = members[:3], members[3:]
    for member in no_dropout:
        _assert_matches_own_fit(member)
    # Dropout masks come from another stream: the weights differ, the loss is
    # of the same size as the model's own fit with dropout.
    for member in dropout:
        alone = clone(member.estimator).fit(member.X, member.y)
        assert member.estimator.loss_ == pytest.approx(alone.loss_, rel=0.25)
        assert member.estimator.loss_ > no_dropout[0].estimator.loss_


def test_non_finite_loss_fails_only_that_model(small_digits):
    X, y = small_digits
    base = MLPClassifier(solver="sgd", batch_size=100, max_epochs=20, random_state=0, device="cpu")
    members = _fold_members(base, X * 16, y, [{"lr": 1e-3}, {"lr": 1e6}], n_folds=2)
    _fit_fused(members)
    assert [member.error is None for member in members] == [True, True, False, False]
    # The message its own fit would raise.
    with pytest.raises(NonFiniteLossError) as alone:
        clone(members[2].estimator).fit(members[2].X, members[2].y)
    # The same message, but for inf against nan: the penalty's sum of
    # squares overflows in a different order of float32 sums.
    same = re.compile(r"became (nan|inf)")
    assert same.sub("became X", str(members[2].error)) == same.sub("became X", str(alone.value))
    assert not hasattr(members[2].estimator, "net_")


@pytest.mark.parametrize(
    "estimator, reason",
    [
        (LinearSVC(), "LinearSVC is not an skbatch estimator"),
        (MLPClassifier(batch_size="max"), "batch_size='max'"),
        (MLPClassifier(batch_size_milestones=[2]), "batch_size_milestones"),
        (MLPClassifier(solver="lbfgs"), "solver='lbfgs'"),
    ],
)
def test_unstackable_reasons(estimator, reason):
    assert reason in unstackable_reason(estimator)
    assert unstackable_reason(MLPClassifier()) is None


def test_a_member_that_cannot_be_prepared_keeps_its_error(small_digits):
    X, y = small_digits
    members = [
        FusedMember(MLPClassifier(max_epochs=1, lr=-1.0, device="cpu"), X, y),
        FusedMember(MLPClassifier(max_epochs=1, device="cpu"), X, np.zeros(len(y))),
        FusedMember(MLPClassifier(max_epochs=1, device="cpu"), X, y),
    ]
    stacks = _fit_fused(members)
    assert "'lr' parameter of MLPClassifier" in str(members[0].error)
    assert "only one class" in str(members[1].error)
    assert members[2].error is None and [stack["n_models"] for stack in stacks] == [1]


class TwoLayerNet(nn.Module):
    """A custom module with dropout, for TorchClassifier."""

    def __init__(self, n_features_in, n_classes, hidden=12, dropout=0.0):
        super().__init__()
        self.hidden = nn.Linear(n_features_in, hidden)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, X):
        return self.out(self.dropout(torch.tanh(self.hidden(X))))


class DataDependentNet(nn.Module):
    """Branches on a value of the data: vmap cannot run it."""

    def __init__(self, n_features_in, n_classes):
        super().__init__()
        self.linear = nn.Linear(n_features_in, n_classes)

    def forward(self, X):
        if X.sum() > 0:
            return self.linear(X)
        return -self.linear(X)


def test_a_convnet_stacks_through_torch_func_and_ends_where_its_own_fit_does(small_digits):
    X, y = small_digits
    base = ConvNetClassifier(
        image_shape=(8, 8), channels=(4,), dense_layer_sizes=(8,), max_epochs=2, batch_size=50, random_state=0, device="cpu"
    )
    members = _fold_members(base, X, y, [{"lr": 1e-3}, {"lr": 3e-3, "alpha": 1e-3}])
    assert [stack["n_models"] for stack in _fit_fused(members)] == [6]
    for member in members:
        assert member.error is None
        _assert_matches_own_fit(member)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_a_custom_module_stacks_and_ends_where_its_own_fit_does(small_digits, solver):
    X, y = small_digits
    base = TorchClassifier(module=TwoLayerNet, max_epochs=3, batch_size=40, solver=solver, lr=1e-2, random_state=0, device="cpu")
    members = _fold_members(base, X, y, [{}, {"random_state": 1}])
    _fit_fused(members)
    for member in members:
        _assert_matches_own_fit(member)


def test_a_custom_modules_dropout_is_shared_by_its_stack(small_digits):
    X, y = small_digits
    base = TorchClassifier(module=TwoLayerNet, max_epochs=2, random_state=0, device="cpu")
    variants = [{"module_kwargs": {"dropout": 0.0}}, {"module_kwargs": {"dropout": 0.5}}]
    members = _fold_members(base, X, y, variants)
    # The rate is part of the module, so each rate is its own stack.
    assert sorted(stack["n_models"] for stack in _fit_fused(members)) == [3, 3]
    assert all(member.error is None for member in members)


@pytest.mark.parametrize(
    "module, reason",
    [
        (BatchNormNet, "its module BatchNormNet has buffers"),
        (DataDependentNet, "its module DataDependentNet cannot run stacked under torch.func.vmap"),
    ],
)
def test_modules_that_cannot_be_stacked_are_left_unfitted_with_the_reason(small_digits, module, reason):
    X, y = small_digits
    members = _fold_members(TorchClassifier(module=module, max_epochs=1, random_state=0, device="cpu"), X, y, [{}])
    assert _fit_fused(members) == []
    for member in members:
        assert isinstance(member.error, UnstackableError)
        assert reason in str(member.error)
        assert not hasattr(member.estimator, "net_")


@pytest.mark.gpu
def test_fused_on_cuda_matches_its_own_fit(small_digits):
    X, y = small_digits
    base = MLPClassifier(hidden_layer_sizes=(16,), max_epochs=3, batch_size=40, random_state=0, device="cuda")
    members = _fold_members(base, X, y, [{}, {"lr": 3e-3}])
    with place_fit("cuda") as placement:
        train_fused(members, placement)
    for member in members:
        assert member.estimator.device_.type == "cuda"
        assert member.estimator.peak_memory_ > 0
        _assert_matches_own_fit(member, atol=1e-3)
