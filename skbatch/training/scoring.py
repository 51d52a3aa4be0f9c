"""The held-out score early stopping watches, weighted by ``sample_weight`` as scikit-learn's is.

skorch's ``EpochScoring`` compares predicted labels with plain targets; it
has no sample weights and no indicator targets. This callback scores the
module's raw outputs of the validation batches itself, once per epoch.
"""

import numpy as np
import torch
from sklearn.metrics import r2_score
from skorch.callbacks import Callback

from .losses import split_weights

__all__ = ["ValidationScore", "accuracy", "r2"]


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


def r2(link=None):
    """Weighted R² of ``link(output)``, scikit-learn's ``r2_score``."""

    def score(output, y, weight):
        y_pred = output if link is None else link(output)
        return r2_score(
            y.cpu().numpy(), y_pred.cpu().numpy(), sample_weight=None if weight is None else weight.cpu().numpy()
        )

    return score


class ValidationScore(Callback):
    """Record ``score(outputs, y, sample_weight)`` of the validation batches under ``name`` each epoch.

    Parameters
    ----------
    name : str
        The history key, e.g. ``'valid_acc'``.
    score : callable
        ``score(output, y, weight)`` on the concatenated module outputs,
        targets and weights (None when unweighted); higher is better.
    """

    def __init__(self, name, score):
        self.name = name
        self.score = score

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
        score = self.score(torch.cat(self.outputs_), torch.cat(self.targets_), weight)
        net.history.record(self.name, float(np.asarray(score)))
        self._clear()
