"""Save a fitted skbatch model to one file that loads without running code from it, and load it back.

:func:`save` takes a fitted skbatch estimator, a Pipeline ending in one, a
:class:`~sklearn.compose.TransformedTargetRegressor` whose regressor is
either, or a Pipeline ending in such a regressor (what ``skbatch search``
fits when it scales the target). The file is a zip, stored uncompressed:

- ``header.json``: the format (:data:`FORMAT`) and the model's outline, a
  tree of parts: ``pipeline`` (its steps before the last), ``target`` (a
  TransformedTargetRegressor without its regressor) and ``network`` (the
  class, one of :data:`LOADABLE`, and its params as JSON);
- ``parts/<i>.skops``: each Pipeline and target scaler, fitted, with the
  network's place left empty, as a `skops <https://skops.readthedocs.io>`_
  file;
- ``networks/<i>.safetensors``: each network's fitted state, encoded as a
  fit cache entry is (:func:`skbatch.cache.entry.encode_state`): weights
  and optimizer state as tensors, fitted attributes and history as JSON,
  with a checksum.

:func:`load` builds nothing that is not on a list: the estimator classes of
:data:`LOADABLE`, built from params that pass their own validation before
any network is allocated; fitted attributes from
:data:`~skbatch.estimators.fitted_state.FITTED_ATTRIBUTES` in a form a fit
produces; finite tensors of the rebuilt network's shapes; and skops parts
read by ``skops.io.loads``, trusting skops' defaults and what the caller
names in ``trusted``. The network class of a TorchClassifier or
TorchRegressor is user code: it is imported by its name only when the
caller names it in ``trusted``.
"""

import copy
import importlib
import io
import json
import re
import zipfile
from pathlib import Path

import torch

from ._optional import import_optional
from .cache.atomic import atomic_write
from .cache.entry import UnstorableStateError, decode_state, encode_state, from_json, pack_entry, read_entry, to_json

__all__ = ["FORMAT", "LOADABLE", "UntrustedModuleError", "get_untrusted_types", "load", "save"]

#: The format :func:`save` writes and :func:`load` reads; files of other versions are refused.
#: Version 3 is the first of this layout; 1 and 2 were skops files of ``skbatch.model_file``.
FORMAT = "skbatch-model/3"
#: The estimators :func:`load` rebuilds, by class name.
LOADABLE = ("MLPClassifier", "MLPRegressor", "ConvNetClassifier", "TorchClassifier", "TorchRegressor")
_USER_MODULE = ("TorchClassifier", "TorchRegressor")
_HEADER = "header.json"
# Deeper than any model save writes (a Pipeline around a target scaler around a Pipeline).
_MAX_DEPTH = 8
_SAVED_WHERE = "save the model again with skbatch.save"


def _estimator_classes():
    from .estimators.convnet import ConvNetClassifier
    from .estimators.custom import TorchClassifier, TorchRegressor
    from .estimators.mlp import MLPClassifier, MLPRegressor

    classes = (MLPClassifier, MLPRegressor, ConvNetClassifier, TorchClassifier, TorchRegressor)
    return {cls.__name__: cls for cls in classes}


def _skops():
    return import_optional("skops.io", needed_by="skbatch.save and skbatch.load of the steps around a network")


def save(model, path):
    """Save a fitted skbatch model to ``path``, in a file that :func:`load` reads without running code.

    Parameters
    ----------
    model : fitted estimator
        An MLPClassifier, MLPRegressor, ConvNetClassifier, TorchClassifier
        or TorchRegressor; a Pipeline ending in one; a
        TransformedTargetRegressor whose ``regressor`` is either; or a
        Pipeline ending in such a TransformedTargetRegressor. For a search,
        pass its ``best_estimator_``. The steps around the network are
        stored by skops (scikit-learn's transformers need no trusting).
    path : str or path-like
        The file; ``.skbatch`` is the usual suffix. Written whole or not at
        all: everything is encoded before the file is written, to a
        temporary name moved into place.

    Raises
    ------
    TypeError
        If a part of ``model`` is not one of these, or a param of the
        network holds something other than plain values (a
        ``RandomState``, callbacks), or a TorchClassifier's ``module`` is
        a class defined inside a function.
    sklearn.exceptions.NotFittedError
        If the network is not fitted.
    ModuleNotFoundError
        If ``model`` has steps around the network and skops is not
        installed (``pip install 'skbatch[cli]'``); a network alone needs
        no skops.

    Notes
    -----
    ``cache_dir`` is saved as None (a folder of the machine that trained
    the model), and a ``device`` given as a DevicePool as ``'auto'``.
    """
    parts = {}
    outline = _encode(model, parts)
    header = json.dumps({"format": FORMAT, "model": outline}, indent=1).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(_HEADER, header)
        for name, data in parts.items():
            archive.writestr(name, data)
    data = buffer.getvalue()
    atomic_write(path, lambda handle: handle.write(data))


