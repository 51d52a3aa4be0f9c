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
"""

import copy
import hashlib
import pickle

import joblib
from joblib.func_inspect import filter_args
from sklearn.pipeline import Pipeline

from ..cache.keys import value_fingerprint

__all__ = ["FoldMemory", "fold_preprocessing", "shared_preprocessing_reason"]


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

    def cache(self, func, ignore=None, **kwargs):
        """``func``, with each result kept under the hash of its arguments but ``ignore``."""

        def cached(*args, **kwargs):
            key = _arguments_key((func.__module__, func.__qualname__, filter_args(func, ignore or [], args, kwargs)))
            if key not in self._results:
                self._results[key] = func(*args, **kwargs)
            return copy.deepcopy(self._results[key])

        return cached

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        return (FoldMemory, ())


def _arguments_key(arguments):
    """A key equal only for arguments that pickle to the same bytes: then their fit is the same.

    The MD5 of their pickle, written by the C pickler: joblib's hash pickles
    in Python, some 4 ms for a 750-row DataFrame with text columns, against
    under 1 ms, once per fit of the search. The same rows taken from the
    same data pickle alike; arguments that pickle otherwise although equal
    (their strings shared otherwise, say) only miss. What the C pickler
    refuses goes to joblib's hasher, as before, under keys of its own.
    """
    try:
        return ("pickle", hashlib.md5(pickle.dumps(arguments, protocol=pickle.HIGHEST_PROTOCOL)).hexdigest())
    except Exception:  # a lambda, a local class: joblib's hasher may still read them
        return ("joblib", joblib.hash(arguments))
