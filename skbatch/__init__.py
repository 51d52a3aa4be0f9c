"""skbatch: PyTorch neural networks as scikit-learn estimators, with batch size made measurable."""

from .batch_schedule import BatchSizeSchedule
from .batching import TensorBatchIterator, n_updates_per_epoch, resolve_batch_size
from .cache import load_fit_records
from .devices import resolve_device
from .estimator import BaseTorchClassifier, TorchClassifier
from .faults import DeviceOutOfMemoryError, NonFiniteLossError
from .lr_scaling import scaled_lr
from .max_batch import MaxBatchSearch, find_max_batch_size
from .mlp import MLPClassifier, parse_hidden_layer_sizes
from .modules import MLPModule
from .placement import DevicePool
from .plotting import plot_batch_size_study, plot_learning_curves
from .progress import progress_bar
from .report import plot_search, search_report
from .study import batch_size_study

__version__ = "0.1.0.dev0"

__all__ = [
    "BaseTorchClassifier",
    "BatchSizeSchedule",
    "DeviceOutOfMemoryError",
    "DevicePool",
    "MLPClassifier",
    "MLPModule",
    "MaxBatchSearch",
    "NonFiniteLossError",
    "TensorBatchIterator",
    "TorchClassifier",
    "batch_size_study",
    "find_max_batch_size",
    "load_fit_records",
    "n_updates_per_epoch",
    "parse_hidden_layer_sizes",
    "plot_batch_size_study",
    "plot_learning_curves",
    "plot_search",
    "progress_bar",
    "resolve_batch_size",
    "resolve_device",
    "scaled_lr",
    "search_report",
]
