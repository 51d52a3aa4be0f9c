"""Batch size that grows during training, in place of a decaying learning rate.

Smith et al. (2017), "Don't decay the learning rate, increase the batch
size": multiplying the batch size by a factor at the epochs where a step
schedule would divide the learning rate by it reaches the same accuracy with
fewer, larger updates.
"""

from numbers import Integral

from skorch.callbacks import Callback

from .._compat import InvalidParameterError

__all__ = ["BatchSizeSchedule", "check_milestones", "scheduled_batch_size"]


def check_milestones(milestones, owner="the estimator"):
    """Return ``batch_size_milestones`` as an int period or a tuple of epochs.

    Parameters
    ----------
    milestones : int or sequence of int
        An int ``N`` grows the batch every ``N`` epochs; a sequence names
        the epochs after which it grows, strictly increasing, each >= 1.
    owner : str, default='the estimator'
        Estimator name for the error message.

    Returns
    -------
    int or tuple of int

    Raises
    ------
    InvalidParameterError
        If the epochs are not positive ints in strictly increasing order.
    """
    if isinstance(milestones, Integral) and not isinstance(milestones, bool):
        return int(milestones)
    epochs = tuple(milestones)
    valid = all(isinstance(e, Integral) and not isinstance(e, bool) and e >= 1 for e in epochs)
    if not epochs or not valid or any(b <= a for a, b in zip(epochs, epochs[1:])):
        raise InvalidParameterError(
            f"The 'batch_size_milestones' parameter of {owner} must be an int "
            "(grow every that many epochs) or a non-empty, strictly increasing "
            f"sequence of epochs >= 1 such as (10, 20, 30). Got {milestones!r} instead. "
            "Sort the epochs and drop repeats."
        )
    return epochs


def scheduled_batch_size(base, epoch, *, growth, milestones, n_samples):
    """Batch size for ``epoch`` (0 for the first) under the schedule.

    Parameters
    ----------
    base : int
        Batch size of the first epoch.
    epoch : int
        Epochs completed before this one.
    growth : float
        Factor applied at each milestone, > 1.
    milestones : int or tuple of int
        As returned by :func:`check_milestones`.
    n_samples : int
        Training samples; the batch size never exceeds it.

    Returns
    -------
    int
    """
    if isinstance(milestones, int):
        n_grown = epoch // milestones
    else:
        n_grown = sum(epoch >= m for m in milestones)
    return min(n_samples, int(round(base * growth**n_grown)))


class BatchSizeSchedule(Callback):
    """skorch callback that sets the training batch size at the start of each epoch.

    skorch builds the training iterator once per call to ``fit_loop``, so
    the iterator reads its batch size from this object, called with no
    arguments, at the start of every pass (see
    :class:`~skbatch.TensorBatchIterator`). The sizes come from the net's
    batch plan (``net.batch_plan``, a :class:`~skbatch.batching.plan.BatchPlan`
    the estimator sets at every fit), so a warm start or ``partial_fit`` on
    new data follows that fit's plan. Epochs count across warm starts and
    ``partial_fit`` calls, from the net's history.

    Each epoch also sets the net's ``accumulation_steps`` from the plan:
    with ``batch_size='max'``, batches grown past the memory limit are
    accumulated over slices that fit.
    """

    def __init__(self):
        self.current_ = None

    def on_train_begin(self, net, **kwargs):
        # Anything that sizes the iterator before the first epoch opens sees that epoch's size.
        plan = net.batch_plan
        if plan.adaptive:
            # A warm start continues from the size the last epoch ran at, within this plan's limit.
            last = net.history[-1].get("batch_size") if len(net.history) else None
            self.current_ = plan.batch_size if last is None else min(last, plan.batch_limit)
        else:
            self.current_ = plan.batch_size_at(len(net.history))

    def on_epoch_begin(self, net, **kwargs):
        # skorch's own on_epoch_begin has already opened this epoch's row.
        epoch = len(net.history) - 1
        plan = net.batch_plan
        if plan.adaptive:
            # The noise scale NoiseScaleTracker recorded at the end of the epoch before.
            previous = net.history[-2].get("noise_scale", float("nan")) if epoch > 0 else float("nan")
            self.current_ = plan.adaptive_batch_size(self.current_, previous)
        else:
            self.current_ = plan.batch_size_at(epoch)
        net.history.record("batch_size", self.current_)
        net.accumulation_steps = plan.accumulation_steps_for(self.current_)

    def __call__(self):
        return self.current_
