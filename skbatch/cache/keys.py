"""Cache keys: fingerprints of an estimator's params and of its training data.

One owner for what makes two fits the same fit, read by the fit cache, by
fused training (which stacks fits whose keys differ only in per-model
params) and by the out-of-memory advice (which groups fits by family).
"""

import joblib
import numpy as np
import scipy.sparse

__all__ = ["CONTINUABLE_PARAMS", "data_fingerprint", "family_key", "params_fingerprint"]

# Bump when the layout or the key changes, so old entries are never misread.
# 2: entries are plain pickles (.pkl), no longer joblib files.
_FORMAT = 2

# Params that change nothing an entry holds.
_UNKEYED_PARAMS = frozenset({"cache_dir", "verbose"})

# Params a longer fit can differ in and still continue a shorter one from its checkpoint.
CONTINUABLE_PARAMS = frozenset({"max_epochs"})

# Params that change neither the memory a training step needs nor the model.
_FAMILY_EXCLUDED_PARAMS = frozenset({"batch_size", "cache_dir", "verbose", "random_state"})


def family_key(estimator, n_features_in):
    """Hash of what decides memory per sample: every param but batch size, and the input width."""
    params = {
        name: _stable(value)
        for name, value in estimator.get_params(deep=False).items()
        if name not in _FAMILY_EXCLUDED_PARAMS
    }
    return joblib.hash((type(estimator).__qualname__, params, int(n_features_in)))


def _stable(value):
    # Classes and functions hash by import path: joblib would pickle them by
    # reference anyway, but this also covers those pickle cannot reach.
    if isinstance(value, type) or callable(value):
        return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', repr(value))}"
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_stable(v) for v in value)
    return value


def data_fingerprint(data):
    """Hash of the values (and column names) of ``X`` or ``y``, independent of container details.

    Parameters
    ----------
    data : array-like, DataFrame, Series or sparse matrix

    Returns
    -------
    str
        Equal for equal values of the same dtype and shape, whether they
        come as a list, an array, a memory map or a pandas object (whose
        row index is ignored: a fold's rows keep the index of the full data).
    """
    if scipy.sparse.issparse(data):
        return joblib.hash(("sparse", data.tocsr()))
    columns = getattr(data, "columns", None)
    names = None if columns is None else [str(c) for c in columns]
    return joblib.hash((names, np.asarray(data)))


def params_fingerprint(estimator, *, ignore=frozenset()):
    """Hash of an estimator's class and the params that decide its fit.

    Parameters
    ----------
    estimator : BaseTorchClassifier
        Fitted or not: only ``get_params(deep=False)`` is read.
    ignore : set of str, default=frozenset()
        Params left out besides ``cache_dir`` and ``verbose`` (which change
        no fit): fused training leaves out those each stacked model has its own.

    Returns
    -------
    str
    """
    params = {
        name: _stable(value)
        for name, value in estimator.get_params(deep=False).items()
        if name not in _UNKEYED_PARAMS | ignore
    }
    return joblib.hash((_FORMAT, type(estimator).__module__, type(estimator).__qualname__, params))
