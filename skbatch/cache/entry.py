"""One fit-cache entry as bytes that load without running code: tensors in safetensors, the rest in JSON.

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
"""

import dataclasses
import json

import numpy as np
import safetensors.torch
import torch
from skorch.history import History

from .._compat import net_part_names
from ..training.max_batch import MaxBatchSearch
from ..batching.plan import BatchPlan
from ..training.seeding import seeded_torch

__all__ = ["UnstorableStateError", "decode_entry", "encode_entry"]

# The dataclasses an entry may hold, by the tag it gives them.
_DATACLASSES = {"MaxBatchSearch": MaxBatchSearch, "BatchPlan": BatchPlan}

# The net's plain attributes that the fit sets after building it.
_NET_SETTINGS = ("batch_plan", "batch_size", "accumulation_steps", "iterator_valid__batch_size")


class UnstorableStateError(TypeError):
    """A fitted attribute of a type the cache does not store."""


def _to_json(value, where):
    # Before the Python types: np.float64 is a float, and would lose its type.
    if isinstance(value, np.generic):
        return {"__npscalar__": [value.dtype.str, value.item()]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_to_json(item, where) for item in value]
    if isinstance(value, tuple):
        return {"__tuple__": [_to_json(item, where) for item in value]}
    if isinstance(value, dict):
        return {"__dict__": [[_to_json(k, where), _to_json(v, where)] for k, v in value.items()]}
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject and not all(isinstance(item, (str, int, float)) for item in value.ravel().tolist()):
            raise UnstorableStateError(f"{where} is an object array holding more than strings and numbers")
        return {"__ndarray__": [value.dtype.str, list(value.shape), value.ravel().tolist()]}
    if isinstance(value, torch.device):
        return {"__device__": str(value)}
    if dataclasses.is_dataclass(value) and _DATACLASSES.get(type(value).__name__) is type(value):
        fields = {f.name: _to_json(getattr(value, f.name), where) for f in dataclasses.fields(value)}
        return {"__dataclass__": [type(value).__name__, fields]}
    raise UnstorableStateError(f"{where} is a {type(value).__qualname__}, which the fit cache does not store")


def _from_json(value):
    if isinstance(value, list):
        return [_from_json(item) for item in value]
    if not isinstance(value, dict):
        return value
    (tag, content), = value.items()
    if tag == "__tuple__":
        return tuple(_from_json(item) for item in content)
    if tag == "__dict__":
        return {_from_json(k): _from_json(v) for k, v in content}
    if tag == "__npscalar__":
        return np.dtype(content[0]).type(content[1])
    if tag == "__ndarray__":
        dtype, shape, data = content
        return np.array(data, dtype=np.dtype(dtype)).reshape(shape)
    if tag == "__device__":
        return torch.device(content)
    if tag == "__dataclass__":
        return _DATACLASSES[content[0]](**{k: _from_json(v) for k, v in content[1].items()})
    raise ValueError(f"unknown tag {tag!r}")


def _cpu(tensor):
    # A copy of its own: safetensors refuses tensors that share memory.
    return tensor.detach().to("cpu", copy=True).contiguous()


def encode_entry(estimator, key, fmt):
    """The bytes of the entry for the fitted ``estimator`` under ``key``; raise UnstorableStateError."""
    params = estimator.get_params(deep=False)
    attributes = {
        name: _to_json(value, f"the fitted attribute {name}")
        for name, value in vars(estimator).items()
        # Private attributes are not fitted state: a search's callback context, say.
        if name not in params and name != "net_" and not name.startswith("_")
    }
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
                    scalars.setdefault(str(index), {})[field] = _to_json(value, f"the optimizer state {field}")
        optimizer_json[name] = {"param_groups": _to_json(state["param_groups"], "the optimizer's param groups"),
                                "scalars": scalars, "indices": [str(i) for i in state["state"]]}
    generator = getattr(net, "iterator_train__generator", None)
    if generator is not None:
        tensors["generator/iterator_train"] = generator.get_state()
    schedule = dict(net.callbacks_).get("batch_size_schedule")
    net_json = {
        "device": str(net.device),
        "settings": {name: _to_json(getattr(net, name), name) for name in _NET_SETTINGS},
        "history": _to_json(list(net.history), "the net's history"),
        "optimizers": optimizer_json,
        # The schedule holds no settings of its own: it reads the net's batch_plan.
        "scheduled": schedule is not None,
    }
    metadata = {
        "skbatch": json.dumps(
            {"format": fmt, "key": key, "estimator": type(estimator).__qualname__,
             "attributes": attributes, "net": net_json}
        )
    }
    return safetensors.torch.save(tensors, metadata=metadata)


def decode_entry(data, estimator, key, fmt):
    """Give ``estimator`` the fit stored in ``data``; raise ValueError if it is not the entry of ``key``.

    Nothing is set on ``estimator`` unless the whole entry loads.
    """
    header_size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_size])
    meta = json.loads(header.get("__metadata__", {}).get("skbatch", "null"))
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        raise ValueError("it is not an entry of this version of skbatch")
    if meta.get("key") != key or meta.get("estimator") != type(estimator).__qualname__:
        raise ValueError("it holds the fit of another key")
    tensors = safetensors.torch.load(data)
    attributes = {name: _from_json(value) for name, value in meta["attributes"].items()}
    net_json = meta["net"]
    shell = type(estimator)(**estimator.get_params(deep=False))
    vars(shell).update(attributes)
    shell.device_ = torch.device(net_json["device"])
    # Building draws initial weights that the entry's replace; a custom
    # module draws them from the global generator, which stays as it was.
    with seeded_torch(0, torch.device("cpu")):
        net = shell._make_net(shell.n_features_in_, shell._n_module_outputs(), 0, scheduled=net_json["scheduled"])
    modules, optimizers = net_part_names(net)
    for name in modules:
        prefix = f"module/{name}/"
        state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        getattr(net, name + "_").load_state_dict(state, strict=True)
    for name in optimizers:
        stored = net_json["optimizers"][name]
        state = {}
        for index in stored["indices"]:
            prefix = f"optimizer/{name}/{index}/"
            values = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
            values.update({k: _from_json(v) for k, v in stored["scalars"].get(index, {}).items()})
            state[int(index)] = values
        getattr(net, name + "_").load_state_dict({"state": state, "param_groups": _from_json(stored["param_groups"])})
    if "generator/iterator_train" in tensors:
        net.iterator_train__generator.set_state(tensors["generator/iterator_train"])
    for name, value in net_json["settings"].items():
        setattr(net, name, _from_json(value))
    net.history = History(_from_json(net_json["history"]))
    vars(estimator).update(attributes)
    estimator.net_ = net
