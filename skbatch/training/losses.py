"""Losses scikit-learn's MLP has that torch lacks as such, and the weighted mean of any loss.

Each loss here sums over the outputs of a sample and averages over samples,
as scikit-learn's ``binary_log_loss`` and ``poisson_loss`` do; with
``reduction='none'`` it returns one value per sample, which is what
:func:`weighted_loss` needs.
"""

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["HalfPoissonDeviance", "MultilabelLogLoss", "per_sample_loss", "weighted_loss"]


class _PerSampleLoss(nn.Module):
    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, y_pred, y_true):
        per_sample = self.per_sample(y_pred, y_true.to(y_pred.dtype))
        return per_sample if self.reduction == "none" else per_sample.mean()


class MultilabelLogLoss(_PerSampleLoss):
    """Binary cross-entropy of each label from its logit, summed over labels.

    scikit-learn's MLPClassifier minimises this for an indicator ``y``
    (logistic outputs, ``binary_log_loss``).
    """

    def per_sample(self, logits, y_true):
        return F.binary_cross_entropy_with_logits(logits, y_true, reduction="none").sum(dim=1)


class HalfPoissonDeviance(_PerSampleLoss):
    """Half the Poisson deviance with a log link: the module outputs ``log(mean)``.

    ``exp(z) - y z + y log(y) - y``, summed over outputs: scikit-learn's
    ``poisson_loss`` for ``MLPRegressor(loss='poisson')``, whose output
    activation is ``exp``. The ``y log(y) - y`` term has no gradient; it makes
    a perfect fit score 0, as in scikit-learn.
    """

    def per_sample(self, log_mean, y_true):
        deviance = torch.exp(log_mean) - y_true * log_mean + torch.xlogy(y_true, y_true) - y_true
        return deviance.sum(dim=1)


def per_sample_loss(criterion, y_pred, y_true):
    """The loss of each sample under ``criterion``, averaged over its outputs where the criterion averages.

    Works for any criterion with torch's ``reduction`` attribute; a mean
    over samples of the result equals ``criterion(y_pred, y_true)``.
    """
    reduction = criterion.reduction
    criterion.reduction = "none"
    try:
        losses = criterion(y_pred, y_true)
    finally:
        criterion.reduction = reduction
    return losses.reshape(len(losses), -1).mean(dim=1)


def weighted_loss(criterion, y_pred, y_true, weight):
    """``sum(w_i * l_i) / sum(w_i)`` over a batch, as scikit-learn's MLP weighs its loss.

    A batch whose weights are all zero has loss 0 (and no gradient), where
    scikit-learn's ``np.average`` would divide by zero.
    """
    losses = per_sample_loss(criterion, y_pred, y_true)
    weight = weight.to(losses.dtype)
    return (losses * weight).sum() / weight.sum().clamp_min(torch.finfo(losses.dtype).tiny)


def split_weights(y):
    """``(targets, weights)`` from a batch's ``y``: a ``(y, sample_weight)`` pair when weighted, else ``(y, None)``."""
    if isinstance(y, (tuple, list)):
        return y[0], y[1]
    return y, None
