"""One fit-cache entry as bytes that load without running code: tensors in safetensors, the rest in JSON.

A model file (:mod:`skbatch.saving`) stores each of its networks in the
same encoding (:func:`encode_state`, :func:`decode_state`), with its
params in the file's header instead of a cache key.

An entry is a single safetensors file. Its tensors are the weights and
optimizer state of the fitted net (and the state of its shuffling
generator); its metadata holds the entry's key, the format, the fitted
attributes and the net's history as JSON. Loading reads numbers and
strings only: the estimator is rebuilt from its own params and the
data-derived shapes (``n_features_in_``, ``classes_`` or ``n_outputs_``,
``input_shape_``), and the tensors are copied into it.

JSON values are tagged where JSON has no type of its own (tuples, arrays,
devices); a value of any other type is not stored, and :func:`encode`
raises :class:`UnstorableStateError`. Only the types listed here are ever
rebuilt on load: nothing in an entry names code to import.

An entry is used only if it passes every check, each a ValueError that
the cache turns into a miss: a SHA-256 checksum over its tensors, its
tensor layout and its JSON (a flipped byte); the key it holds; fitted
attributes from :data:`~skbatch.estimators.fitted_state.FITTED_ATTRIBUTES`
only, each in a form a fit produces (never a param such as ``lr``);
tensors of the dtype and shape the rebuilt network has, all finite; and
the attributes derived from the training history (``n_iter_``,
``loss_curve_``, ...) equal to what the stored history gives. The checksum
is not a signature: whoever may write the cache folder could compute it
too, which is why the folder must be this account's own (see
:mod:`skbatch.cache.store`).
"""

import dataclasses
import hashlib
import json
import math

import numpy as np
import safetensors.torch
import torch
from skorch.history import History

from .._compat import net_part_names
from ..batching.plan import BatchPlan
from ..estimators.fitted_state import FITTED_ATTRIBUTES, check_fitted_attributes, same_value
from ..training.lbfgs import LbfgsRun
from ..training.max_batch import MaxBatchSearch
from ..training.seeding import draws_from_global_rng, fit_randomness

__all__ = [
    "UnstorableStateError",
    "check_tensors_like",
    "decode_entry",
    "decode_state",
    "encode_entry",
    "encode_state",
    "from_json",
    "pack_entry",
    "read_entry",
    "to_json",
    "unpack_entry",
]

# The dataclasses an entry may hold, by the tag it gives them.
_DATACLASSES = {"MaxBatchSearch": MaxBatchSearch, "BatchPlan": BatchPlan, "LbfgsRun": LbfgsRun}

# The net's plain attributes that the fit sets after building it.
_NET_SETTINGS = ("batch_plan", "batch_size", "accumulation_steps", "iterator_valid__batch_size")
# Those a fit sets only sometimes, read when the fitted attributes are derived from the history.
_NET_EXTRAS = ("call_first_epoch", "lbfgs_run")


class UnstorableStateError(TypeError):
    """A fitted attribute of a type the cache does not store."""


