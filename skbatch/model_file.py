"""Save a fitted skbatch model to a file that loads without running code from it, and load it back.

The file is a `skops <https://skops.readthedocs.io>`_ file (``skops.io``):
a zip of JSON and ``.npy`` arrays, read without ``pickle``. skops cannot
hold a fitted skorch net as it is (skorch pickles its modules through
``torch.save``, and unpickling runs code), so the file holds the parts of
the model that skops and numpy store as data:

- ``preprocessing``: the fitted steps before the network (scikit-learn
  transformers, which skops stores natively), or None;
- ``estimator``: the class name of the skbatch estimator, one of a fixed
  list (:data:`SAVABLE`); ``params``: its ``get_params(deep=False)``;
- ``fitted``: its learned attributes of plain types (``classes_``,
  ``n_features_in_``, ``input_shape_``, ``feature_names_in_``, whether it
  is multilabel, ...), from
  :data:`~skbatch.estimators.fitted_state.FITTED_ATTRIBUTES`;
- ``state_dict``: the network's weights as float arrays.

:func:`load_model` reads the file with ``skops.io.load``, trusting no
type beyond skops' defaults, then rebuilds the estimator from skbatch's
own (installed) code and loads the weights. It sets only params that pass
the estimator's own validation (before the network is built, so a size
no machine could hold is refused, not allocated), fitted attributes from
that list, each of a form a fit produces, and finite weights of the
shapes and dtypes the rebuilt network has. The optimizer state is not
saved: the model predicts, and a ``fit`` on it starts afresh.
"""

import numbers

import numpy as np

__all__ = ["SAVABLE", "save_model", "load_model"]

# 2: fitted attributes come from FITTED_ATTRIBUTES, ``_multilabel`` included;
#    a format-1 file does not say whether its model is multilabel.
_FORMAT = "skbatch-model/2"
#: The estimators whose network :func:`load_model` can rebuild from params alone.
SAVABLE = ("MLPClassifier", "MLPRegressor", "ConvNetClassifier")
# Fitted attributes that are not data: the device is chosen again, the net rebuilt.
_SKIPPED = {"net_", "device_", "device_uuid_", "device_slot_", "max_batch_search_"}


def _estimator_classes():
    from .estimators.convnet import ConvNetClassifier
    from .estimators.mlp import MLPClassifier, MLPRegressor

    return {cls.__name__: cls for cls in (MLPClassifier, MLPRegressor, ConvNetClassifier)}


def _skops():
    try:
        import skops.io
    except ImportError:
        raise ImportError(
            "saving and loading skbatch models needs skops, which is not installed: "
            "pip install 'skbatch[cli]'"
        ) from None
    return skops.io


def _plain(value):
    """``value`` if skops stores it as data (no object arrays, no arbitrary classes), else None."""
    if value is None or isinstance(value, (bool, str, numbers.Number)):
        return value if not isinstance(value, np.generic) else value.item()
    if isinstance(value, np.ndarray):
        return value if value.dtype != object else None
    if isinstance(value, (list, tuple)):
        items = [_plain(v) for v in value]
        if any(i is None and v is not None for i, v in zip(items, value)):
            return None
        return type(value)(items)
    return None


def _split(model):
    """``(preprocessing, estimator, step_name)`` of a fitted skbatch estimator or Pipeline ending in one."""
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline):
        name, estimator = model.steps[-1]
        return (model[:-1] if len(model.steps) > 1 else None), estimator, name
    return None, model, None


def save_model(model, path):
    """Save a fitted skbatch estimator, or a Pipeline ending in one, to ``path`` (a skops file).

    Parameters
    ----------
    model : fitted MLPClassifier, MLPRegressor, ConvNetClassifier, or Pipeline ending in one
        The preprocessing steps must be scikit-learn transformers that skops
        stores (``StandardScaler``, ``ColumnTransformer``, ``OneHotEncoder``
        and the like).
    path : str or path-like
        Where to write; ``.skops`` is the usual suffix.

    Raises
    ------
    TypeError
        If the estimator is not one of :data:`SAVABLE`, or a param holds
        something other than plain values (a class, a DevicePool).
    ImportError
        If skops is not installed.
    """
    from sklearn.utils.validation import check_is_fitted

    from .estimators.fitted_state import FITTED_ATTRIBUTES

    sio = _skops()
    preprocessing, estimator, step = _split(model)
    name = type(estimator).__name__
    if name not in SAVABLE or type(estimator) is not _estimator_classes()[name]:
        raise TypeError(
            f"save_model saves {', '.join(SAVABLE)} (alone or at the end of a Pipeline); got {name}. "
            "For other estimators, pickle them (only for files you trust)."
        )
    check_is_fitted(estimator)
    params = estimator.get_params(deep=False)
    params["cache_dir"] = None  # a path on the machine that trained it
    if not isinstance(params["device"], str):
        params["device"] = "auto"
    bad = sorted(key for key, value in params.items() if value is not None and _plain(value) is None)
    if bad:
        raise TypeError(f"save_model stores plain param values; {name}'s {', '.join(bad)} hold other objects")
    fitted, object_arrays = {}, []
    for key, value in vars(estimator).items():
        if key not in FITTED_ATTRIBUTES or key in _SKIPPED:
            continue
        if isinstance(value, np.ndarray) and value.dtype == object:
            # Labels and feature names as strings: an object array would need pickle.
            value, object_arrays = value.tolist(), [*object_arrays, key]
        plain = _plain(value)
        if plain is not None:
            fitted[key] = plain
    state_dict = {
        key: tensor.detach().cpu().numpy() for key, tensor in estimator.net_.module_.state_dict().items()
    }
    content = {
        "format": _FORMAT,
        "estimator": name,
        "step": step,
        "params": params,
        "fitted": fitted,
        "object_arrays": object_arrays,
        "state_dict": state_dict,
        "preprocessing": preprocessing,
    }
    sio.dump(content, path)