def _encode(model, parts):
    """The outline of ``model`` for the header; its parts' bytes go into ``parts`` (name: bytes)."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.utils.validation import check_is_fitted

    if hasattr(model, "cv_results_") and hasattr(model, "best_estimator_"):
        raise TypeError(
            f"skbatch.save saves a fitted model, not a {type(model).__name__}: pass its best_estimator_, "
            "skbatch.save(search.best_estimator_, path)"
        )
    if type(model) is Pipeline:
        name, last = model.steps[-1]
        shell = copy.copy(model)
        shell.steps = [*model.steps[:-1], (name, "passthrough")]
        return {"kind": "pipeline", "file": _add_skops(parts, shell), "last": _encode(last, parts)}
    if type(model) is TransformedTargetRegressor:
        check_is_fitted(model)
        # The regressor param is an unfitted copy of regressor_'s params: load rebuilds it from regressor_.
        shell = copy.copy(model)
        shell.regressor = shell.regressor_ = None
        return {"kind": "target", "file": _add_skops(parts, shell), "regressor": _encode(model.regressor_, parts)}
    name = type(model).__name__
    if _estimator_classes().get(name) is not type(model):
        raise TypeError(
            f"skbatch.save saves {', '.join(LOADABLE)}, alone, at the end of a Pipeline, or as the regressor "
            f"of a TransformedTargetRegressor; got {type(model).__qualname__}. For other models, "
            "pickle or skops them (a pickle only for files you trust)."
        )
    check_is_fitted(model)
    params, module = _params_json(model)
    tensors, state = encode_state(model)
    member = f"networks/{len(parts)}.safetensors"
    parts[member] = pack_entry(tensors, json.dumps({"format": FORMAT, **state}))
    outline = {"kind": "network", "class": name, "params": params, "file": member}
    if module is not None:
        outline["module"] = module
    return outline


def _add_skops(parts, shell):
    member = f"parts/{len(parts)}.skops"
    parts[member] = _skops().dumps(shell)
    return member


def _params_json(model):
    """``(params, module)``: the network's params as JSON, and its user module class's import name, or None."""
    params = model.get_params(deep=False)
    owner = type(model).__name__
    params["cache_dir"] = None  # a folder of the machine that trained it
    if isinstance(params["device"], torch.device):
        params["device"] = str(params["device"])
    elif not isinstance(params["device"], str):
        params["device"] = "auto"  # a DevicePool: devices of the machine that trained it
    module = None
    if owner in _USER_MODULE:
        module = _class_name(params["module"], owner)
        params["module"] = None  # named in the outline, imported on load only if trusted
    stored = {}
    for name, value in params.items():
        try:
            stored[name] = to_json(value, f"its param {name}")
        except UnstorableStateError as error:
            raise UnstorableStateError(
                f"skbatch.save stores params of plain values (numbers, strings, lists, dicts) and {owner}'s "
                f"{error.args[0].removeprefix('its ')}: set it to a plain value with set_params before saving"
            ) from None
    return stored, module


def _class_name(cls, owner):
    """``cls``'s import name, checked to find ``cls`` again: what load imports when trusted."""
    name = f"{cls.__module__}.{cls.__qualname__}"
    if "<locals>" in cls.__qualname__ or _import_class(cls.__module__, cls.__qualname__) is not cls:
        raise TypeError(
            f"skbatch.save cannot save {owner}'s module {name}: load imports the network class by its name, "
            "and this class cannot be found by it (it is defined inside a function). Define it at module level."
        )
    return {"module": cls.__module__, "qualname": cls.__qualname__}


def _import_class(module, qualname):
    try:
        found = importlib.import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError):
        return None
    return found


def load(path, *, trusted=None):
    """Load a model written by :func:`save`; nothing in the file is run.

    Parameters
    ----------
    path : str or path-like
        The file.
    trusted : list of str, default=None
        Types to trust beyond the defaults: the steps around the network
        that skops does not trust by default (see
        :func:`get_untrusted_types`), and the ``module`` class of a
        TorchClassifier or TorchRegressor, by its import name
        (``"mypackage.nets.Net"``), which load then imports. Trust only
        the code you would run.

    Returns
    -------
    estimator
        The model as saved, its networks on the CPU (their ``device``
        param picks the device of a later ``fit``), able to predict and to
        keep training (``warm_start``, ``partial_fit``).

    Raises
    ------
    ValueError
        If the file is not a model file of this format version (the
        version it has is named), is truncated or damaged, or holds a
        class that is not on the list, a param that the estimator's own
        validation refuses (an ``InvalidParameterError`` naming it), a name
        that is not a fitted attribute, or weights that are not finite or
        not of the rebuilt network's shapes and dtypes.
    skops.io.exceptions.UntrustedTypesFoundException
        If a step around the network is of a type that neither skops nor
        ``trusted`` trusts: the error names them.
    UntrustedModuleError
        A TypeError: if a network's module class is not named in ``trusted``.
    """
    from ._compat import InvalidParameterError

    trusted = _check_trusted(trusted)
    archive = _open(path)
    reader = _Reader(archive, path)
    try:
        model = _decode(reader.outline(), reader, trusted, depth=0)
    except InvalidParameterError as error:  # a ValueError and a TypeError: the param's own message
        raise InvalidParameterError(f"{str(path)!r} cannot be loaded: {error}") from None
    except (UntrustedModuleError, *_skops_trust_errors()):
        raise
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"{str(path)!r} is not a model file written by skbatch.save ({type(error).__name__}: {error})") from None
    except ValueError as error:
        raise ValueError(f"{str(path)!r} cannot be loaded: {error}") from None
    reader.check_all_read()
    return model


