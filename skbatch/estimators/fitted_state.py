"""The fitted attributes an skbatch estimator sets, and the form each may take.

One list for the two stores that rebuild a fit from a file, the fit cache
(:mod:`skbatch.cache.entry`) and the model file (:mod:`skbatch.saving`,
which encodes each network as an entry).
They store these attributes, set these and no others, and only in these
forms: a file can neither overwrite a param (``lr``) or a method
(``predict``) nor give a restored model a value its own fit could not have
produced (a NaN loss, unsorted ``classes_``).
"""

import math
import numbers

import numpy as np
import torch

from ..training.max_batch import MaxBatchSearch

__all__ = ["FITTED_ATTRIBUTES", "check_fitted_attributes", "same_value"]


def _int(low):
    def check(value):
        return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= low

    return check


def _real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _finite(value):
    return _real(value) and math.isfinite(value)


def _positive(value):
    return _finite(value) and value > 0


def _non_negative(value):
    return _finite(value) and value >= 0


def _optional(check):
    return lambda value: value is None or check(value)


def _list_of(check):
    return lambda value: isinstance(value, list) and all(check(item) for item in value)


def _classes(value):
    # np.unique's result, as fit sets it: sorted and without repeats.
    if not isinstance(value, np.ndarray) or value.ndim != 1 or len(value) < 1:
        return False
    if value.dtype.hasobject and not all(isinstance(item, (str, numbers.Real)) for item in value.tolist()):
        return False
    return bool(np.array_equal(value, np.unique(value)))


def _names(value):
    return isinstance(value, np.ndarray) and value.ndim == 1 and all(isinstance(item, str) for item in value.tolist())


def _shape(value):
    return isinstance(value, tuple) and len(value) >= 1 and all(_int(1)(item) for item in value)


#: Every fitted attribute an estimator of skbatch sets, and a check of its form.
#: ``_multilabel`` is private, but predict reads it: a multilabel fit restored
#: without it would predict one label per sample.
FITTED_ATTRIBUTES = {
    "_multilabel": lambda value: isinstance(value, bool),
    "n_features_in_": _int(1),
    "feature_names_in_": _names,
    "input_shape_": _shape,
    "classes_": _classes,
    "n_outputs_": _int(1),
    "n_iter_": _int(0),
    "t_": _int(0),
    "loss_": _finite,
    "loss_curve_": _list_of(_finite),
    "best_loss_": _optional(_finite),
    "lr_": _positive,
    "batch_size_": _int(1),
    "batch_size_curve_": _list_of(_int(1)),
    "n_updates_per_epoch_": _int(0),
    "noise_scale_curve_": _optional(_list_of(_real)),
    "validation_scores_": _optional(_list_of(_real)),
    "best_validation_score_": _optional(_real),
    "fit_time_": _non_negative,
    "peak_memory_": _optional(_int(0)),
    "max_batch_search_": _optional(lambda value: isinstance(value, MaxBatchSearch)),
    "device_": lambda value: isinstance(value, torch.device),
    "device_uuid_": _optional(lambda value: isinstance(value, str)),
    "device_slot_": _optional(lambda value: isinstance(value, str)),
}


def check_fitted_attributes(attributes):
    """Raise ValueError naming the first of ``attributes`` (a dict) that no fit sets, or sets in another form."""
    for name, value in attributes.items():
        check = FITTED_ATTRIBUTES.get(name)
        if check is None:
            raise ValueError(f"it sets {name!r}, which is not a fitted attribute of an skbatch estimator")
        if not check(value):
            raise ValueError(f"its fitted attribute {name} holds {_short(value)}, which no fit produces")


def _short(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def same_value(a, b):
    """Whether two fitted values are equal, NaN equal to NaN (a loss curve may hold NaN noise scales)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.shape == b.shape
            and all(same_value(x, y) for x, y in zip(a.tolist(), b.tolist()))
        )
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if _real(a) and _real(b) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)
