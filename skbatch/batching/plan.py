"""The batch plan of one fit: every batch-size decision, made once, as a frozen value.

``batch_size`` alone does not say how a fit trains: the number of training
rows clamps it, ``'max'`` takes the memory limit a search found and
accumulates above it, ``batch_size_milestones`` grows it epoch by epoch,
``drop_last`` changes the number of updates and ``lr_scaling`` the learning
rate. :func:`plan_batches` works all of that out in one place; the fit, the
fused trainer, the error messages and the records read the :class:`BatchPlan`
it returns instead of deriving any of it again.
"""

import math
from dataclasses import dataclass
from numbers import Integral

from .._compat import InvalidParameterError
from .lr_scaling import scaled_lr
from .schedule import check_milestones, scheduled_batch_size
from .sizes import n_updates_per_epoch, resolve_batch_size

__all__ = ["BatchPlan", "PLAN_PARAMS", "epoch_batch_size", "plan_batches", "running_batch_size"]

# The estimator params a plan is made from.
PLAN_PARAMS = (
    "batch_size",
    "drop_last",
    "accumulation_steps",
    "lr",
    "lr_scaling",
    "base_batch_size",
    "batch_size_milestones",
    "batch_size_growth",
)


@dataclass(frozen=True)
class BatchPlan:
    """How one fit batches its training rows, epoch by epoch.

    Made by :func:`plan_batches`; frozen, so every reader sees the same
    decisions. Epochs are counted from the net's first epoch (0), across
    warm starts and ``partial_fit`` calls, as the schedule counts them.

    Attributes
    ----------
    n_samples : int
        Training rows (after any early-stopping split).
    batch_size : int
        Rows per update in the first epoch, between 1 and ``n_samples``.
    accumulation_steps : int
        Slices each batch of the first epoch is computed in, their
        gradients summed before one update.
    slice_size : int or None
        With ``batch_size='max'``: the most rows one forward pass may take
        (the memory limit found, at most ``n_samples``); a batch grown
        beyond ``accumulation_steps`` such slices is accumulated over more
        of them. None otherwise.
    drop_last : bool
        Whether the last partial batch of an epoch is skipped.
    milestones : int, tuple of int or None
        When the batch size grows (as checked by
        :func:`~skbatch.batching.schedule.check_milestones`); None: never.
    growth : float or 'noise'
        Factor applied at each milestone; ``'noise'``: the size adapts to
        the gradient noise scale measured during training, epoch by epoch
        (:meth:`adaptive_batch_size`), so it is known only from the net's
        history (:func:`epoch_batch_size`), not from the plan.
    batch_limit : int or None
        With ``growth='noise'``: the largest batch the size may grow to,
        the memory limit that ``'max'``'s search found (at most
        ``n_samples``). None otherwise.
    lr : float
        Learning rate for ``batch_size``, after ``lr_scaling``: ``lr_``.
    """

    n_samples: int
    batch_size: int
    accumulation_steps: int
    slice_size: int | None
    drop_last: bool
    milestones: int | tuple | None
    growth: float | str
    lr: float
    batch_limit: int | None = None

    @property
    def scheduled(self):
        """Whether the batch size changes during training."""
        return self.milestones is not None or self.adaptive

    @property
    def adaptive(self):
        """Whether the batch size follows the measured noise scale (``batch_size_growth='noise'``)."""
        return self.growth == "noise"

    def adaptive_batch_size(self, current, noise_scale):
        """Next epoch's size under ``growth='noise'``: toward the noise scale, at most doubling.

        McCandlish et al. (2018): batches up to the noise scale cut the steps
        nearly in proportion, larger ones waste examples. The size only
        grows (the noise scale grows as the loss falls; a dip is noise),
        at most doubles per epoch, as a milestone of Smith et al. (2017)
        would, and stays within ``batch_limit``. A NaN noise scale (no
        estimate yet) keeps the size.
        """
        if not noise_scale == noise_scale:  # NaN
            return current
        return int(min(self.batch_limit, 2 * current, max(current, round(noise_scale))))

    def batch_size_at(self, epoch):
        """Rows per update in ``epoch`` (0 for the first); refused for adaptive plans, which only the history knows."""
        if self.adaptive:
            if epoch == 0:
                return self.batch_size
            raise ValueError(
                "batch_size_growth='noise' decides each epoch's batch size during training; "
                "read it from the net's history (skbatch.batching.plan.epoch_batch_size)."
            )
        if self.milestones is None:
            return self.batch_size
        return scheduled_batch_size(self.batch_size, epoch, growth=self.growth, milestones=self.milestones, n_samples=self.n_samples)

    def accumulation_steps_at(self, epoch):
        """Slices each batch of ``epoch`` is computed in."""
        return self.accumulation_steps_for(self.batch_size_at(epoch))

    def accumulation_steps_for(self, batch_size):
        """Slices a batch of ``batch_size`` rows is computed in."""
        if self.slice_size is None:
            return self.accumulation_steps
        return max(self.accumulation_steps, math.ceil(batch_size / self.slice_size))

    def updates_per_epoch(self, epoch=0):
        """Optimizer steps in ``epoch``."""
        return n_updates_per_epoch(self.n_samples, self.batch_size_at(epoch), self.drop_last)

    def batch_sizes(self, epochs):
        """Distinct batch sizes of ``epochs`` (an iterable of epoch numbers), as a sorted list."""
        return sorted({self.batch_size_at(epoch) for epoch in epochs})


