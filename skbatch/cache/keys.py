"""Cache keys: fingerprints of an estimator's params and of its training data.

One owner for what makes two fits the same fit, read by the fit cache, by
fused training (which stacks fits whose keys differ only in per-model
params) and by the out-of-memory advice (which groups fits by family).

A param is fingerprinted by its content: a tensor by its values, a module
by its class and everything that can change its forward pass (its plain
attributes, parameters, buffers, hooks and submodules, recursively), an
array by its bytes, an estimator by its params, a ``functools.partial``
by its function and arguments, a function or class by its import path. A
param whose content cannot be read exactly (a lambda, a closure, a class
defined inside a function, an object that cannot be pickled) raises
:class:`UnfingerprintableParamError`: a fit with such a param is never
cached, since two such fits could not be told apart.
"""

import enum
import functools
import hashlib
import types

import joblib
import numpy as np
import scipy.sparse
import torch
from sklearn.base import BaseEstimator

__all__ = [
    "CONTINUABLE_PARAMS",
    "UnfingerprintableParamError",
    "combined_key",
    "data_fingerprint",
    "family_fingerprint",
    "family_key",
    "key_fingerprints",
    "params_fingerprint",
    "value_fingerprint",
]

# Bump when the layout or the key changes, so old entries are never misread.
# 2: entries are plain pickles (.pkl), no longer joblib files.
# 3: entries are safetensors files holding their key and JSON state; params
#    are fingerprinted by content.
# 4: fits stop and schedule lr by scikit-learn's rules (training/epoch_rules.py);
#    a format-3 fit of the same params may have stopped at another epoch.
# 5: a module param is fingerprinted by all its attributes (a format-4 key
#    shared one fit between modules differing in a plain attribute); entries
#    carry a checksum and an allowlist of fitted attributes, `_multilabel` included.
# 6: a numeric array's fingerprint is the MD5 of its dtype, shape and bytes,
#    and a key the MD5 of its fingerprints (combined_key), without joblib's
#    Python pickler: the same fits, under other keys.
_FORMAT = 6

# Params that change nothing an entry holds.
_UNKEYED_PARAMS = frozenset({"cache_dir", "verbose"})

# Params a longer fit can differ in and still continue a shorter one from its checkpoint.
CONTINUABLE_PARAMS = frozenset({"max_epochs"})

# Params that change neither the memory a training step needs nor the model.
_FAMILY_EXCLUDED_PARAMS = frozenset({"batch_size", "cache_dir", "verbose", "random_state"})

# Objects nested deeper than this are not fingerprinted (and a cycle ends here).
_MAX_DEPTH = 50

# joblib.hash of params fingerprints, by their repr (see _hash_params); emptied when full.
_PARAMS_HASHES = {}
_MAX_PARAMS_HASHES = 4096


class UnfingerprintableParamError(ValueError):
    """A param whose content cannot be fingerprinted exactly, so its fit cannot be cached."""


def _path(obj):
    return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', type(obj).__qualname__)}"


def _tensor(tensor):
    requires_grad = tensor.requires_grad
    tensor = tensor.detach().cpu().contiguous()
    raw = tensor.reshape(-1).view(torch.uint8).numpy() if tensor.numel() else np.empty(0, np.uint8)
    return ("tensor", str(tensor.dtype), tuple(tensor.shape), requires_grad, joblib.hash(raw))


def _module_state(module):
    """A module's ``__dict__`` with hook handles renumbered by registration order.

    Hook dicts are keyed by a process-wide counter, which differs between
    runs for the same module; their order is what the forward pass follows.
    """
    state = dict(vars(module))
    hook_ids = sorted({k for name, v in state.items() if "hooks" in name and isinstance(v, dict) for k in v})
    rank = {hook_id: index for index, hook_id in enumerate(hook_ids)}
    for name, value in state.items():
        if "hooks" in name and isinstance(value, dict):
            state[name] = [(rank[k], v) for k, v in value.items()]
    return state


