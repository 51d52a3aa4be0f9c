"""skbatch: PyTorch neural networks as scikit-learn estimators, with batch size made measurable."""

from .batching import TensorBatchIterator, n_updates_per_epoch, resolve_batch_size
from .devices import resolve_device
from .estimator import BaseTorchClassifier, TorchClassifier
from .mlp import MLPClassifier, parse_hidden_layer_sizes
from .modules import MLPModule
from .placement import DevicePool

__version__ = "0.1.0.dev0"

__all__ = [
    "BaseTorchClassifier",
    "DevicePool",
    "MLPClassifier",
    "MLPModule",
    "TensorBatchIterator",
    "TorchClassifier",
    "n_updates_per_epoch",
    "parse_hidden_layer_sizes",
    "resolve_batch_size",
    "resolve_device",
]
