import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import log_loss
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from torch import nn

from skbatch import MLPClassifier, TorchClassifier, parse_hidden_layer_sizes
from skbatch.training.modules import GeneratorDropout
from skbatch.training.penalty import module_penalty


def _linear_widths(clf):
    return [(m.in_features, m.out_features) for m in clf.net_.module_.modules() if isinstance(m, nn.Linear)]


@pytest.mark.parametrize("spec", [(128, 64), [128, 64], "128-64", np.array([128, 64])])
def test_hidden_layer_sizes_forms_build_the_same_network(small_digits, spec):
    clf = MLPClassifier(hidden_layer_sizes=spec, max_epochs=1).fit(*small_digits)
    assert _linear_widths(clf) == [(64, 128), (128, 64), (64, 10)]


def test_hidden_layer_sizes_int_is_one_layer():
    assert parse_hidden_layer_sizes(50) == (50,)
    assert parse_hidden_layer_sizes("50") == (50,)


def test_input_width_and_classes_come_from_the_data(small_digits):
    X, y = small_digits
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_epochs=1).fit(X[:, :20], y % 4)
    assert _linear_widths(clf) == [(20, 16), (16, 4)]
    assert clf.n_features_in_ == 20


@pytest.mark.parametrize(
    "activation, layer", [("relu", nn.ReLU), ("tanh", nn.Tanh), ("logistic", nn.Sigmoid), ("identity", nn.Identity), ("gelu", nn.GELU)]
)
def test_activations(small_digits, activation, layer):
    clf = MLPClassifier(hidden_layer_sizes=(8, 8), activation=activation, max_epochs=1).fit(*small_digits)
    assert sum(isinstance(m, layer) for m in clf.net_.module_.modules()) == 2


def test_dropout_layers_follow_each_hidden_layer(small_digits):
    clf = MLPClassifier(hidden_layer_sizes=(8, 8), dropout=0.3, max_epochs=1).fit(*small_digits)
    rates = [m.p for m in clf.net_.module_.modules() if isinstance(m, GeneratorDropout)]
    assert rates == [0.3, 0.3]


def test_learns_digits(digits):
    from sklearn.model_selection import train_test_split

    X_train, X_test, y_train, y_test = train_test_split(*digits, stratify=digits[1], random_state=0)
    clf = MLPClassifier(batch_size=32, max_epochs=20, random_state=0, device="cpu").fit(X_train, y_train)
    assert clf.score(X_test, y_test) > 0.95
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert clf.n_iter_ == len(clf.loss_curve_) and clf.loss_ == clf.loss_curve_[-1]


@pytest.mark.parametrize(
    "solver, optimizer, settings",
    [
        ("sgd", torch.optim.SGD, {"momentum": 0.8, "nesterov": True}),
        ("adam", torch.optim.Adam, {"betas": (0.8, 0.99), "eps": 1e-6}),
        ("adamw", torch.optim.AdamW, {"betas": (0.8, 0.99), "eps": 1e-6}),
    ],
)
def test_solver_settings_reach_the_optimizer(small_digits, solver, optimizer, settings):
    clf = MLPClassifier(
        solver=solver, momentum=0.8, beta_1=0.8, beta_2=0.99, epsilon=1e-6, lr=0.05, max_epochs=1, hidden_layer_sizes=(8,)
    ).fit(*small_digits)
    assert type(clf.net_.optimizer_) is optimizer
    group = clf.net_.optimizer_.param_groups[0]
    assert group["lr"] == 0.05
    for key, value in settings.items():
        assert group[key] == value


def test_sgd_without_momentum_turns_nesterov_off(small_digits):
    clf = MLPClassifier(solver="sgd", momentum=0.0, max_epochs=1, hidden_layer_sizes=(8,)).fit(*small_digits)
    assert clf.net_.optimizer_.param_groups[0]["nesterov"] is False


def test_alpha_penalises_weights_not_biases(small_digits):
    # scikit-learn's penalty is in the loss, so the optimizer decays nothing.
    clf = MLPClassifier(alpha=0.01, max_epochs=1, hidden_layer_sizes=(8,)).fit(*small_digits)
    assert all(group["weight_decay"] == 0.0 for group in clf.net_.optimizer_.param_groups)
    module = clf.net_.module_
    expected = 0.5 * 0.01 * sum(float(layer.weight.square().sum()) for layer in module.layers[::2]) / 10
    assert float(module_penalty(module, 0.01, 10)) == pytest.approx(expected, rel=1e-5)
    with torch.no_grad():
        module.layers[0].bias.fill_(100.0)
    assert float(module_penalty(module, 0.01, 10)) == pytest.approx(expected, rel=1e-5)