def _named(obj, what):
    qualname = getattr(obj, "__qualname__", "")
    if "<lambda>" in qualname or "<locals>" in qualname:
        raise UnfingerprintableParamError(f"{what} {qualname} is defined inside a function, so its code is not reachable by name")
    return (what, _path(obj))


def value_fingerprint(value, _depth=0):
    """A hashable, content-based stand-in for ``value``; raise UnfingerprintableParamError if none is exact."""
    if _depth > _MAX_DEPTH:
        raise UnfingerprintableParamError(f"a {type(value).__name__} nested too deep to fingerprint")
    again = functools.partial(value_fingerprint, _depth=_depth + 1)
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return (type(value).__name__, value)
    if isinstance(value, (np.generic, np.dtype, torch.dtype, torch.device, enum.Enum)):
        return (_path(type(value)), repr(value))
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            return ("ndarray", value.shape, tuple(again(item) for item in value.ravel().tolist()))
        return ("ndarray", joblib.hash(value))
    if isinstance(value, torch.Tensor):
        return _tensor(value)
    if isinstance(value, torch.nn.Module):
        # Every attribute, not the repr and state_dict: a plain attribute
        # (a scale factor) or a non-persistent buffer changes the forward
        # pass without showing in either.
        return ("module", again(type(value)), again(_module_state(value)))
    if isinstance(value, dict):
        return ("dict", tuple(sorted(((again(k), again(v)) for k, v in value.items()), key=repr)))
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [again(item) for item in value]
        return (type(value).__name__, tuple(sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items))
    if isinstance(value, functools.partial):
        return ("partial", again(value.func), again(value.args), again(value.keywords))
    if isinstance(value, type):
        return _named(value, "class")
    if isinstance(value, types.MethodType):
        return ("method", again(value.__func__), again(value.__self__))
    if isinstance(value, types.FunctionType):
        if value.__closure__:
            raise UnfingerprintableParamError(f"function {value.__qualname__} is a closure over local values")
        return _named(value, "function")
    if isinstance(value, (types.BuiltinFunctionType, types.ModuleType)):
        return ("builtin", getattr(value, "__module__", None), getattr(value, "__qualname__", value.__name__))
    if isinstance(value, BaseEstimator):
        return ("estimator", again(type(value)), again(value.get_params(deep=False)))
    if isinstance(value, scipy.sparse.spmatrix) or scipy.sparse.issparse(value):
        return ("sparse", joblib.hash(value.tocsr()))
    state = getattr(value, "__dict__", None)
    if isinstance(state, dict):
        return ("object", again(type(value)), again(dict(state)))
    try:
        return ("pickled", _path(type(value)), joblib.hash(value))
    except Exception as error:
        raise UnfingerprintableParamError(f"a {type(value).__name__} has no state that can be read ({type(error).__name__})") from None


def _params(estimator, excluded):
    fingerprints = {}
    for name, value in estimator.get_params(deep=False).items():
        if name in excluded:
            continue
        try:
            fingerprints[name] = value_fingerprint(value)
        except UnfingerprintableParamError as error:
            raise UnfingerprintableParamError(
                f"The {name!r} param of {type(estimator).__name__} cannot be fingerprinted exactly: {error}"
            ) from None
    return fingerprints


# The types whose repr is exact (a float's too, but for NaN): see _spelled_exactly.
_EXACT_TYPES = frozenset({str, int, bool, type(None), bytes})


def _spelled_exactly(value):
    """Whether ``repr(value)`` tells ``value`` apart from any other value that pickles differently.

    True for tuples of strs, ints, bools, None, bytes and floats (Python's
    or numpy's float64, whose repr is exact too), exactly those types, but
    a NaN (whose repr hides its payload, which pickle keeps): what
    :func:`value_fingerprint` makes of plain params. A loop, not a
    recursion: it runs over every item of every key's params.
    """
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is tuple:
            pending.extend(item)
        elif kind is float or kind is np.float64:
            if item != item:
                return False
        elif kind not in _EXACT_TYPES:
            return False
    return True


