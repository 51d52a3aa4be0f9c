"""A Pipeline's preprocessing, fitted once per fold and shared by a fused search's candidates.

scikit-learn's search fits each (candidate, fold) Pipeline from scratch, its
preprocessing included, although every candidate that leaves the
preprocessing's params alone fits it to the same rows with the same result.
For a fused fit, whose network only restores its trained weights, that
refit is most of the fit's time (a ``OneHotEncoder`` on text columns, say).
So a fused search in one process runs its Pipelines with a ``memory``
(:class:`FoldMemory`): a step fitted to a fold's rows is copied, not
refitted, by the next Pipeline that fits the same step to the same rows.
The key is a hash of the step, the data and the other arguments, as
``joblib.Memory`` keys it, so any difference refits.

The parent then scores each fit, and each transforms its test fold
through its preprocessing: the same rows through the same fitted steps for
every candidate of a fold, as long as a ``OneHotEncoder``'s fit again. So
the search's Pipeline is a :class:`FoldPipeline` (a Pipeline whose
``predict``, ``score`` and the like transform through
:meth:`FoldMemory.transform`), which transforms the same rows by the same
fitted step once and hands each caller its own copy; the search's
``best_estimator_`` is a plain Pipeline again (:func:`plain_pipeline`).
"""

import copy
import hashlib
import pickle
import weakref

import joblib
from joblib.func_inspect import filter_args
from sklearn.pipeline import Pipeline

from ..cache.keys import value_fingerprint

__all__ = ["FoldMemory", "FoldPipeline", "fold_pipeline", "fold_preprocessing", "plain_pipeline", "shared_preprocessing_reason"]


def shared_preprocessing_reason(estimator):
    """Why the preprocessing of ``estimator`` is not shared between candidates; None when it is.

    It is shared when ``estimator`` is a Pipeline with steps before its last,
    no ``memory`` of its own, params that can be fingerprinted, and no
    step drawing from an unseeded random stream (a ``random_state`` of None
    or a ``RandomState``), whose every fit the search must draw anew.

    Parameters
    ----------
    estimator : estimator object
        The search's ``estimator``.

    Returns
    -------
    str or None
    """
    if not isinstance(estimator, Pipeline) or len(estimator.steps) < 2:
        return "not a Pipeline with preprocessing"
    if estimator.memory is not None:
        return "the Pipeline has a memory of its own"
    params = estimator[:-1].get_params(deep=True)
    for name, value in params.items():
        if name.split("__")[-1] == "random_state" and (value is None or hasattr(value, "get_state")):
            return f"its step param {name}={value!r} draws a new result at every fit"
    try:
        value_fingerprint(params)
        joblib.hash(estimator[:-1])
    except Exception as error:  # a lambda, an object pickle refuses: whatever joblib cannot hash
        return f"its preprocessing cannot be hashed ({type(error).__name__})"
    return None


def fold_preprocessing(candidate):
    """The preprocessing of the Pipeline ``candidate``, as a Pipeline whose fit seeds its ``memory``.

    A Pipeline's ``memory`` caches every step but its last; this one has the
    candidate's steps with the network replaced by ``'passthrough'``, so its
    ``fit_transform`` caches each preprocessing step under the key the
    candidate's own ``fit`` looks up (the same step, position and data).
    """
    *steps, (name, _) = candidate.steps
    return Pipeline([*steps, (name, "passthrough")], memory=candidate.memory, verbose=candidate.verbose)