def test_adamw_keeps_decoupled_decay_on_weights_only(small_digits):
    clf = MLPClassifier(solver="adamw", alpha=0.01, max_epochs=1, hidden_layer_sizes=(8,)).fit(*small_digits)
    groups = clf.net_.optimizer_.param_groups
    names = {id(p): n for n, p in clf.net_.module_.named_parameters()}
    decay = {names[id(p)]: g["weight_decay"] for g in groups for p in g["params"]}
    assert decay == {"layers.0.weight": 0.01, "layers.2.weight": 0.01, "layers.0.bias": 0.0, "layers.2.bias": 0.0}
    assert clf.net_.penalty_alpha == 0.0


def test_without_alpha_there_is_one_param_group(small_digits):
    clf = MLPClassifier(alpha=0.0, max_epochs=1, hidden_layer_sizes=(8,)).fit(*small_digits)
    assert len(clf.net_.optimizer_.param_groups) == 1


def test_invscaling_schedule(small_digits):
    # scikit-learn's rule: after each epoch, lr / (t + 1) ** power_t, t the samples seen.
    X, y = small_digits
    clf = MLPClassifier(learning_rate="invscaling", solver="sgd", power_t=0.5, lr=0.1, max_epochs=4, tol=0, hidden_layer_sizes=(8,))
    clf.fit(X, y)
    used = [row["event_lr"] for row in clf.net_.history]
    assert used == pytest.approx([0.1] + [0.1 / (len(X) * epochs + 1) ** 0.5 for epochs in range(1, 4)])


def test_adaptive_schedule_divides_by_five_on_a_plateau(small_digits):
    # A rate this high makes the loss stall at once, so the rule must fire.
    clf = MLPClassifier(learning_rate="adaptive", solver="sgd", lr=50.0, max_epochs=8, tol=0.5, n_iter_no_change=1)
    clf.fit(*small_digits)
    used = [row["event_lr"] for row in clf.net_.history]
    assert used[-1] < 50.0
    assert set(used) <= {50.0 / 5**k for k in range(8)}


@pytest.mark.parametrize("learning_rate", ["invscaling", "adaptive"])
def test_schedules_leave_adam_alone(small_digits, learning_rate):
    # scikit-learn's Adam ignores learning_rate; skbatch's does too.
    clf = MLPClassifier(learning_rate=learning_rate, lr=0.01, max_epochs=6, tol=0.5, n_iter_no_change=1, hidden_layer_sizes=(8,))
    clf.fit(*small_digits)
    assert clf.net_.optimizer_.param_groups[0]["lr"] == 0.01
    assert "event_lr" not in clf.net_.history[-1]


def test_constant_schedule_keeps_the_rate(small_digits):
    clf = MLPClassifier(lr=0.01, max_epochs=3, hidden_layer_sizes=(8,)).fit(*small_digits)
    assert clf.net_.optimizer_.param_groups[0]["lr"] == 0.01


def test_training_loss_plateau_stops_training(small_digits):
    # Any change smaller than tol counts as no improvement: the first epoch
    # sets the reference, and scikit-learn stops once more than
    # n_iter_no_change epochs in a row miss.
    clf = MLPClassifier(tol=1e6, n_iter_no_change=2, max_epochs=50, hidden_layer_sizes=(8,)).fit(*small_digits)
    assert clf.n_iter_ == 4
    sk = SkMLPClassifier(tol=1e6, n_iter_no_change=2, max_iter=50, hidden_layer_sizes=(8,)).fit(*small_digits)
    assert clf.n_iter_ == sk.n_iter_


def test_early_stopping_uses_held_out_accuracy_and_restores_best(digits):
    X, y = digits
    clf = MLPClassifier(
        early_stopping=True, validation_fraction=0.2, n_iter_no_change=3, tol=0.0, max_epochs=200, lr=0.01, random_state=0
    ).fit(X, y)
    assert clf.n_iter_ < 200
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    best_epoch = int(np.argmax(clf.validation_scores_))
    assert clf.n_iter_ - 1 - best_epoch >= 3 - 1  # stopped after the patience ran out
    assert 0.9 < clf.best_validation_score_ <= 1.0


def test_validation_scores_are_none_without_early_stopping(small_digits):
    clf = MLPClassifier(max_epochs=2, hidden_layer_sizes=(8,)).fit(*small_digits)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None


