"""The callbacks of one fit: the stopping rule and the learning-rate schedules shared with the fused path."""

import functools
import warnings

from sklearn.exceptions import ConvergenceWarning
from skorch.callbacks import EarlyStopping, LRScheduler

from ..devices.pool import ThreadShareRebalance
from .faults import StopOnNonFiniteLoss
from .noise_tracking import NoiseScaleTracker

__all__ = ["ConvergenceReached", "training_callbacks", "warn_not_converged"]


class ConvergenceReached(Exception):
    """Raised by the stopping rule; kept apart from KeyboardInterrupt so Ctrl-C still stops a search."""


class _StopOnPlateau(EarlyStopping):
    """skorch's EarlyStopping, made safe for Ctrl-C and for calls without validation data.

    skorch's EarlyStopping signals a stop with KeyboardInterrupt, which skorch
    then swallows, so a user's Ctrl-C would end training silently and the
    half-trained model would be scored as if it had converged. An epoch that
    lacks the monitored score (``partial_fit`` holds out no validation data)
    is not judged.
    """

    def on_epoch_end(self, net, **kwargs):
        if self.monitor not in net.history[-1]:
            return
        try:
            super().on_epoch_end(net, **kwargs)
        except KeyboardInterrupt:
            raise ConvergenceReached from None


def _invscaling_factor(epoch, power_t):
    # Module level, not a lambda, so that a fitted estimator pickles.
    return 1.0 / (epoch + 1) ** power_t


def training_callbacks(estimator):
    """The skorch callbacks of one fit: thread share, scoring, non-finite loss, stopping rule, lr schedule."""
    # Scoring callbacks come first: the stopping rule reads their score
    # from the same epoch.
    callbacks = [("thread_share", ThreadShareRebalance())]
    # Before the scoring (a diverged net's validation predictions are NaN,
    # which scikit-learn's metrics refuse with a bare ValueError) and the
    # stopping rule (which would read a NaN loss as a plateau).
    callbacks.append(("nonfinite_loss", StopOnNonFiniteLoss(type(estimator).__name__)))
    if estimator.early_stopping:
        callbacks += estimator._scoring_callbacks()
    callbacks.append(
        (
            "stopping",
            _StopOnPlateau(
                monitor=estimator._validation_score if estimator.early_stopping else "train_loss",
                lower_is_better=not estimator.early_stopping,
                patience=estimator.n_iter_no_change,
                threshold=estimator.tol,
                threshold_mode="abs",
                load_best=estimator.early_stopping,
                sink=print if estimator.verbose else _silent,
            ),
        )
    )
    if estimator.learning_rate == "invscaling":
        factor = functools.partial(_invscaling_factor, power_t=estimator.power_t)
        callbacks.append(("lr_schedule", LRScheduler(policy="LambdaLR", lr_lambda=factor)))
    elif estimator.learning_rate == "adaptive":
        # scikit-learn's rule: divide by 5 after two epochs without a gain of tol.
        callbacks.append(
            (
                "lr_schedule",
                LRScheduler(
                    policy="ReduceLROnPlateau",
                    monitor="train_loss",
                    factor=0.2,
                    patience=1,
                    threshold=estimator.tol,
                    threshold_mode="abs",
                ),
            )
        )
    if estimator._tracks_noise_scale():
        callbacks.append(("noise_scale", NoiseScaleTracker()))
    return callbacks


def _silent(*args, **kwargs):
    pass


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