def to_json(value, where):
    """``value`` as JSON, tagged where JSON has no type of its own; raise UnstorableStateError naming ``where``."""
    # Before the Python types: np.float64 is a float, and would lose its type.
    if isinstance(value, np.generic):
        return {"__npscalar__": [value.dtype.str, value.item()]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [to_json(item, where) for item in value]
    if isinstance(value, tuple):
        return {"__tuple__": [to_json(item, where) for item in value]}
    if isinstance(value, dict):
        return {"__dict__": [[to_json(k, where), to_json(v, where)] for k, v in value.items()]}
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject and not all(isinstance(item, (str, int, float)) for item in value.ravel().tolist()):
            raise UnstorableStateError(f"{where} is an object array holding more than strings and numbers")
        return {"__ndarray__": [value.dtype.str, list(value.shape), value.ravel().tolist()]}
    if isinstance(value, torch.device):
        return {"__device__": str(value)}
    if dataclasses.is_dataclass(value) and _DATACLASSES.get(type(value).__name__) is type(value):
        fields = {f.name: to_json(getattr(value, f.name), where) for f in dataclasses.fields(value)}
        return {"__dataclass__": [type(value).__name__, fields]}
    raise UnstorableStateError(f"{where} is a {type(value).__qualname__}, which skbatch does not store")


def from_json(value):
    """:func:`to_json`'s inverse; raise ValueError for a tag it never writes. Builds only the types listed above."""
    if isinstance(value, list):
        return [from_json(item) for item in value]
    if not isinstance(value, dict):
        return value
    ((tag, content),) = value.items()
    if tag == "__tuple__":
        return tuple(from_json(item) for item in content)
    if tag == "__dict__":
        return {from_json(k): from_json(v) for k, v in content}
    if tag == "__npscalar__":
        return np.dtype(content[0]).type(content[1])
    if tag == "__ndarray__":
        dtype, shape, data = content
        return np.array(data, dtype=np.dtype(dtype)).reshape(shape)
    if tag == "__device__":
        return torch.device(content)
    if tag == "__dataclass__":
        if content[0] not in _DATACLASSES:
            raise ValueError(f"it holds a {content[0]!r}, which is not one of skbatch's stored types")
        return _DATACLASSES[content[0]](**{k: from_json(v) for k, v in content[1].items()})
    raise ValueError(f"unknown tag {tag!r}")


def _cpu(tensor):
    # A copy of its own: safetensors refuses tensors that share memory.
    return tensor.detach().to("cpu", copy=True).contiguous()


def encode_entry(estimator, key, fmt):
    """The bytes of the entry for the fitted ``estimator`` under ``key``; raise UnstorableStateError."""
    tensors, state = encode_state(estimator)
    return pack_entry(tensors, json.dumps({"format": fmt, "key": key, **state}))


def encode_state(estimator):
    """``(tensors, state)``: the fitted state of ``estimator``, as tensors and a JSON-able dict.

    The one encoder of a fit: the cache adds its key and format to ``state``
    (:func:`encode_entry`), a model file the estimator's params and the
    file's header (:mod:`skbatch.saving`). Raises UnstorableStateError.
    """
    params = estimator.get_params(deep=False)
    attributes = {}
    for name, value in vars(estimator).items():
        if name in FITTED_ATTRIBUTES:
            attributes[name] = to_json(value, f"the fitted attribute {name}")
        # Other private attributes are not fitted state (a search's callback context, say).
        elif name not in params and name != "net_" and not name.startswith("_"):
            raise UnstorableStateError(f"the fitted attribute {name} is not one of skbatch's, and a restored fit would lack it")
    net = estimator.net_
    tensors = {}
    modules, optimizers = net_part_names(net)
    for name in modules:
        for param, tensor in getattr(net, name + "_").state_dict().items():
            tensors[f"module/{name}/{param}"] = _cpu(tensor)
    optimizer_json = {}
    for name in optimizers:
        state = getattr(net, name + "_").state_dict()
        scalars = {}
        for index, values in state["state"].items():
            for field, value in values.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optimizer/{name}/{index}/{field}"] = _cpu(value)
                else:
                    scalars.setdefault(str(index), {})[field] = to_json(value, f"the optimizer state {field}")
        optimizer_json[name] = {
            "param_groups": to_json(state["param_groups"], "the optimizer's param groups"),
            "scalars": scalars,
            "indices": [str(i) for i in state["state"]],
        }
    generator = getattr(net, "iterator_train__generator", None)
    if generator is not None:
        tensors["generator/iterator_train"] = generator.get_state()
    schedule = dict(net.callbacks_).get("batch_size_schedule")
    net_json = {
        "device": str(net.device),
        "settings": {name: to_json(getattr(net, name), name) for name in _NET_SETTINGS},
        "extras": {name: to_json(getattr(net, name), name) for name in _NET_EXTRAS if hasattr(net, name)},
        "history": to_json(list(net.history), "the net's history"),
        "optimizers": optimizer_json,
        # The schedule holds no settings of its own: it reads the net's batch_plan.
        "scheduled": schedule is not None,
    }
    return tensors, {"estimator": type(estimator).__qualname__, "attributes": attributes, "net": net_json}


def pack_entry(tensors, meta):
    """The bytes of an entry holding ``tensors`` (a dict) and ``meta`` (its JSON text), with their checksum."""
    # Saved twice: the checksum covers the tensors' layout, known once they are laid out.
    data = safetensors.torch.save(tensors, metadata={"skbatch": meta})
    header, _ = _header(data)
    return safetensors.torch.save(tensors, metadata={"skbatch": meta, "sha256": _checksum(data, header, meta)})


def unpack_entry(data):
    """``(tensors, meta)`` of an entry's bytes, unchecked: :func:`pack_entry`'s inverse, for tools and tests."""
    header, _ = _header(data)
    return safetensors.torch.load(data), header["__metadata__"]["skbatch"]


def _header(data):
    if len(data) < 8:
        raise ValueError("it is too short to be a safetensors file")
    size = int.from_bytes(data[:8], "little")
    if size > len(data) - 8:
        raise ValueError("it is truncated")
    header = json.loads(data[8 : 8 + size])
    if not isinstance(header, dict):
        raise ValueError("its header is not a JSON object")
    return header, 8 + size


def _checksum(data, header, meta):
    """SHA-256 of the tensors' names, dtypes, shapes and bytes, and of the entry's JSON."""
    layout = json.dumps({name: value for name, value in header.items() if name != "__metadata__"}, sort_keys=True)
    _, start = _header(data)
    digest = hashlib.sha256()
    for part in (layout.encode(), b"\0", meta.encode(), b"\0", data[start:]):
        digest.update(part)
    return digest.hexdigest()


def read_entry(data, fmt):
    """``(tensors, meta)`` of an entry's bytes, once its format and checksum are checked; raise ValueError."""
    header, _ = _header(data)
    stored = header.get("__metadata__")
    stored = stored if isinstance(stored, dict) else {}
    text = stored.get("skbatch")
    meta = json.loads(text) if isinstance(text, str) else None
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        raise ValueError("it is not an entry of this version of skbatch")
    if stored.get("sha256") != _checksum(data, header, text):
        raise ValueError("its checksum does not match its content: the file was changed or damaged")
    return safetensors.torch.load(data), meta


def decode_entry(data, estimator, key, fmt):
    """Give ``estimator`` the fit stored in ``data``; raise ValueError if it is not the entry of ``key``.

    Nothing is set on ``estimator`` unless the whole entry loads.
    """
    tensors, meta = read_entry(data, fmt)
    if meta.get("key") != key or meta.get("estimator") != type(estimator).__qualname__:
        raise ValueError("it holds the fit of another key")
    decode_state(tensors, meta, estimator)


def decode_state(tensors, state, estimator, *, device=None):
    """Give ``estimator`` (holding its params) the fitted state :func:`encode_state` gave; raise ValueError.

    Each part is checked before it is set, and nothing is set on
    ``estimator`` unless the whole state loads. ``device`` (a torch.device)
    builds the net there instead of on the device it trained on, whose
    ``device_uuid_`` and ``device_slot_`` then no longer apply.
    """
    attributes = {name: from_json(value) for name, value in state["attributes"].items()}
    check_fitted_attributes(attributes)
    net_json = state["net"]
    if device is not None:
        attributes.update(device_=device, device_uuid_=None, device_slot_=None)
    shell = type(estimator)(**estimator.get_params(deep=False))
    vars(shell).update(attributes)
    shell.device_ = torch.device(net_json["device"]) if device is None else device
    # Building draws initial weights that the entry's replace: from a
    # generator of their own, or (a custom module) from the global one,
    # seeded and left as it was.
    with fit_randomness(0, torch.device("cpu"), global_rng=draws_from_global_rng(shell)):
        net = shell._make_net(shell.n_features_in_, shell._n_module_outputs(), 0, scheduled=net_json["scheduled"])
    modules, optimizers = net_part_names(net)
    for name in modules:
        prefix = f"module/{name}/"
        state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        part = getattr(net, name + "_")
        check_tensors_like(state, part.state_dict(), f"the weights of {name}")
        part.load_state_dict(state, strict=True)
    for name in optimizers:
        _load_optimizer(getattr(net, name + "_"), net_json["optimizers"][name], tensors, name)
    if "generator/iterator_train" in tensors:
        check_tensors_like(
            {"state": tensors["generator/iterator_train"]}, {"state": net.iterator_train__generator.get_state()}, "the shuffling generator"
        )
        net.iterator_train__generator.set_state(tensors["generator/iterator_train"])
    for name, value in net_json["settings"].items():
        if name not in _NET_SETTINGS:
            raise ValueError(f"it sets {name!r} on the net, which no fit sets")
        setattr(net, name, from_json(value))
    for name, value in net_json.get("extras", {}).items():
        if name not in _NET_EXTRAS:
            raise ValueError(f"it sets {name!r} on the net, which no fit sets")
        setattr(net, name, from_json(value))
    net.history = History(from_json(net_json["history"]))
    _check_history(shell, net, attributes)
    vars(estimator).update(attributes)
    estimator.net_ = net


def check_tensors_like(stored, expected, what):
    """Raise ValueError unless ``stored`` has the names, dtypes and shapes of ``expected``, and finite values."""
    if set(stored) != set(expected):
        raise ValueError(f"{what} are not those of this network: {sorted(set(stored) ^ set(expected))}")
    for name, tensor in stored.items():
        like = expected[name]
        if tensor.dtype != like.dtype or tensor.shape != like.shape:
            raise ValueError(
                f"{what}: {name} is {tensor.dtype} of shape {tuple(tensor.shape)}, where the network "
                f"has {like.dtype} of shape {tuple(like.shape)}"
            )
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"{what}: {name} holds NaN or infinite values")


