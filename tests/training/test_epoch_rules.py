"""The stopping rule and learning_rate schedules are scikit-learn's, checked against scikit-learn's own code.

scikit-learn's rules live in private code (``_update_no_improvement_count``
and the optimizers' ``iteration_ends`` / ``trigger_stopping``); the oracle
below drives that code itself with a given loss curve, so a change in
either library's rules fails here.
"""

import itertools

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer
from skorch.callbacks import Callback

from skbatch import MLPClassifier
from skbatch.training.epoch_rules import EpochRules


def sklearn_rules(scores, *, rows, lr, early_stopping=False, **params):
    """``(stop, lr)`` after each epoch of ``scores`` (losses, or validation scores), from scikit-learn's own code.

    The body of ``BaseMultilayerPerceptron._fit_stochastic``'s epoch loop,
    after the batches: the same calls in the same order.
    """
    mlp = SkMLPClassifier(learning_rate_init=lr, **params)
    mlp.loss_curve_, mlp._no_improvement_count, mlp.best_loss_ = [], 0, np.inf
    mlp.validation_scores_, mlp.best_validation_score_ = [], -np.inf
    mlp.coefs_ = mlp.intercepts_ = []
    if mlp.solver == "sgd":
        optimizer = SGDOptimizer([], lr, mlp.learning_rate, power_t=mlp.power_t)
    else:
        optimizer = AdamOptimizer([], lr)
    given = iter(scores)
    mlp._score = lambda X, y, sample_weight=None: next(given)
    t, decisions = 0, []
    for score in scores:
        t += rows
        mlp.loss_curve_.append(score)
        mlp._update_no_improvement_count(early_stopping, None, None, None)
        optimizer.iteration_ends(t)
        stop = False
        if mlp._no_improvement_count > mlp.n_iter_no_change:
            stop = optimizer.trigger_stopping("", False)
            if not stop:
                mlp._no_improvement_count = 0
        decisions.append((stop, optimizer.learning_rate))
        if stop:
            break
    return decisions


def skbatch_rules(scores, *, rows, lr, early_stopping=False, **params):
    """The same, from skbatch's :class:`EpochRules`."""
    estimator = MLPClassifier(early_stopping=early_stopping, **params)
    estimator.lr_ = lr  # the base rate a fit sets
    rules, decisions = EpochRules(estimator), []
    for score in scores:
        end = rules.end_epoch(score, rows, lr)
        lr = end.lr
        decisions.append((end.stop, end.lr))
        if end.stop:
            break
    return decisions


def _curve(seed, n_epochs=400):
    """A loss curve that falls, then wanders on plateaus: every rule gets to fire."""
    rng = np.random.RandomState(seed)
    trend = 2.0 / (1 + 0.2 * np.arange(n_epochs))
    steps = np.cumsum(rng.normal(scale=0.01, size=n_epochs))
    return list(trend + steps - steps.min() + rng.uniform(0, 0.05, size=n_epochs))


CASES = list(
    itertools.product(
        ["sgd", "adam"],
        ["constant", "invscaling", "adaptive"],
        [1e-4, 0.02],  # tol
        [1, 3, 10, np.inf],  # n_iter_no_change
    )
)


@pytest.mark.parametrize("early_stopping", [False, True], ids=["loss", "validation"])
@pytest.mark.parametrize("solver, learning_rate, tol, n_iter_no_change", CASES)
def test_rules_decide_as_scikit_learns(solver, learning_rate, tol, n_iter_no_change, early_stopping):
    params = dict(solver=solver, learning_rate=learning_rate, tol=tol, n_iter_no_change=n_iter_no_change, power_t=0.4)
    for seed in range(3):
        curve = _curve(seed)
        scores = [1 - loss for loss in curve] if early_stopping else curve  # a score rises
        expected = sklearn_rules(scores, rows=37, lr=0.1, early_stopping=early_stopping, **params)
        got = skbatch_rules(scores, rows=37, lr=0.1, early_stopping=early_stopping, **params)
        assert [stop for stop, _ in got] == [stop for stop, _ in expected]
        assert [lr for _, lr in got] == pytest.approx([lr for _, lr in expected], rel=1e-12)


def test_the_oracle_sees_every_rule_fire():
    # Guards the cases above from passing vacuously: on these curves,
    # 'adaptive' cuts the rate several times and stops at its floor.
    decisions = sklearn_rules(_curve(0), rows=37, lr=0.1, solver="sgd", learning_rate="adaptive", tol=0.02, n_iter_no_change=3)
    rates = [lr for _, lr in decisions]
    assert decisions[-1][0] and rates[-1] <= 1e-6
    assert len(set(rates)) > 5


def _oracle_for_fit(estimator, scores):
    params = {name: getattr(estimator, name) for name in ("solver", "learning_rate", "tol", "n_iter_no_change", "power_t")}
    rows = estimator.t_ // len(estimator.loss_curve_)
    return sklearn_rules(scores, rows=rows, lr=estimator.lr_, early_stopping=estimator.early_stopping, **params)