def test_same_random_state_same_model(small_digits):
    X, y = small_digits
    a = MLPClassifier(max_epochs=3, dropout=0.2, random_state=7).fit(X, y).predict_proba(X)
    b = MLPClassifier(max_epochs=3, dropout=0.2, random_state=7).fit(X, y).predict_proba(X)
    c = MLPClassifier(max_epochs=3, dropout=0.2, random_state=8).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_fit_leaves_the_global_torch_random_state_alone(small_digits):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    MLPClassifier(max_epochs=1, random_state=0).fit(*small_digits)
    assert torch.equal(before, torch.get_rng_state())


def test_warm_start_continues_training(small_digits):
    X, y = small_digits
    clf = MLPClassifier(warm_start=True, max_epochs=3, tol=0, random_state=0, hidden_layer_sizes=(16,))
    clf.fit(X, y)
    weights = clf.net_.module_.layers[0].weight.detach().clone()
    module, optimizer = clf.net_.module_, clf.net_.optimizer_
    clf.fit(X, y)
    assert len(clf.loss_curve_) == 6 and clf.n_iter_ == 3  # n_iter_ counts the last fit, as in scikit-learn
    assert clf.net_.module_ is module and clf.net_.optimizer_ is optimizer
    assert not torch.equal(weights, clf.net_.module_.layers[0].weight)


def test_without_warm_start_fit_starts_over(small_digits):
    X, y = small_digits
    clf = MLPClassifier(max_epochs=3, tol=0, random_state=0, hidden_layer_sizes=(16,))
    first = clf.fit(X, y).predict_proba(X)
    second = clf.fit(X, y).predict_proba(X)
    assert clf.n_iter_ == 3
    np.testing.assert_array_equal(first, second)


def test_partial_fit_trains_one_epoch_per_call(small_digits):
    X, y = small_digits
    clf = MLPClassifier(hidden_layer_sizes=(16,), random_state=0)
    for call in range(1, 4):
        clf.partial_fit(X, y, classes=np.unique(y) if call == 1 else None)
        assert clf.n_iter_ == 1 and len(clf.loss_curve_) == call
    np.testing.assert_array_equal(clf.classes_, np.arange(10))
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


def test_partial_fit_accepts_batches_missing_some_classes(small_digits):
    X, y = small_digits
    clf = MLPClassifier(hidden_layer_sizes=(16,), random_state=0)
    clf.partial_fit(X[y < 5], y[y < 5], classes=np.arange(10))
    clf.partial_fit(X[y >= 5], y[y >= 5])
    assert clf.predict_proba(X).shape == (len(X), 10)


class _InterruptedModule(nn.Module):
    """Raises KeyboardInterrupt on its third training batch, as Ctrl-C would."""

    def __init__(self, n_features_in, n_classes):
        super().__init__()
        self.linear = nn.Linear(n_features_in, n_classes)
        self.calls = 0

    def forward(self, X):
        self.calls += 1
        if self.calls == 3:
            raise KeyboardInterrupt
        return self.linear(X)


def test_ctrl_c_is_not_mistaken_for_convergence(small_digits):
    # skorch's own fit swallows KeyboardInterrupt and returns a half-trained
    # net; a search must see the interruption instead.
    clf = TorchClassifier(module=_InterruptedModule, batch_size=50, max_epochs=5)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(*small_digits)


def test_verbose_prints_a_line_per_epoch(small_digits, capsys):
    MLPClassifier(max_epochs=3, tol=0, verbose=1, hidden_layer_sizes=(8,)).fit(*small_digits)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()[:1].isdigit()]
    assert len(lines) == 3


def test_silent_by_default(small_digits, capsys):
    MLPClassifier(max_epochs=3, hidden_layer_sizes=(8,)).fit(*small_digits)
    assert capsys.readouterr().out == ""


def test_probabilities_sum_to_one_in_float64(small_digits):
    X, y = small_digits
    proba = MLPClassifier(max_epochs=2, random_state=0).fit(X, y).predict_proba(X)
    assert proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # log_loss warns about rows that do not sum to 1
        log_loss(y, proba)


@pytest.mark.parametrize("solver", ["adam", "adamw", "sgd"])
def test_alpha_zero_means_no_weight_decay(small_digits, solver):
    # torch's AdamW decays by 0.01 unless told otherwise.
    clf = MLPClassifier(solver=solver, alpha=0.0, max_epochs=1, random_state=0).fit(*small_digits)
    assert [group["weight_decay"] for group in clf.net_.optimizer_.param_groups] == [0.0]
