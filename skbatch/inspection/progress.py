"""A live tqdm progress bar over every fit of a scikit-learn search, driven by joblib's own counters.

How it hooks in (joblib 1.6, scikit-learn 1.9): a search calls a
``joblib.Parallel`` once per batch of candidates (once for a grid, once per
iteration for BayesSearchCV), passing a generator of
``(candidate, split)`` tasks. joblib counts finished tasks in
``Parallel.n_completed_tasks`` and calls ``Parallel.print_progress()`` right
after every increment, in the parent process, on every backend: from its
result-callback thread for loky, threading and Dask, and from the calling
thread for ``n_jobs=1`` (which never builds a ``BatchCompletionCallBack``,
so the tqdm-joblib recipe of patching that class misses it). This module
wraps ``Parallel.__call__`` to learn the number of tasks (it materialises
the task generator, which for a search holds a clone of the unfitted
estimator and the fold indices per task) and ``Parallel.print_progress`` to
move the bar, and puts both back when the last bar closes, also on error.

Only ``Parallel`` calls whose tasks are scikit-learn's ``_fit_and_score``
count, made by the thread that opened the bar and not nested inside another
counted call: a fit that itself uses joblib (a random forest in the
pipeline, say), or the final refit, does not inflate the total.

Fits restored from a ``cache_dir`` are counted where they happen, in the
worker: each counted task runs inside
:func:`skbatch.cache.store.watch_restores`, and comes back paired with the
number of fits it restored from files stored before the bar opened (so a
resumed search's earlier fits count, and the fits a fused search trains
and hands to its own per-fold fits do not). The pairs are unwrapped before
scikit-learn sees the results.
"""

import contextlib
import threading
import time

from joblib import Parallel
from tqdm.auto import tqdm

from .._compat import fit_and_score
from ..cache.store import watch_restores

__all__ = ["progress_bar"]

_lock = threading.RLock()
_bars = {}  # thread id -> _Tracker of the bar opened in that thread
_originals = {}  # name -> joblib's own Parallel method, while patched


class _Tracker:
    """Counts the tasks of one thread's outermost Parallel calls into one tqdm bar."""

    def __init__(self, bar, delay):
        self.bar = bar
        self.delay = delay  # the user's tqdm delay, applied once the total is known
        self.opened_at = time.time()  # a fit stored before this came from an earlier run
        self.from_cache = 0
        self.depth = 0  # Parallel calls of this thread under way, outermost first
        self.seen = {}  # id(parallel) -> completed tasks already counted

    def begin(self, parallel, n_tasks):
        with _lock:
            self.seen[id(parallel)] = 0
            if not self.bar.total:
                # The bar was made hidden (tqdm's delay) so that it would not
                # open as "0fit [00:00, ?fit/s]". reset() sets the total (and
                # tqdm.notebook's widget maximum), starts the clock now and
                # draws the bar, the widget included, while the delay still
                # says it has not been shown.
                self.bar.reset(total=n_tasks)
                self.bar.delay = self.delay
            else:  # BayesSearchCV: one more batch of candidates
                self.bar.total += n_tasks
                widget = getattr(self.bar, "container", None)  # tqdm.notebook's HBox(label, bar, text)
                if widget is not None:
                    widget.children[1].max = self.bar.total
                self.bar.refresh()

    def progress(self, parallel):
        with _lock:
            done = self.seen.get(id(parallel))
            if done is None:
                return
            new = parallel.n_completed_tasks - done
            if new > 0:
                self.seen[id(parallel)] = parallel.n_completed_tasks
                self.bar.update(new)

    def restored(self, n_fits):
        if n_fits:
            with _lock:
                self.from_cache += n_fits
                self.bar.set_postfix_str(f"{self.from_cache} from cache")

    def end(self, parallel):
        with _lock:
            self.seen.pop(id(parallel), None)


class _CountRestores:
    """A fit task that also returns how many fits it restored from cache files older than ``since``."""

    def __init__(self, function, since):
        self.function = function
        self.since = since

    def __call__(self, *args, **kwargs):
        with watch_restores() as stored_at:
            result = self.function(*args, **kwargs)
        return _Counted(result, sum(t < self.since for t in stored_at))


class _Counted:
    __slots__ = ("result", "n_restored")

    def __init__(self, result, n_restored):
        self.result = result
        self.n_restored = n_restored


def _unwrap(tracker, output):
    if isinstance(output, _Counted):
        tracker.restored(output.n_restored)
        return output.result
    return output


def _unwrap_each(tracker, outputs):
    for output in outputs:
        yield _unwrap(tracker, output)


def _is_fit_task(task):
    # sklearn.utils.parallel.delayed wraps the function in a _FuncWrapper.
    function = task[0] if isinstance(task, tuple) and task else None
    return getattr(function, "function", function) is fit_and_score