# Param-group fields that choose torch's kernels, not the update: see _load_optimizer.
_KERNEL_FIELDS = ("foreach", "fused")


def _load_optimizer(optimizer, stored, tensors, name):
    """Load the stored state of one optimizer, checked against the parameters it updates."""
    params = [param for group in optimizer.param_groups for param in group["params"]]
    fresh = optimizer.state_dict()["param_groups"]
    groups = from_json(stored["param_groups"])
    if not isinstance(groups, list) or len(groups) != len(fresh):
        raise ValueError(f"the param groups of optimizer {name} are not those of this network")
    for group, like in zip(groups, fresh):
        # The rate moves with the schedules; every other setting is the params',
        # but for the kernels torch runs the update with, which this version
        # picks for the module (training/optim.py) whatever the fit ran with:
        # the same update, to rounding, and files of earlier versions load.
        if (
            not isinstance(group, dict)
            or set(group) != set(like)
            or not _finite_positive(group.get("lr"))
            or any(not same_value(group[field], like[field]) for field in like if field not in ("lr", "initial_lr", *_KERNEL_FIELDS))
        ):
            raise ValueError(f"the param groups of optimizer {name} are not those this estimator's params give")
        group.update({field: like[field] for field in _KERNEL_FIELDS if field in like})
    state = {}
    for index in stored["indices"]:
        position = int(index)
        if not 0 <= position < len(params):
            raise ValueError(f"optimizer {name} holds state for a parameter the network does not have")
        prefix = f"optimizer/{name}/{index}/"
        values = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        for field, tensor in values.items():
            shape_ok = tensor.shape == params[position].shape or (field == "step" and tensor.numel() == 1)
            if not tensor.is_floating_point() or not shape_ok or not bool(torch.isfinite(tensor).all()):
                raise ValueError(
                    f"optimizer {name}: {field} of parameter {index} is {tensor.dtype} of shape "
                    f"{tuple(tensor.shape)}, not finite floats shaped as the parameter"
                )
        values.update({k: from_json(v) for k, v in stored["scalars"].get(index, {}).items()})
        state[position] = values
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def _finite_positive(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _check_history(shell, net, attributes):
    """Raise ValueError unless the stored attributes derived from the history are what it gives.

    The estimator's own ``_record_training`` derives them, on the shell;
    ``n_iter_`` edited alone would make a continued fit start at the wrong epoch.
    """
    shell.net_ = net
    shell._record_training()
    derived = {name: value for name, value in vars(shell).items() if name in FITTED_ATTRIBUTES}
    missing = object()
    for name in sorted(set(derived) | set(attributes)):
        if not same_value(attributes.get(name, missing), derived.get(name, missing)):
            raise ValueError(f"its fitted attribute {name} does not match its training history")
