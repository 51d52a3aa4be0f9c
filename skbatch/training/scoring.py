"""The held-out score early stopping watches, weighted by ``sample_weight`` as scikit-learn's is.

skorch's ``EpochScoring`` compares predicted labels with plain targets; it
has no sample weights and no indicator targets. This callback scores the
module's raw outputs of the validation batches itself, once per epoch.
"""

import numpy as np
import torch
from sklearn.metrics import r2_score
from skorch.callbacks import Callback

from ..batching.plan import running_batch_size
from .faults import non_finite_loss_error
from .losses import split_weights

__all__ = ["R2", "ValidationScore", "accuracy"]


def accuracy(output, y, weight):
    """Weighted accuracy; for an indicator ``y``, subset accuracy (every label right)."""
    if y.ndim == 2:
        correct = ((output > 0) == (y > 0.5)).all(dim=1)
    else:
        correct = output.argmax(dim=1) == y
    correct = correct.to(torch.float64)
    if weight is None:
        return correct.mean().item()
    weight = weight.to(torch.float64)
    return ((correct * weight).sum() / weight.sum()).item()


class R2:
    """Weighted R² of the predictions, scikit-learn's ``r2_score``; ``exp_link`` for a log-link output.

    A class, not a closure, so that a fitted estimator pickles.
    """

    def __init__(self, exp_link=False):
        self.exp_link = exp_link

    def __call__(self, output, y, weight):
        y_pred = torch.exp(output) if self.exp_link else output
        return r2_score(y.cpu().numpy(), y_pred.cpu().numpy(), sample_weight=None if weight is None else weight.cpu().numpy())


class ValidationScore(Callback):
    """Record ``score(outputs, y, sample_weight)`` of the validation batches under ``name`` each epoch.

    Parameters
    ----------
    name : str
        The history key, e.g. ``'valid_acc'``.
    score : callable
        ``score(output, y, weight)`` on the concatenated module outputs,
        targets and weights (None when unweighted); higher is better.
    owner : str, default='the estimator'
        The estimator's name, for the error a diverged net raises.
    """

    def __init__(self, name, score, owner="the estimator"):
        self.name = name
        self.score = score
        self.owner = owner

    def initialize(self):
        self._clear()
        return self

    def _clear(self):
        self.outputs_, self.targets_, self.weights_ = [], [], []

    def on_epoch_begin(self, net, **kwargs):
        self._clear()

    def on_batch_end(self, net, batch=None, training=None, y_pred=None, **kwargs):
        if training:
            return
        y, weight = split_weights(batch[1])
        self.outputs_.append(y_pred.detach())
        self.targets_.append(y)
        self.weights_.append(weight)

    def on_epoch_end(self, net, **kwargs):
        if not self.outputs_:
            return
        weight = None if self.weights_[0] is None else torch.cat(self.weights_)
        outputs = torch.cat(self.outputs_)
        if not torch.isfinite(outputs).all():
            # The epoch's training loss can still be finite when its last steps
            # overflowed the weights; the scorer would fail on "Input contains NaN".
            self._clear()
            raise non_finite_loss_error(self.owner, float("nan"), len(net.history), net.lr, running_batch_size(net))
        score = self.score(outputs, torch.cat(self.targets_), weight)
        net.history.record(self.name, float(np.asarray(score)))
        self._clear()
