"""The callbacks of one fit: the stopping rule and the learning-rate schedules, scikit-learn's (``epoch_rules.py``)."""

import math
import warnings

from sklearn.exceptions import ConvergenceWarning
from skorch.callbacks import Callback

from ..devices.pool import ThreadShareRebalance
from .epoch_rules import EpochRules, epoch_rows
from .faults import StopOnNonFiniteLoss
from .noise_tracking import NoiseScaleTracker

__all__ = ["ConvergenceReached", "EpochRulesCallback", "set_lr", "training_callbacks", "warn_not_converged"]


class ConvergenceReached(Exception):
    """Raised by the stopping rule; kept apart from KeyboardInterrupt so Ctrl-C still stops a search."""


class EpochRulesCallback(Callback):
    """skorch callback: scikit-learn's stopping rule and ``learning_rate`` schedules (:class:`EpochRules`).

    Signals a stop with :class:`ConvergenceReached`, not skorch's
    KeyboardInterrupt, which skorch swallows: a user's Ctrl-C would end
    training silently and the half-trained model be scored as converged.

    The rules' state (the no-improvement count, the best loss, the samples
    seen) carries over a warm start and ``partial_fit``, as scikit-learn's
    does; a net restored from the fit cache rebuilds it from its history.
    With ``early_stopping``, the weights of the best validation score are
    kept and loaded back at the end of the call.

    Parameters
    ----------
    estimator : BaseTorchEstimator
        Whose settings the rules follow; :meth:`configure` reads them again
        before each call.
    """

    def __init__(self, estimator):
        self.rules_ = EpochRules(estimator)
        self.configure(estimator)
        self.judged = self.monitor  # what the rules' state was judged on

    def configure(self, estimator):
        """Follow the settings ``estimator`` has now."""
        self.rules_.configure(estimator)
        self.monitor = estimator._validation_score if estimator.early_stopping else "train_loss"
        self.verbose = estimator.verbose
        return self

    def get_params(self, deep=True):
        # skorch reads a callback's params from its __init__ signature; this
        # one's settings come from the estimator, through configure.
        return {}

    def initialize(self):
        self.best_model_weights_ = None
        return self

    def on_train_begin(self, net, **kwargs):
        self.best_model_weights_ = None
        rules = self.rules_
        # A net restored from the fit cache, or a warm start that turned
        # early_stopping on or off: the state follows from the history.
        if rules.epochs != len(net.history) or self.judged != self.monitor:
            lr, _ = rules.replay(net.history, rules.base_lr, self.monitor)
            self.judged = self.monitor
            if rules.scheduled:
                set_lr(net, lr)
        if rules.higher_is_better and math.isfinite(rules.best):
            # A warm start begins from the weights of the best score so far,
            # which the last call loaded back: they stay the best until beaten.
            self.best_model_weights_ = _copy_weights(net)

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        lr = net.optimizer_.param_groups[0]["lr"]
        if self.rules_.scheduled:
            net.history.record("event_lr", lr)  # the rate this epoch trained at
        end = self.rules_.end_epoch(row.get(self.monitor), epoch_rows(row), lr)
        if end.best and self.rules_.higher_is_better:
            self.best_model_weights_ = _copy_weights(net)
        if end.lr != lr:
            set_lr(net, end.lr)
        if end.message and self.verbose:
            print(end.message)
        if end.stop:
            raise ConvergenceReached

    def on_train_end(self, net, **kwargs):
        if self.best_model_weights_ is not None:
            net.module_.load_state_dict(self.best_model_weights_)


def _copy_weights(net):
    return {name: value.detach().clone() for name, value in net.module_.state_dict().items()}


def set_lr(net, lr):
    """Set the learning rate of every param group of ``net``'s optimizer."""
    for group in net.optimizer_.param_groups:
        group["lr"] = lr


def training_callbacks(estimator):
    """The skorch callbacks of one fit: thread share, non-finite loss, scoring, the stopping rule and lr schedule."""
    # Scoring callbacks come first: the stopping rule reads their score
    # from the same epoch.
    callbacks = [("thread_share", ThreadShareRebalance())]
    # Before the scoring (a diverged net's validation predictions are NaN,
    # which scikit-learn's metrics refuse with a bare ValueError) and the
    # stopping rule (which would read a NaN loss as a plateau).
    callbacks.append(("nonfinite_loss", StopOnNonFiniteLoss(type(estimator).__name__)))
    if estimator.early_stopping:
        callbacks += estimator._scoring_callbacks()
    callbacks.append(("stopping", EpochRulesCallback(estimator)))
    if estimator._tracks_noise_scale():
        callbacks.append(("noise_scale", NoiseScaleTracker()))
    return callbacks


def warn_not_converged(estimator, epochs):
    """scikit-learn's ConvergenceWarning for a fit that ran all ``epochs`` without meeting the stopping rule."""
    warnings.warn(
        f"{type(estimator).__name__}: Maximum iterations ({epochs}) reached and the "
        "optimization hasn't converged yet (max_epochs, or max_iter in scikit-learn's "
        "name): the stopping rule "
        f"(tol={estimator.tol}, n_iter_no_change={estimator.n_iter_no_change}) was not met. "
        "Raise max_epochs, or raise tol.",
        ConvergenceWarning,
        stacklevel=2,
    )
