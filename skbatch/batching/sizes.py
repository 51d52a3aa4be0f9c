"""Batch-size semantics: what a ``batch_size`` param means for a given number of samples."""

import math
from numbers import Integral

__all__ = ["resolve_batch_size", "n_updates_per_epoch"]

AUTO_BATCH_SIZE = 200


def resolve_batch_size(batch_size, n_samples):
    """Return the number of samples per batch that training really uses.

    Parameters
    ----------
    batch_size : int or {'auto', 'full'}
        An int >= 1 (clamped to ``n_samples``), ``'auto'`` for
        ``min(200, n_samples)`` as scikit-learn's MLP does, or ``-1`` /
        ``'full'`` for full-batch gradient descent. Must already be validated.
    n_samples : int
        Number of training samples.

    Returns
    -------
    int
        The batch size, between 1 and ``n_samples``.
    """
    if batch_size == "auto":
        return min(AUTO_BATCH_SIZE, n_samples)
    if batch_size == "full" or batch_size == -1:
        return n_samples
    if not isinstance(batch_size, Integral):
        raise TypeError(f"batch_size must be resolved from an int or a str, got {batch_size!r}")
    return min(int(batch_size), n_samples)


def n_updates_per_epoch(n_samples, batch_size, drop_last):
    """Number of optimizer steps in one epoch over ``n_samples``.

    With ``drop_last=True`` the last partial batch is skipped, unless it is
    the only batch (``batch_size`` is already clamped to ``n_samples``).
    """
    if drop_last:
        return max(1, n_samples // batch_size)
    return math.ceil(n_samples / batch_size)