@pytest.mark.parametrize(
    "params",
    [
        {"solver": "sgd", "learning_rate": "adaptive", "lr": 0.5, "tol": 0.02, "n_iter_no_change": 2},
        {"solver": "sgd", "learning_rate": "invscaling", "lr": 0.5, "power_t": 0.3, "tol": 1e-3, "n_iter_no_change": 3},
        {"solver": "adam", "learning_rate": "adaptive", "lr": 0.01, "tol": 1e-3, "n_iter_no_change": 2},
        {"solver": "sgd", "learning_rate": "adaptive", "lr": 0.5, "tol": 0.01, "n_iter_no_change": 2, "early_stopping": True},
    ],
    ids=["sgd adaptive", "sgd invscaling", "adam ignores learning_rate", "sgd adaptive on validation"],
)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_fit_stops_and_schedules_as_scikit_learn_would_on_its_curve(digits, params):
    X, y = digits
    clf = MLPClassifier(hidden_layer_sizes=(16,), batch_size=64, max_epochs=150, random_state=0, device="cpu", **params)
    clf.fit(X, y)
    scores = clf.validation_scores_ if clf.early_stopping else clf.loss_curve_
    expected = _oracle_for_fit(clf, scores)
    assert clf.n_iter_ == len(expected)
    final_lr = clf.net_.optimizer_.param_groups[0]["lr"]
    assert final_lr == pytest.approx(expected[-1][1], rel=1e-12)
    if clf.solver == "sgd":
        # The rate each epoch trained at: the base rate, then the rules' choices.
        used = [row["event_lr"] for row in clf.net_.history]
        assert used == pytest.approx([clf.lr_] + [lr for _, lr in expected[:-1]], rel=1e-12)
        assert len(set(used)) > 1  # the schedule did change the rate
    else:
        assert final_lr == clf.lr_ and "event_lr" not in clf.net_.history[-1]


class _WeightsPerEpoch(Callback):
    """Records the module's weights at each epoch's end."""

    def initialize(self):
        self.weights_ = []
        return self

    def on_epoch_end(self, net, **kwargs):
        self.weights_.append([p.detach().clone() for p in net.module_.parameters()])


def test_early_stopping_restores_the_weights_of_the_best_score(digits):
    # scikit-learn keeps the weights of the highest validation score, by any
    # margin (tol decides only when to stop), and the first of equal scores.
    X, y = digits
    clf = MLPClassifier(
        hidden_layer_sizes=(8,),
        early_stopping=True,
        tol=1e-3,
        n_iter_no_change=3,
        lr=0.003,
        max_epochs=100,
        random_state=0,
        device="cpu",
        callbacks=[("weights", _WeightsPerEpoch())],
    ).fit(X, y)
    weights = dict(clf.net_.callbacks_)["weights"].weights_
    scores = clf.validation_scores_
    best = int(np.argmax(scores))  # the first of the highest
    assert best < clf.n_iter_ - 1  # trained past the best, so the restore matters
    assert scores.count(scores[best]) > 1  # a later epoch tied it, and did not replace it
    for ours, kept in zip(clf.net_.module_.parameters(), weights[best]):
        torch.testing.assert_close(ours, kept, rtol=0, atol=0)


def test_the_rule_carries_over_warm_starts_and_partial_fit(digits):
    # scikit-learn keeps the count, the best loss and t_ across warm starts
    # and partial_fit calls: a second fit judges its first epoch against the
    # first fit's best loss.
    X, y = digits
    params = dict(hidden_layer_sizes=(8,), solver="sgd", learning_rate="invscaling", lr=0.2, power_t=0.5, random_state=0, device="cpu")
    clf = MLPClassifier(max_epochs=3, warm_start=True, **params)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
        clf.fit(X, y)
    clf.partial_fit(X, y)
    assert clf.t_ == 7 * len(X)
    # The rate after 7 epochs is invscaling's for 7 epochs of samples, as one fit of 7 epochs would leave it.
    assert clf.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(0.2 / (7 * len(X) + 1) ** 0.5, rel=1e-12)
    rules = dict(clf.net_.callbacks_)["stopping"].rules_
    fresh = EpochRules(clf)
    lr, _ = fresh.replay(clf.net_.history, clf.lr_)
    assert (rules.epochs, rules.samples_seen, rules.best, rules.no_improvement_count) == (
        fresh.epochs,
        fresh.samples_seen,
        fresh.best,
        fresh.no_improvement_count,
    )


def test_a_fit_restored_from_the_cache_continues_under_the_same_rules(small_digits, tmp_path):
    # The cache stores the history, not the rules' state: a restored fit
    # rebuilds it from the history, so partial_fit goes on as the original would.
    X, y = small_digits
    params = dict(
        hidden_layer_sizes=(8,),
        solver="sgd",
        learning_rate="adaptive",
        lr=0.5,
        tol=0.05,
        n_iter_no_change=1,
        max_epochs=6,
        random_state=0,
        device="cpu",
        cache_dir=tmp_path,
    )
    original = MLPClassifier(**params)
    with pytest.warns(ConvergenceWarning):
        original.fit(X, y)
    restored = MLPClassifier(**params).fit(X, y)  # from the cache: no training, so no warning
    assert not dict(restored.net_.callbacks_)["stopping"].rules_.epochs  # nothing judged yet
    for clf in (original, restored):
        for _ in range(4):
            clf.partial_fit(X, y)
    rules = [dict(clf.net_.callbacks_)["stopping"].rules_ for clf in (original, restored)]
    assert vars(rules[0]) == vars(rules[1])
    assert [row["event_lr"] for row in restored.net_.history] == [row["event_lr"] for row in original.net_.history]
    assert len(set(row["event_lr"] for row in original.net_.history[-4:])) > 1  # the rule cut the rate in the partial fits
    for ours, theirs in zip(restored.net_.module_.parameters(), original.net_.module_.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
