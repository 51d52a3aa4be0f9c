"""skbatch: PyTorch neural networks as scikit-learn estimators, with batch size made measurable."""

from .batching import TensorBatchIterator, n_updates_per_epoch, resolve_batch_size
from .cache import load_fit_records
from .devices import resolve_device
from .estimator import BaseTorchClassifier, TorchClassifier
from .faults import DeviceOutOfMemoryError, NonFiniteLossError
from .mlp import MLPClassifier, parse_hidden_layer_sizes
from .modules import MLPModule
from .placement import DevicePool
from .progress import progress_bar
from .report import plot_search, search_report

__version__ = "0.1.0.dev0"

__all__ = [
    "BaseTorchClassifier",
    "DeviceOutOfMemoryError",
    "DevicePool",
    "MLPClassifier",
    "MLPModule",
    "NonFiniteLossError",
    "TensorBatchIterator",
    "TorchClassifier",
    "load_fit_records",
    "n_updates_per_epoch",
    "parse_hidden_layer_sizes",
    "plot_search",
    "progress_bar",
    "resolve_batch_size",
    "resolve_device",
    "search_report",
]
