"""A progress bar over the batches of each epoch, for ``verbose=2``: progress within one long fit.

``verbose=1`` prints a line per epoch (skorch's table), which says nothing
until an epoch ends. At ``verbose=2`` this callback adds a tqdm bar
(``tqdm.auto``: a widget in a notebook, text elsewhere) over the epoch's
training batches. The bar shows itself only once an epoch has run for
:data:`SHOW_AFTER` seconds, so short epochs print just their line, and it
closes before that line is printed, so the two never interleave. At
``verbose`` below 2 the callback is not added at all: it costs nothing.
"""

from skorch.callbacks import Callback
from tqdm.auto import tqdm

__all__ = ["EpochProgressBar", "SHOW_AFTER"]

# Seconds an epoch runs before its bar shows: a fit of many short epochs
# opens no bar (no widget per epoch in a notebook), a long epoch does.
SHOW_AFTER = 1.0


class EpochProgressBar(Callback):
    """A tqdm bar over the training batches of the current epoch.

    The number of batches comes from the fit's batch plan
    (``net.batch_plan``), so the bar has its total from the first epoch on,
    and follows ``batch_size_milestones``.
    """

    def initialize(self):
        self.bar_ = None
        return self

    def on_epoch_begin(self, net, **kwargs):
        self._close()
        epoch = len(net.history)  # the row of this epoch is already in the history
        plan = getattr(net, "batch_plan", None)
        total = None if plan is None else plan.updates_per_epoch(epoch - 1)
        self.bar_ = tqdm(
            total=total,
            desc=f"epoch {epoch}",
            unit="batch",
            leave=False,
            delay=SHOW_AFTER,
        )

    def on_batch_end(self, net, training=False, **kwargs):
        if training and self.bar_ is not None:
            self.bar_.update(1)

    def on_epoch_end(self, net, **kwargs):
        # Before skorch's PrintLog, which skorch always calls last, prints the epoch's line.
        self._close()

    def on_train_end(self, net, **kwargs):
        self._close()

    def _close(self):
        bar = getattr(self, "bar_", None)
        if bar is not None:
            bar.close()
            self.bar_ = None

    def __getstate__(self):
        # A fitted estimator pickles its net's callbacks; an open bar (after a
        # failed epoch) holds a stream, and a new epoch opens a new one anyway.
        state = self.__dict__.copy()
        state["bar_"] = None
        return state