def _counted_call(parallel, iterable):
    tracker = _bars.get(threading.get_ident())
    if tracker is None or tracker.depth > 0:
        return _originals["__call__"](parallel, iterable)
    tasks = iterable if hasattr(iterable, "__len__") else list(iterable)
    if not _is_fit_task(next(iter(tasks), None)):
        return _originals["__call__"](parallel, tasks)
    tracker.begin(parallel, len(tasks))
    tasks = [(_CountRestores(function, tracker.opened_at), args, kwargs) for function, args, kwargs in tasks]
    tracker.depth += 1
    try:
        output = _originals["__call__"](parallel, tasks)
        output = _unwrap_each(tracker, output) if parallel.return_generator else [_unwrap(tracker, item) for item in output]
    finally:
        tracker.depth -= 1
        # A generator output (return_as='generator') keeps running after the
        # call returns, so its instance stays counted until the bar closes.
        if not parallel.return_generator:
            tracker.progress(parallel)
            tracker.end(parallel)
    return output


def _counted_print_progress(parallel):
    for tracker in list(_bars.values()):
        tracker.progress(parallel)
    return _originals["print_progress"](parallel)


def _install():
    _originals["__call__"] = Parallel.__call__
    _originals["print_progress"] = Parallel.print_progress
    Parallel.__call__ = _counted_call
    Parallel.print_progress = _counted_print_progress


def _uninstall():
    Parallel.__call__ = _originals.pop("__call__")
    Parallel.print_progress = _originals.pop("print_progress")


@contextlib.contextmanager
def progress_bar(*, desc="fits", **tqdm_kwargs):
    """Show a live progress bar over every fit of the searches run inside the block.

    Works with GridSearchCV, RandomizedSearchCV, BayesSearchCV (whose total
    grows as it asks for more candidates), the Halving searches,
    ``cross_validate`` and ``cross_val_score``: whatever runs scikit-learn's
    fit-and-score tasks through ``joblib.Parallel``, with the loky,
    threading, Dask or sequential (``n_jobs=1``) backends. Other joblib
    calls (inside a fit, say) are not counted. The bar
    shows fits done out of the total known so far, elapsed time and an
    estimate of the time left; ``tqdm.auto`` draws a widget in Jupyter
    (with ``pip install 'skbatch[notebook]'``) and text elsewhere. It is
    drawn first when the first search says how many fits it holds, so it
    opens at ``0/N``. Fits restored from an estimator's ``cache_dir`` rather
    than trained (a resumed search) are counted in the bar's postfix,
    ``"12 from cache"``, as each batch of fits ends. The final refit on the
    best params is not a search task and is not counted.

    Parameters
    ----------
    desc : str, default='fits'
        Label in front of the bar.
    **tqdm_kwargs
        Passed to :class:`tqdm.auto.tqdm`, e.g. ``file=sys.stdout``,
        ``leave=False``, ``mininterval=1.0``. (A bar made with
        ``disable=True`` counts nothing: tqdm skips its updates.)

    Yields
    ------
    tqdm.auto.tqdm
        The bar; ``bar.n`` is the number of finished fits, ``bar.total`` the
        number dispatched so far.

    Raises
    ------
    RuntimeError
        If a bar is already open in the same thread.

    Notes
    -----
    joblib is patched for the duration of the block (see
    :mod:`skbatch.inspection.progress`) and restored when the last open bar closes,
    whether the block ends normally or with an error. scikit-learn 1.9's
    experimental ``sklearn.callback.ProgressBar`` needs ``rich`` and is not
    supported by scikit-optimize's BayesSearchCV; this bar needs neither.

    Examples
    --------
    >>> import io
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skbatch import progress_bar
    >>> X, y = load_iris(return_X_y=True)
    >>> search = GridSearchCV(LogisticRegression(max_iter=500), {"C": [0.1, 1.0]}, cv=3)
    >>> with progress_bar(file=io.StringIO()) as bar:  # the default file is stderr
    ...     _ = search.fit(X, y)
    >>> bar.n, bar.total
    (6, 6)
    """
    thread = threading.get_ident()
    with _lock:
        if thread in _bars:
            raise RuntimeError(
                "A progress_bar is already open in this thread; a search inside it is "
                "already counted. Remove the inner `with progress_bar():`."
            )
        # Hidden until the first search says how many fits it has (see _Tracker.begin).
        delay = tqdm_kwargs.pop("delay", 0)
        bar = tqdm(total=0, desc=desc, unit="fit", delay=float("inf"), **tqdm_kwargs)
        if not _bars:
            _install()
        _bars[thread] = _Tracker(bar, delay)
    try:
        yield bar
    finally:
        with _lock:
            del _bars[thread]
            if not _bars:
                _uninstall()
        bar.close()