def _hash_params(whole, head, params):
    """``joblib.hash(whole)``, where ``whole`` holds ``head`` and the dict ``params`` of param fingerprints.

    joblib's hasher pickles in Python, some 0.5 ms for an estimator's
    params, and a fused search hashes the same params again and again (each
    fit's key at training and at restore, its stack, its record). So the
    hash is remembered by the repr of ``head`` (all of ``whole`` but
    ``params``, with a tag naming the caller) and of ``params``' items,
    where every fingerprint is spelled exactly by its repr: equal reprs then
    mean equal pickles, and the same hash. Others are hashed every time.
    """
    items = tuple(sorted(params.items()))
    if not _spelled_exactly((head, items)):
        return joblib.hash(whole)
    spelled = repr((head, items))
    found = _PARAMS_HASHES.get(spelled)
    if found is None:
        if len(_PARAMS_HASHES) >= _MAX_PARAMS_HASHES:
            _PARAMS_HASHES.clear()
        found = _PARAMS_HASHES[spelled] = joblib.hash(whole)
    return found


def _family(estimator, n_features_in):
    # A param that cannot be fingerprinted makes a family of its own, in this
    # process (its identity): the advice never borrows another family's sizes.
    try:
        params = _params(estimator, _FAMILY_EXCLUDED_PARAMS)
    except UnfingerprintableParamError:
        params = ("unfingerprintable", id(estimator))
    return type(estimator).__qualname__, params, int(n_features_in)


def family_fingerprint(estimator, n_features_in):
    """What decides memory per sample, as a hashable tuple: every param but batch size, and the input width.

    The key of this process's own tables: :func:`family_key`'s hash, which
    records need, would cost every fit milliseconds.
    """
    name, params, n_features = _family(estimator, n_features_in)
    return name, tuple(sorted(params.items())) if isinstance(params, dict) else params, n_features


def family_key(estimator, n_features_in):
    """Hash of what decides memory per sample (see :func:`family_fingerprint`), for records other processes read."""
    whole = _family(estimator, n_features_in)
    name, params, n_features = whole
    if not isinstance(params, dict):  # unfingerprintable: a family of this estimator alone
        return joblib.hash(whole)
    return _hash_params(whole, ("family", name, n_features), params)


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
    array = np.asarray(data)
    if array.dtype.hasobject:
        return joblib.hash((names, array))
    # Values, not layout: the bytes in C order, with the dtype (byte order and
    # fields included) and the shape. A fused search fingerprints every
    # fold, and joblib's hash of a small array is mostly its Python pickler.
    digest = hashlib.md5(repr((names, array.dtype.descr, array.shape)).encode())
    digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


def combined_key(*fingerprints):
    """One key for several fingerprints (hex strings): the MD5 of them joined."""
    return hashlib.md5("|".join(fingerprints).encode()).hexdigest()


def key_fingerprints(estimator):
    """``(params_fingerprint(estimator), params_fingerprint(estimator, ignore=CONTINUABLE_PARAMS))``, reading the params once.

    A fit cache key holds both: the fit's own, and the one it shares with
    the fits it could continue or be continued by.
    """
    params = _params(estimator, _UNKEYED_PARAMS)
    continuable = {name: value for name, value in params.items() if name not in CONTINUABLE_PARAMS}
    return _params_hash(estimator, params), _params_hash(estimator, continuable)


def _params_hash(estimator, params):
    """The hash of ``estimator``'s class and ``params`` (fingerprints from :func:`_params`), under this cache format."""
    head = (_FORMAT, type(estimator).__module__, type(estimator).__qualname__)
    return _hash_params((*head, params), ("params", *head), params)


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

    Raises
    ------
    UnfingerprintableParamError
        If a param's content cannot be fingerprinted exactly (see the module docstring).
    """
    return _params_hash(estimator, _params(estimator, _UNKEYED_PARAMS | ignore))