def load_model(path, *, trusted=None):
    """Load a model written by :func:`save_model`; nothing in the file is run.

    Parameters
    ----------
    path : str or path-like
        The file.
    trusted : list of str, default=None
        Types to trust beyond skops' defaults, for preprocessing steps skops
        does not know (see ``skops.io.get_untrusted_types``).

    Returns
    -------
    estimator or Pipeline
        As saved, on the CPU (its ``device`` param picks the device of a
        later ``fit``).

    Raises
    ------
    skops.io.exceptions.UntrustedTypesFoundException
        If the file holds types neither skops nor ``trusted`` trusts.
    ValueError
        If the file is not an skbatch model file of this version, is
        truncated or damaged, or holds a param that the estimator's own
        validation refuses (an ``InvalidParameterError`` naming it), a
        name that is not a fitted attribute (``predict``, ``lr``), or
        weights that are not finite or not of the rebuilt network's shapes
        and dtypes.
    """
    from sklearn.pipeline import Pipeline

    sio = _skops()
    try:
        content = sio.load(path, trusted=list(trusted or []))
    except (sio.exceptions.UntrustedTypesFoundException, FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except Exception as error:  # a truncated or damaged file: zipfile, JSON and numpy each raise their own
        raise ValueError(
            f"{str(path)!r} is not a readable model file ({type(error).__name__}: {error}). "
            "Save the model again with skbatch.model_file.save_model."
        ) from None
    if not isinstance(content, dict) or content.get("format") != _FORMAT:
        older = isinstance(content, dict) and content.get("format") == "skbatch-model/1"
        raise ValueError(
            f"{str(path)!r} is not a model file written by skbatch.model_file.save_model"
            + (" of this version: its format, skbatch-model/1, does not say whether the model is "
               "multilabel. Fit and save the model again." if older else "")
        )
    from ._compat import InvalidParameterError

    try:
        estimator = _rebuild(content)
    except InvalidParameterError as error:  # a ValueError and a TypeError: the param's own message
        raise InvalidParameterError(f"{str(path)!r} cannot be loaded: {error}") from None
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"{str(path)!r} is not a model file written by save_model: {error}") from None
    except ValueError as error:
        raise ValueError(f"{str(path)!r} cannot be loaded: {error}") from None
    if content["preprocessing"] is None:
        return estimator
    return Pipeline([*content["preprocessing"].steps, (content["step"], estimator)])


def _rebuild(content):
    """The estimator ``content`` describes, each part checked before it is set; raise ValueError."""
    import torch

    from ._compat import InvalidParameterError
    from .cache.entry import check_tensors_like
    from .estimators.aliases import check_aliases
    from .estimators.fitted_state import check_fitted_attributes

    cls = _estimator_classes().get(content["estimator"])
    if cls is None:
        raise ValueError(f"it holds a {content['estimator']!r}, which this skbatch cannot rebuild")
    params, fitted, state_dict = content["params"], content["fitted"], content["state_dict"]
    if not all(isinstance(part, dict) for part in (params, fitted, state_dict)):
        raise ValueError("its params, fitted attributes and weights must each be a dict")
    unknown = sorted(set(params) - set(cls().get_params(deep=False)))
    if unknown:
        raise ValueError(f"it sets {unknown}, which are not params of {cls.__name__}")
    estimator = cls(**params)
    # The checks of fit, before anything is built from the params.
    estimator._validate_params()
    check_aliases(estimator)
    estimator._check_params()
    fitted = {
        key: np.asarray(value, dtype=object) if key in content["object_arrays"] else value
        for key, value in fitted.items()
    }
    check_fitted_attributes(fitted)
    vars(estimator).update(fitted)
    estimator.device_ = torch.device("cpu")
    try:
        estimator.net_ = estimator._make_net(estimator.n_features_in_, estimator._n_module_outputs(), seed=0)
    except InvalidParameterError:
        raise
    except AttributeError as error:
        raise ValueError(f"it lacks a fitted attribute the network is built from ({error})") from None
    if not all(isinstance(array, np.ndarray) for array in state_dict.values()):
        raise ValueError("its weights must be arrays")
    weights = {key: torch.from_numpy(np.array(array)) for key, array in state_dict.items()}
    module = estimator.net_.module_
    check_tensors_like(weights, module.state_dict(), "its weights")
    module.load_state_dict(weights)
    module.eval()
    return estimator
