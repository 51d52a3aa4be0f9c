"""skbatch: PyTorch neural networks as scikit-learn estimators, with batch size made measurable."""

from .batching import TensorBatchIterator, n_updates_per_epoch, resolve_batch_size
from .cache import load_fit_records
from .convnet import ConvNetClassifier
from .devices import resolve_device
from .estimator import (
    BaseTorchClassifier,
    BaseTorchEstimator,
    BaseTorchRegressor,
    TorchClassifier,
    TorchRegressor,
)
from .faults import DeviceOutOfMemoryError, NonFiniteLossError
from .mlp import MLPClassifier, MLPRegressor, parse_hidden_layer_sizes
from .modules import ConvNetModule, MLPModule
from .progress import progress_bar
from .report import plot_search, search_report

__version__ = "0.1.0.dev0"

__all__ = [
    "BaseTorchClassifier",
    "BaseTorchEstimator",
    "BaseTorchRegressor",
    "ConvNetClassifier",
    "ConvNetModule",
    "DeviceOutOfMemoryError",
    "MLPClassifier",
    "MLPModule",
    "MLPRegressor",
    "NonFiniteLossError",
    "TensorBatchIterator",
    "TorchClassifier",
    "TorchRegressor",
    "load_fit_records",
    "n_updates_per_epoch",
    "parse_hidden_layer_sizes",
    "plot_search",
    "progress_bar",
    "resolve_batch_size",
    "resolve_device",
    "search_report",
]