class FoldMemory:
    """``joblib.Memory``'s ``cache`` interface, as Pipeline's ``memory`` reads it, kept in this process's memory.

    ``joblib.Memory`` itself writes every result to disk and reads it back:
    some 50 ms for each first fit and 8 ms for each one it saves on a
    1,500-row table, more than the ``OneHotEncoder`` it saves takes. Here a
    result is a dict entry, and each caller gets its own deep copy of it, as
    ``joblib.Memory``'s callers each get their own unpickled one.

    Every clone of a Pipeline holding it shares it (``clone`` deep-copies
    params); a copy pickled to a worker process starts empty.
    """

    def __init__(self):
        self._results = {}
        # The fitted steps handed out (a Pipeline's step fit returns the pair
        # (transformed rows, fitted step)), by identity: id -> (weak reference,
        # key of the fit it is a copy of); and what each of those fits'
        # transform made of rows.
        self._fitted = {}
        self._transformed = {}

    def cache(self, func, ignore=None, **kwargs):
        """``func``, with each result kept under the hash of its arguments but ``ignore``."""

        def cached(*args, **kwargs):
            key = _arguments_key((func.__module__, func.__qualname__, filter_args(func, ignore or [], args, kwargs)))
            if key not in self._results:
                self._results[key] = func(*args, **kwargs)
            result = copy.deepcopy(self._results[key])
            if isinstance(result, tuple) and len(result) == 2 and hasattr(result[1], "transform"):
                try:
                    self._fitted[id(result[1])] = (weakref.ref(result[1]), key)
                except TypeError:  # an object that takes no weak reference: transformed as usual
                    pass
            return result

        return cached

    def fit_of(self, step):
        """The key of the fit of which ``step`` (this very object) is a copy; None for a step not handed out here."""
        reference, key = self._fitted.get(id(step), (None, None))
        # The weak reference tells the object from a later one that took its id.
        return key if reference is not None and reference() is step else None

    def transform(self, step, X, **params):
        """``step.transform(X, **params)``, made once for each copy of the same fitted step and the same ``X``.

        A step this memory did not hand out transforms as usual. Each caller
        gets its own deep copy of the result.
        """
        fit = self.fit_of(step)
        if fit is None:
            return step.transform(X, **params)
        key = (fit, _arguments_key((X, params)))
        if key not in self._transformed:
            result = step.transform(X, **params)
            self._transformed[key] = copy.deepcopy(result)
            return result
        return copy.deepcopy(self._transformed[key])

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        return (FoldMemory, ())


def _arguments_key(arguments):
    """A key equal only for arguments that pickle to the same bytes: then their fit is the same.

    The SHA-256 of their pickle, written by the C pickler: joblib's hash
    pickles in Python, some 4 ms for a 750-row DataFrame with text columns,
    against under 1 ms, twice per fit of the search (its rows, then its
    test rows). SHA-256, not MD5: where the CPU has SHA instructions it
    hashes a fold's 500 KB pickle in 0.3 ms against MD5's 0.75; these keys
    never leave the process, so nothing stored depends on the choice.

    The same rows taken from the same data pickle alike; arguments that
    pickle otherwise although equal (their strings shared otherwise, say)
    only miss. What the C pickler refuses goes to joblib's hasher, as
    before, under keys of its own.
    """
    try:
        return ("pickle", hashlib.sha256(pickle.dumps(arguments, protocol=pickle.HIGHEST_PROTOCOL)).hexdigest())
    except Exception:  # a lambda, a local class: joblib's hasher may still read them
        return ("joblib", joblib.hash(arguments))


class _SharedTransform:
    """A fitted step whose ``transform`` goes through a :class:`FoldMemory`; all else is the step's."""

    def __init__(self, step, memory):
        self._step, self._memory = step, memory

    def transform(self, X, **params):
        return self._memory.transform(self._step, X, **params)

    def __getattr__(self, name):
        return getattr(self._step, name)


class FoldPipeline(Pipeline):
    """A Pipeline whose predictions transform the same rows by the same fitted step once, through its FoldMemory.

    Its fit, params and fitted state are the Pipeline's own; only the steps
    that ``predict``, ``score`` and the other methods that transform before
    the last step iterate over are wrapped, where ``memory`` is a
    :class:`FoldMemory`. Used by a fused search in one process, whose
    ``best_estimator_`` is made a plain Pipeline again (:func:`plain_pipeline`).
    """

    def _iter(self, with_final=True, filter_passthrough=True):
        steps = super()._iter(with_final=with_final, filter_passthrough=filter_passthrough)
        # Pipeline's own fit iterates with filter_passthrough=False, and
        # clones what it gets: only the iteration of the methods that transform
        # before the last step (with_final=False, passthrough left out) is wrapped.
        if with_final or not filter_passthrough or not isinstance(self.memory, FoldMemory):
            yield from steps
            return
        for index, name, step in steps:
            yield index, name, _SharedTransform(step, self.memory) if self.memory.fit_of(step) else step


def fold_pipeline(estimator):
    """``estimator`` as a :class:`FoldPipeline`, if it is a Pipeline (not a subclass) with a FoldMemory."""
    if type(estimator) is not Pipeline or not isinstance(estimator.memory, FoldMemory):
        return estimator
    return _as_class(estimator, FoldPipeline)


def plain_pipeline(estimator):
    """A :class:`FoldPipeline` as the Pipeline it is, with the same state; anything else as it is."""
    if type(estimator) is not FoldPipeline:
        return estimator
    return _as_class(estimator, Pipeline)


def _as_class(pipeline, cls):
    """``pipeline``'s state (its steps, params and fitted attributes, shared) in an instance of ``cls``."""
    other = cls.__new__(cls)
    vars(other).update(vars(pipeline))
    return other
