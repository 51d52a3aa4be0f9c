"""scikit-learn's epoch-end rules for one fit: the no-improvement count, the stop and the ``learning_rate`` schedules.

One plain object, shared by a fit's skorch callback (``training/callbacks.py``)
and by each model of a fused stack (``fused/train.py``), so that both paths
stop, and change the rate, at the same epochs. The rules are those of
scikit-learn's ``BaseMultilayerPerceptron._fit_stochastic`` and its
``SGDOptimizer``, in their order:

1. An epoch is a miss when its training loss is above the best loss so far
   minus ``tol`` (with ``early_stopping``: its validation score is below the
   best score so far plus ``tol``); any other epoch resets the count. A
   loss below the best (a score above it), by any margin, is the new best.
2. ``'invscaling'`` sets the rate to ``lr_ / (t + 1) ** power_t``, ``t``
   the samples seen since the weights were initialised.
3. When the count exceeds ``n_iter_no_change``, training stops; with
   ``'adaptive'`` the rate is divided by 5 instead and the count reset,
   unless the rate is already at most 1e-6, which stops.

The schedules apply to ``solver='sgd'`` only, as in scikit-learn, whose
Adam ignores ``learning_rate``; the other solvers keep their rate.
"""

import math

__all__ = ["EpochEnd", "EpochRules", "epoch_rows"]

# scikit-learn's SGDOptimizer.trigger_stopping: 'adaptive' stops rather than
# divide a rate this small, and divides any larger one by 5.
SMALLEST_ADAPTIVE_LR = 1e-6
ADAPTIVE_DIVISOR = 5.0


class EpochEnd:
    """What the rules decided at an epoch's end.

    Attributes
    ----------
    stop : bool
        Training ends after this epoch.
    lr : float
        The rate of the next epoch.
    best : bool
        The epoch's loss (or validation score) is the best so far:
        ``early_stopping`` keeps these weights.
    message : str or None
        Why the rate changed or training stopped, in scikit-learn's words,
        for a verbose fit; None when neither happened.
    """

    __slots__ = ("stop", "lr", "best", "message")

    def __init__(self, stop, lr, best, message=None):
        self.stop, self.lr, self.best, self.message = stop, lr, best, message


class EpochRules:
    """The epoch-end rules of one fit, with their state (see the module docstring).

    Parameters
    ----------
    estimator : BaseTorchEstimator
        Read for ``tol``, ``n_iter_no_change``, ``learning_rate``,
        ``power_t``, ``solver``, ``early_stopping`` and the fit's base rate
        ``lr_``; :meth:`configure` reads them again for a later call.

    Attributes
    ----------
    epochs : int
        Epochs judged so far.
    samples_seen : int
        Training rows seen in those epochs: scikit-learn's ``t_``.
    best : float
        The best loss (or validation score) so far.
    no_improvement_count : int
        Misses in a row since the last improvement or ``'adaptive'`` cut.
    """

    def __init__(self, estimator):
        self.configure(estimator)
        self.reset()

    def reset(self):
        """Forget every epoch judged: the state of a fit that has not trained yet."""
        self.best = -math.inf if self.higher_is_better else math.inf
        self.no_improvement_count = 0
        self.samples_seen = 0
        self.epochs = 0
        return self

    def configure(self, estimator):
        """Read the settings of ``estimator`` (a warm start may have changed them); the state is kept."""
        self.tol = estimator.tol
        self.n_iter_no_change = estimator.n_iter_no_change
        self.power_t = estimator.power_t
        self.base_lr = estimator.lr_
        self.higher_is_better = bool(estimator.early_stopping)
        # scikit-learn's Adam has no schedule: learning_rate is read by its SGD only.
        self.schedule = estimator.learning_rate if estimator.solver == "sgd" else "constant"
        return self

    @property
    def scheduled(self):
        """Whether the rate can change between epochs."""
        return self.schedule != "constant"

    def is_better(self, score):
        """Whether ``score`` beats the best so far, by any margin."""
        return score > self.best if self.higher_is_better else score < self.best

    def end_epoch(self, score, rows, lr):
        """Judge an epoch whose loss (or validation score) is ``score``, over ``rows`` samples, at rate ``lr``.

        ``score`` None counts the rows but judges nothing (an epoch that
        held out no validation data). Returns an :class:`EpochEnd`.
        """
        self.epochs += 1
        self.samples_seen += rows
        best = False
        if score is not None:
            if self.higher_is_better:
                miss = score < self.best + self.tol
            else:
                miss = score > self.best - self.tol
            self.no_improvement_count = self.no_improvement_count + 1 if miss else 0
            best = self.is_better(score)
            if best:
                self.best = score
        if self.schedule == "invscaling":
            lr = self.base_lr / (self.samples_seen + 1) ** self.power_t
        if self.no_improvement_count <= self.n_iter_no_change:
            return EpochEnd(False, lr, best)
        what = "Validation score" if self.higher_is_better else "Training loss"
        message = f"{what} did not improve more than tol={self.tol:f} for {self.n_iter_no_change} consecutive epochs."
        if self.schedule != "adaptive":
            return EpochEnd(True, lr, best, message + " Stopping.")
        if lr <= SMALLEST_ADAPTIVE_LR:
            return EpochEnd(True, lr, best, message + " Learning rate too small. Stopping.")
        lr = lr / ADAPTIVE_DIVISOR
        self.no_improvement_count = 0
        return EpochEnd(False, lr, best, message + f" Setting learning rate to {lr:f}")

    def replay(self, history, lr, monitor="train_loss"):
        """Judge the epochs of ``history`` (a skorch History) afresh; return ``(lr, stopped)`` after them.

        The rules read nothing but the history, so this rebuilds the state a
        fit ended in: for a fit restored from the fit cache, or continued in
        a stack.
        """
        self.reset()
        stopped = False
        for row in history:
            end = self.end_epoch(row.get(monitor), epoch_rows(row), lr)
            lr, stopped = end.lr, end.stop
        return lr, stopped


def epoch_rows(row):
    """The training rows seen in the epoch of history row ``row``."""
    return sum(batch.get("train_batch_size", 0) for batch in row.get("batches", ()))