def get_untrusted_types(path):
    """The types in the file at ``path`` that :func:`load` trusts only if named in ``trusted``.

    Review them before passing them to ``load(path, trusted=...)``: a
    trusted type's code runs on load. Reading the list runs nothing.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    list of str
    """
    reader = _Reader(_open(path), path)
    found, stack = set(), [reader.outline()]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict) or len(stack) > _MAX_DEPTH:
            raise ValueError(f"{str(path)!r} is not a model file written by skbatch.save: its outline is damaged")
        if node.get("kind") in ("pipeline", "target"):
            found.update(_skops().get_untrusted_types(data=reader.read(node.get("file"))))
        module = node.get("module")
        if isinstance(module, dict):
            found.add(f"{module.get('module')}.{module.get('qualname')}")
        stack.extend(node[key] for key in ("last", "regressor") if key in node)
    return sorted(found)


def _check_trusted(trusted):
    trusted = [] if trusted is None else trusted
    if isinstance(trusted, str) or not all(isinstance(name, str) for name in trusted):
        raise TypeError(f"skbatch.load's trusted must be a list of type names (str), e.g. ['mypackage.nets.Net']. Got {trusted!r}")
    return list(trusted)


def _skops_trust_errors():
    """skops's refusal of an untrusted type, which :func:`load` raises as it is; none without skops."""
    try:
        from skops.io.exceptions import UntrustedTypesFoundException
    except ImportError:
        return ()
    return (UntrustedTypesFoundException,)


class UntrustedModuleError(TypeError):
    """The network class of a model file, which :func:`load` imports only if the caller trusts it by name."""


def _open(path):
    """The file at ``path`` as a zip archive; ValueError naming the version of an older model file."""
    data = Path(path).read_bytes()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as error:
        raise ValueError(f"{str(path)!r} is not a readable skbatch model file (BadZipFile: {error}); {_SAVED_WHERE}") from None
    names = archive.namelist()
    if _HEADER not in names:
        old = _skops_file_format(archive) if "schema.json" in names else None
        if old is not None:
            raise ValueError(
                f"{str(path)!r} is a model file of format {old}, written by an older skbatch "
                f"(skbatch.model_file.save_model); this skbatch reads format {FORMAT} only. Fit the model and "
                "save it again with skbatch.save."
            )
        raise ValueError(f"{str(path)!r} is not a model file written by skbatch.save (it has no {_HEADER})")
    return archive


def _skops_file_format(archive):
    """The ``format`` of a model file of ``skbatch.model_file`` (a skops file), read as JSON; or None."""
    try:
        schema = json.loads(archive.read("schema.json"))
        text = json.loads(schema["content"]["format"]["content"])
    except (ValueError, KeyError, TypeError, zipfile.BadZipFile):
        return None
    return text if isinstance(text, str) and re.fullmatch(r"skbatch-model/\d+", text) else None


class _Reader:
    """The members of one model file, each read once and checked to be as save writes it."""

    def __init__(self, archive, path):
        self.archive, self.path, self.read_names = archive, path, {_HEADER}

    def read(self, name):
        if not isinstance(name, str) or name not in self.archive.namelist():
            raise ValueError(f"its outline names a part {name!r} that it does not hold")
        info = self.archive.getinfo(name)
        if info.compress_type != zipfile.ZIP_STORED:
            raise ValueError(f"its part {name} is compressed, which skbatch.save never does")
        try:
            data = self.archive.read(name)
        except (zipfile.BadZipFile, OSError, EOFError) as error:  # a CRC that does not match, a truncated part
            raise ValueError(
                f"{str(self.path)!r} is not a readable skbatch model file ({type(error).__name__}: {error}); {_SAVED_WHERE}"
            ) from None
        self.read_names.add(name)
        return data

    def outline(self):
        try:
            header = json.loads(self.read(_HEADER))
        except (ValueError, UnicodeDecodeError) as error:
            raise ValueError(f"{str(self.path)!r} is not a model file written by skbatch.save ({error})") from None
        fmt = header.get("format") if isinstance(header, dict) else None
        if fmt != FORMAT:
            raise ValueError(
                f"{str(self.path)!r} is a model file of format {fmt!r}; this skbatch reads format {FORMAT} only. "
                "Load it with the skbatch that wrote it, or fit the model and save it again with this one."
            )
        return header.get("model")

    def check_all_read(self):
        extra = sorted(set(self.archive.namelist()) - self.read_names)
        if extra:
            raise ValueError(
                f"{str(self.path)!r} cannot be loaded: it holds {extra}, which its outline does not name. skbatch.save writes no such file"
            )