def plan_batches(params, n_samples, *, max_batch_size=None, owner="the estimator"):
    """Make the :class:`BatchPlan` of a fit.

    Parameters
    ----------
    params : mapping
        The estimator's params, validated; at least :data:`PLAN_PARAMS`.
    n_samples : int
        Training rows, >= 1.
    max_batch_size : int or None, default=None
        With ``batch_size='max'``: the largest batch the max-batch search
        found fits (``max_batch_search_.batch_size``). Required then,
        ignored otherwise.
    owner : str, default='the estimator'
        Estimator name for error messages.

    Returns
    -------
    BatchPlan

    Raises
    ------
    InvalidParameterError
        If ``batch_size_milestones`` is not a valid schedule, or is set
        with ``batch_size_growth='noise'``.
    ValueError
        If ``batch_size='max'`` comes without ``max_batch_size``.
    """
    requested = params["batch_size"]
    accumulation_steps = int(params["accumulation_steps"])
    growth = params["batch_size_growth"]
    adaptive = isinstance(growth, str) and growth == "noise"
    if adaptive and not isinstance(max_batch_size, Integral):
        raise ValueError(
            f"batch_size_growth='noise' of {owner} grows the batch within the memory limit; "
            f"plan_batches needs it from find_max_batch_size; got max_batch_size={max_batch_size!r}."
        )
    if isinstance(requested, str) and requested == "max":
        if not isinstance(max_batch_size, Integral) or max_batch_size < 1:
            raise ValueError(
                f"batch_size='max' of {owner} needs the largest batch that fits, from "
                f"find_max_batch_size; got max_batch_size={max_batch_size!r}."
            )
        # Batches of accumulation_steps slices, each as large as memory allows.
        slice_size = min(int(max_batch_size), n_samples)
        batch_size = min(n_samples, slice_size * accumulation_steps)
    else:
        slice_size = None
        batch_size = resolve_batch_size(requested, n_samples)
    milestones = params["batch_size_milestones"]
    if adaptive and milestones is not None:
        raise InvalidParameterError(
            f"batch_size_growth='noise' of {owner} decides the batch size at every epoch from the "
            f"measured noise scale, so batch_size_milestones must be None; got {milestones!r}. "
            "Drop batch_size_milestones, or give batch_size_growth a factor such as 2.0."
        )
    if milestones is not None:
        milestones = check_milestones(milestones, owner)
    return BatchPlan(
        n_samples=int(n_samples),
        batch_size=batch_size,
        accumulation_steps=accumulation_steps,
        slice_size=slice_size,
        drop_last=bool(params["drop_last"]),
        milestones=milestones,
        growth="noise" if adaptive else float(growth),
        lr=scaled_lr(params["lr"], batch_size, params["lr_scaling"], params["base_batch_size"]),
        batch_limit=min(int(max_batch_size), n_samples) if adaptive else None,
    )


def running_batch_size(net):
    """Batch size of the epoch ``net`` is training (or last trained), from its plan.

    For the messages and records of a fit that failed part-way: with a
    schedule, that is not the first epoch's size. A net trained before nets
    carried a plan gives its ``batch_size``; anything else None.
    """
    plan = getattr(net, "batch_plan", None)
    if plan is None:
        return getattr(net, "batch_size", None)
    return epoch_batch_size(net, max(len(net.history) - 1, 0))


def epoch_batch_size(net, epoch):
    """Rows per update in ``epoch`` of ``net``'s training: as its schedule recorded it, else from its plan.

    An adaptive plan (``batch_size_growth='noise'``) decides each size
    during training; the schedule records it in the history as
    ``batch_size``, the one place that knows it.
    """
    if 0 <= epoch < len(net.history):
        recorded = list.__getitem__(net.history, epoch).get("batch_size")
        if recorded is not None:
            return recorded
    return net.batch_plan.batch_size_at(epoch)
