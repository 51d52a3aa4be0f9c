"""skbatch: PyTorch neural networks as scikit-learn estimators, with batch size made measurable."""

from .batching import TensorBatchIterator, n_updates_per_epoch, resolve_batch_size
from .convnet import ConvNetClassifier
from .devices import resolve_device
from .estimator import (
    BaseTorchClassifier,
    BaseTorchEstimator,
    BaseTorchRegressor,
    TorchClassifier,
    TorchRegressor,
)
from .mlp import MLPClassifier, MLPRegressor, parse_hidden_layer_sizes
from .modules import ConvNetModule, MLPModule

__version__ = "0.1.0.dev0"

__all__ = [
    "BaseTorchClassifier",
    "BaseTorchEstimator",
    "BaseTorchRegressor",
    "ConvNetClassifier",
    "ConvNetModule",
    "MLPClassifier",
    "MLPModule",
    "MLPRegressor",
    "TensorBatchIterator",
    "TorchClassifier",
    "TorchRegressor",
    "n_updates_per_epoch",
    "parse_hidden_layer_sizes",
    "resolve_batch_size",
    "resolve_device",
]
