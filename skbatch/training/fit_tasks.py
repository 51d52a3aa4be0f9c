"""scikit-learn's callbacks (:mod:`sklearn.callback`) in skbatch's fits: each fit is one task, each epoch a subtask.

An estimator set up with ``set_callbacks(...)``, or one that a
``GridSearchCV``, a fused search or a ``Pipeline`` hands its callbacks to,
opens the task of its fit in :func:`fit_task` (around ``fit`` and
``partial_fit``); :class:`EpochTasks`, a skorch callback in every net, opens
and closes one subtask per epoch of that fit. So scikit-learn's
``ProgressBar`` draws search, fits and epochs as nested bars, and
``ScoringMonitor`` scores the network after every epoch.

The fit's task reaches the net's callback through a context variable, set
for the duration of the fit in the thread that runs it: nothing is stored
on the estimator or the net, so a fitted estimator pickles as before and a
net built elsewhere (the fit cache, the fused engine) finds no task and
does nothing.
"""

import contextlib
import contextvars
from dataclasses import dataclass
from numbers import Integral

from skorch.callbacks import Callback

from .._compat import has_sklearn_callbacks
from .callbacks import ConvergenceReached

__all__ = ["EpochTasks", "FitTask", "fit_task"]


@dataclass(frozen=True)
class FitTask:
    """The callback task of one call to ``fit`` or ``partial_fit``, with the data the hooks get."""

    estimator: object
    context: object  # sklearn.callback.CallbackContext
    X: object
    y: object
    metadata: dict | None
    epochs: bool  # whether any callback can see the epochs: without one, they open no subtask


_current = contextvars.ContextVar("skbatch_fit_task", default=None)


@contextlib.contextmanager
def fit_task(estimator, X, y, *, sample_weight=None, max_epochs=None):
    """Run the body as the callback task of a fit of ``estimator``; its epochs become subtasks.

    The callbacks' teardown is scikit-learn's ``with_callbacks``, on the
    ``fit`` method itself. ``max_epochs`` is the number of epochs the fit
    may run, the most subtasks it can open; anything but a positive int
    (a param ``fit`` has yet to refuse) counts as unknown.
    """
    if not hasattr(estimator, "_init_callback_context"):  # scikit-learn < 1.9
        yield None
        return
    max_subtasks = max_epochs if isinstance(max_epochs, Integral) and max_epochs >= 1 else None
    context = estimator._init_callback_context(task_name="fit", max_subtasks=max_subtasks)
    metadata = None if sample_weight is None else {"sample_weight": sample_weight}
    context.call_on_fit_task_begin(estimator=estimator, X=X, y=y, metadata=metadata)
    task = FitTask(estimator, context, X, y, metadata, epochs=has_sklearn_callbacks(estimator))
    token = _current.set(task)
    try:
        yield task
    finally:
        _current.reset(token)
    # A copy of the estimator as fitted, for the hooks that score or inspect it.
    context.call_on_fit_task_end(estimator=estimator, X=X, y=y, metadata=metadata, reconstruction_attributes={})


class EpochTasks(Callback):
    """skorch callback: each epoch of the current fit is a subtask of its callback task.

    At an epoch's end the hooks get the fit's ``X`` and ``y`` and, as
    ``fitted_estimator``, a copy of the estimator predicting with the
    network as it is after the epoch. A hook that returns True ends the
    training after this epoch, as the stopping rule does (no
    ``ConvergenceWarning``).
    """

    def get_params(self, deep=True):
        # No params: skorch reads a callback's params from its __init__ signature.
        return {}

    def initialize(self):
        self.epoch_ = None
        return self

    def _task(self, net):
        task = _current.get()
        # Only the net of the fit under way: not a net trained inside it for another purpose.
        if task is None or not task.epochs or getattr(task.estimator, "net_", None) is not net:
            return None
        return task

    def on_epoch_begin(self, net, **kwargs):
        task = self._task(net)
        if task is not None:
            self.epoch_ = task.context.subcontext(task_name="epoch")
            self.epoch_.call_on_fit_task_begin(estimator=task.estimator, X=task.X, y=task.y, metadata=task.metadata)

    def on_epoch_end(self, net, **kwargs):
        if self._end_epoch(net):
            raise ConvergenceReached

    def on_train_end(self, net, **kwargs):
        # The stopping rule ends training from its own on_epoch_end, which
        # may run before this one: the last epoch then ends here.
        self._end_epoch(net)

    def _end_epoch(self, net):
        epoch, task = getattr(self, "epoch_", None), self._task(net)
        self.epoch_ = None
        if epoch is None or task is None:
            return False
        return epoch.call_on_fit_task_end(
            estimator=task.estimator,
            X=task.X,
            y=task.y,
            metadata=task.metadata,
            reconstruction_attributes={"net_": net},
        )

    def __getstate__(self):
        # A context belongs to one fit (and holds the whole task tree): never pickled with the net.
        return {**self.__dict__, "epoch_": None}
