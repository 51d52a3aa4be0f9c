"""Training failures that say what went wrong and how to fix it: diverged loss, out of memory.

A search scores a failed fit with its ``error_score`` and goes on; what the
user then reads (scikit-learn's FitFailedWarning, :func:`skbatch.search_report`)
is the message of the exception raised here, so each names the settings that
caused the failure and a setting that should not.
"""

import math
import threading

import torch
from skorch.callbacks import Callback

from ..batching.plan import epoch_batch_size, running_batch_size
from ..cache.keys import family_fingerprint
from ..devices.memory import is_out_of_memory

__all__ = ["NonFiniteLossError", "DeviceOutOfMemoryError"]


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite, so training stopped.

    A subclass of :class:`FloatingPointError`: a search with a numeric
    ``error_score`` scores the fit with it and goes on.
    """


class DeviceOutOfMemoryError(torch.OutOfMemoryError):
    """The device ran out of memory while training; the message names the batch size.

    A subclass of :class:`torch.OutOfMemoryError`, so code that already
    catches torch's error (and :func:`skbatch.devices.memory.is_out_of_memory`)
    still recognises it. The original error is its ``__cause__``.
    """


class StopOnNonFiniteLoss(Callback):
    """skorch callback: raise :class:`NonFiniteLossError` at the end of an epoch whose loss is not finite.

    Checked once per epoch, on the epoch's mean training loss, which is NaN
    or infinite as soon as one batch was: a per-batch check would cost a
    Python call per step for no earlier answer worth having.
    """

    def __init__(self, owner):
        self.owner = owner

    def on_epoch_end(self, net, **kwargs):
        loss = net.history[-1].get("train_loss")
        if loss is None or math.isfinite(loss):
            return
        raise non_finite_loss_error(self.owner, loss, len(net.history), net.lr, running_batch_size(net))


def non_finite_loss_error(owner, loss, epoch, lr, batch_size):
    """The :class:`NonFiniteLossError` for a fit whose loss became ``loss`` at ``epoch`` (1-based)."""
    return NonFiniteLossError(
        f"The training loss of {owner} became {loss} at epoch {epoch} "
        f"(lr={lr!r}, batch_size={batch_size!r}): training diverged. "
        "Lower lr (a tenth is a good first try), raise batch_size, or scale "
        "the features (e.g. StandardScaler in a Pipeline)."
    )


# Batch sizes that finished training, per estimator family (all params but
# batch size, plus the input width) and device type, in this process. The
# cache directory's records extend it across processes and runs.
_fitted_sizes = {}
_fitted_sizes_lock = threading.Lock()


def remember_fitted_batch_size(estimator, *, first_epoch=0):
    """Note that ``estimator`` (just trained) fitted in memory at every batch size its plan ran.

    ``first_epoch`` is the net's first epoch of this fit: a warm start's
    earlier epochs ran under an earlier plan, which noted its own sizes.
    """
    key = (family_fingerprint(estimator, estimator.n_features_in_), estimator.device_.type)
    net = estimator.net_
    sizes = {epoch_batch_size(net, epoch) for epoch in range(first_epoch, len(net.history))}
    with _fitted_sizes_lock:
        _fitted_sizes.setdefault(key, set()).update(sizes)


def largest_fitted_batch_size(estimator, below, recorded=()):
    """Largest batch size under ``below`` known to have trained this estimator's family, or None.

    ``recorded`` adds sizes known from elsewhere: the cache directory's
    records (:func:`skbatch.cache.fitted_sizes.recorded_batch_sizes`).
    """
    family = family_fingerprint(estimator, estimator.n_features_in_)
    sizes = list(_fitted_sizes.get((family, estimator.device_.type), ())) + list(recorded)
    sizes = [s for s in sizes if isinstance(s, int) and s < below]
    return max(sizes, default=None)


def explain_training_error(estimator, error, *, first_epoch=0, recorded_sizes=list):
    """Return a clearer exception for ``error`` raised while ``estimator`` trained, or None to keep it.

    Out-of-memory errors become :class:`DeviceOutOfMemoryError`, naming the
    batch size of the epoch that ran out (from the net's batch plan: with
    ``batch_size_milestones``, not the first epoch's) and suggesting the
    largest smaller size known to have trained with the same settings: in
    this process, in this fit's own earlier epochs (those from
    ``first_epoch``, the first of this fit), or among ``recorded_sizes()``,
    called only for an out-of-memory error (the cache directory's records).
    """
    if not is_out_of_memory(error) or isinstance(error, DeviceOutOfMemoryError):
        return None
    net = estimator.net_
    plan = net.batch_plan
    epoch = max(len(net.history) - 1, 0)
    batch_size = epoch_batch_size(net, epoch)
    grown = ""
    if batch_size != plan.batch_size:
        cause = "batch_size_growth='noise'" if plan.adaptive else "batch_size_milestones"
        grown = f" ({cause} grew it from {plan.batch_size} at epoch {epoch + 1})"
    ran = [size for size in {epoch_batch_size(net, e) for e in range(first_epoch, epoch)} if size < batch_size]
    earlier = largest_fitted_batch_size(estimator, below=batch_size, recorded=recorded_sizes())
    known = max(ran + ([] if earlier is None else [earlier]), default=None)
    if known is not None:
        advice = (
            f"The largest batch size that trained with these settings was {known}: "
            f"set batch_size={known}, or leave larger sizes out of the search."
        )
    else:
        advice = (
            f"No smaller batch size has trained with these settings yet: try batch_size={max(batch_size // 2, 1)}, or a smaller network."
        )
    if grown:
        advice += " Or keep the batch below it: fewer or later batch_size_milestones, or a smaller batch_size_growth."
    return DeviceOutOfMemoryError(
        f"{type(estimator).__name__} ran out of memory on {estimator.device_} while "
        f"training with batch_size={batch_size}{grown}. {advice} (Original error: "
        f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
    )