def _decode(node, reader, trusted, depth):
    """The model the outline ``node`` describes, each part checked before it is built."""
    from sklearn.base import clone
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import Pipeline

    if depth > _MAX_DEPTH or not isinstance(node, dict):
        raise ValueError("its outline is not one that skbatch.save writes")
    kind = node.get("kind")
    if kind == "network":
        return _load_network(node, reader, trusted)
    if kind not in ("pipeline", "target"):
        raise ValueError(f"its outline holds a part of kind {kind!r}, which skbatch.save never writes")
    shell = _load_skops(reader.read(node["file"]), trusted, node["file"])
    if kind == "pipeline":
        if type(shell) is not Pipeline or not shell.steps or shell.steps[-1][1] != "passthrough":
            raise ValueError(f"its part {node['file']} is not the Pipeline around a network that save writes")
        last = _decode(node["last"], reader, trusted, depth + 1)
        shell.steps = [*shell.steps[:-1], (shell.steps[-1][0], last)]
        return shell
    if type(shell) is not TransformedTargetRegressor or shell.regressor is not None or shell.regressor_ is not None:
        raise ValueError(f"its part {node['file']} is not the TransformedTargetRegressor that save writes")
    shell.regressor_ = _decode(node["regressor"], reader, trusted, depth + 1)
    shell.regressor = clone(shell.regressor_)
    return shell


def _load_skops(data, trusted, name):
    sio = _skops()
    try:
        return sio.loads(data, trusted=trusted)
    except sio.exceptions.UntrustedTypesFoundException as error:
        error.args = (
            f"{error.args[0]}\nskbatch.load trusts skops' defaults only: if you trust these types, pass them "
            "as skbatch.load(path, trusted=[...]) (their code runs on load).",
        )
        raise
    except Exception as error:  # a damaged part: zipfile, JSON and numpy each raise their own
        raise ValueError(f"its part {name} is not a readable skops file ({type(error).__name__}: {error})") from None


def _load_network(node, reader, trusted):
    from .estimators.aliases import check_aliases

    classes = _estimator_classes()
    name = node.get("class")
    cls = classes.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"it holds an estimator of class {name!r}, which is not one skbatch loads ({', '.join(LOADABLE)})")
    if not isinstance(node.get("params"), dict):
        raise ValueError("its params must be a dict")
    params = {key: from_json(value) for key, value in node["params"].items()}
    expected = set(cls().get_params(deep=False))
    if set(params) != expected:
        raise ValueError(
            f"its params {sorted(set(params) ^ expected)} are not those of {cls.__name__}: skbatch.save writes every param, and only those"
        )
    if name in _USER_MODULE:
        params["module"] = _trusted_module(node.get("module"), trusted)
    estimator = cls(**params)
    # The checks of fit, before anything is built from the params.
    estimator._validate_params()
    check_aliases(estimator)
    estimator._check_params()
    tensors, state = read_entry(reader.read(node["file"]), FORMAT)
    if state.get("estimator") != cls.__qualname__:
        raise ValueError(f"its part {node['file']} holds the state of a {state.get('estimator')!r}, not of a {name}")
    decode_state(tensors, state, estimator, device=torch.device("cpu"))
    return estimator


def _trusted_module(module, trusted):
    """The user's network class the outline names, imported only if ``trusted`` names it."""
    names = (module or {}).get("module"), (module or {}).get("qualname")
    if not all(isinstance(part, str) and re.fullmatch(r"[A-Za-z_][\w.]*", part) for part in names):
        raise ValueError(f"its network class is named {module!r}, not by an import name")
    full = ".".join(names)
    if full not in trusted:
        raise UntrustedModuleError(
            f"the model's network is of class {full}, user code that loading would import and run. If you "
            f"trust it, pass skbatch.load(path, trusted=[{full!r}]); it must be importable by that name."
        )
    cls = _import_class(*names)
    if not isinstance(cls, type) or not issubclass(cls, torch.nn.Module):
        raise ValueError(f"its network class {full} is not a torch.nn.Module subclass that can be imported by that name")
    return cls
