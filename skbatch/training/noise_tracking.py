"""The gradient noise scale's two-batch estimator, and a callback that tracks it during training.

McCandlish et al. (2018), "An Empirical Model of Large-Batch Training",
appendix A.1: the squared norm of a mean gradient over ``B`` rows has
expectation ``|G|^2 + tr(Sigma) / B``, so the norms at two batch sizes give
unbiased estimates of ``|G|^2`` and ``tr(Sigma)`` and their ratio the simple
noise scale ``B_simple``. :class:`NoiseScaleTracker` applies it to the
gradients the fit computes anyway, pairing consecutive batches.
"""

import math

import numpy as np
import torch
from skorch.callbacks import Callback

__all__ = ["NoiseScaleTracker", "two_batch_estimates"]


def two_batch_estimates(grad_sq_small, grad_sq_big, b_small, b_big, *, n_samples=None):
    """Unbiased ``(|G|^2, tr(Sigma))`` from mean-gradient norms at two batch sizes.

    Parameters
    ----------
    grad_sq_small, grad_sq_big : float
        Squared norms of the mean gradient over ``b_small`` and ``b_big``
        rows (averaged over draws to lower the variance).
    b_small, b_big : int
        The two batch sizes, ``b_small < b_big``.
    n_samples : int or None, default=None
        Rows the batches were drawn from without replacement. None: an
        unlimited population (the paper's formulas). With ``n_samples``,
        ``tr(Sigma)`` is the population covariance of the ``n_samples``
        per-row gradients (divided by ``n_samples``), as
        :func:`~skbatch.gradient_noise_scale` defines it, and ``|G|^2`` the
        squared norm of their mean; a batch of all rows then has no noise.

    Returns
    -------
    grad_norm_squared : float
    trace_covariance : float
    """
    if not b_small < b_big:
        raise ValueError(f"The two-batch estimator needs b_small < b_big; got b_small={b_small}, b_big={b_big}.")

    # E|G_B|^2 = |G|^2 + tr(Sigma) * noise(B), with noise(B) = 1/B for an
    # unlimited population, n/(n-1) * (1/B - 1/n) without replacement from n rows.
    def noise(batch):
        if n_samples is None:
            return 1.0 / batch
        return n_samples / (n_samples - 1) * (1.0 / batch - 1.0 / n_samples)

    trace = (grad_sq_small - grad_sq_big) / (noise(b_small) - noise(b_big))
    return grad_sq_big - trace * noise(b_big), trace


class NoiseScaleTracker(Callback):
    """Track the gradient noise scale from the gradients training computes, one value per epoch.

    Consecutive training batches of the same size ``B`` are paired: with
    ``g1`` and ``g2`` their mean gradients, the two-batch estimator at
    ``B`` and ``2B`` reduces to ``|G|^2 ~ g1 . g2`` and
    ``tr(Sigma) ~ B |g1 - g2|^2 / 2``. Each is averaged over the epoch's
    pairs, then carried across epochs in its own exponential moving
    average (bias-corrected, as Adam's moments), since the average of
    ratios is biased; the epoch's value, recorded in the history as
    ``noise_scale``, is the ratio of the two averages. The weights move
    between the two batches of a pair, so the estimate holds while one
    step changes the gradient little compared with its noise.

    The cost of a pair is one copy of the gradients and two reductions;
    nothing is recomputed. At most ``max_pairs`` pairs are taken per
    epoch, spread over it (every ``k``-th pair, ``k`` from the previous
    epoch's count): the average of a subset of pairs is as unbiased as
    that of all, and small batches, which make many pairs, pay for few.

    Parameters
    ----------
    decay : float, default=0.5
        Weight of the past epochs in each moving average: the estimate
        follows the noise scale as it rises during training, while an
        epoch with few pairs (large batches) borrows from the epochs
        before.
    max_pairs : int, default=8
        Most pairs of batches measured per epoch.
    """

    def __init__(self, decay=0.5, max_pairs=8):
        self.decay = decay
        self.max_pairs = max_pairs

    def initialize(self):
        self.previous_ = None
        self.previous_size_ = None
        self.trace_avg_ = 0.0
        self.grad_sq_avg_ = 0.0
        self.weight_ = 0.0
        self.stride_ = 1
        return self

    def on_train_begin(self, net, **kwargs):
        # A pair never spans two calls to fit: the data may differ.
        self.previous_ = None

    def on_train_end(self, net, **kwargs):
        # A fitted estimator need not carry (and pickle) a copy of the gradients.
        self.previous_ = None

    def on_grad_computed(self, net, named_parameters, batch=None, training=False, **kwargs):
        if not training:
            return
        self._step += 1
        # The first batch of every stride-th pair starts one; the rest pass at no cost.
        if self.previous_ is None and (self._step // 2) % self.stride_:
            return
        grads = [p.grad for _, p in named_parameters if p.grad is not None]
        size = len(batch[0])
        if self.previous_ is None or self.previous_size_ != size or len(self.previous_) != len(grads):
            self.previous_ = [g.detach().clone() for g in grads]
            self.previous_size_ = size
            return
        # One fused reduction per pair; the two scalars leave the device together at the epoch's end.
        dot = sum(torch.sum(a * b) for a, b in zip(self.previous_, grads))
        diff_sq = sum(torch.sum((a - b) ** 2) for a, b in zip(self.previous_, grads))
        self._pending.append((dot, diff_sq, size))
        self.previous_ = None

    def on_epoch_begin(self, net, **kwargs):
        self._pending = []
        self._step = -1

    def on_epoch_end(self, net, **kwargs):
        pending = getattr(self, "_pending", [])
        # The pairs this epoch had in all, at this stride: next epoch's stride keeps them to max_pairs.
        available = max(1, (getattr(self, "_step", 0) + 1) // 2)
        self.stride_ = max(1, -(-available // self.max_pairs))
        if pending:
            values = torch.stack([torch.stack([d, s]) for d, s, _ in pending]).double().cpu().numpy()
            sizes = np.array([size for _, _, size in pending], dtype=float)
            # The two-batch estimator at B and 2B, for each pair, averaged over the epoch.
            self._update(float(values[:, 0].mean()), float((sizes * values[:, 1]).mean() / 2.0))
        self._pending = []
        net.history.record("noise_scale", self.noise_scale())

    def _update(self, grad_sq, trace):
        self.grad_sq_avg_ = self.decay * self.grad_sq_avg_ + (1 - self.decay) * grad_sq
        self.trace_avg_ = self.decay * self.trace_avg_ + (1 - self.decay) * trace
        self.weight_ = self.decay * self.weight_ + (1 - self.decay)

    def noise_scale(self):
        """``tr(Sigma) / |G|^2`` from the moving averages; NaN before any pair or while ``|G|^2 <= 0``.

        A non-positive ``|G|^2`` estimate means the noise drowns the
        gradient: no batch size is justified by it, so no value is given.
        """
        if self.weight_ == 0.0 or self.grad_sq_avg_ <= 0.0:
            return math.nan
        return self.trace_avg_ / self.grad_sq_avg_
