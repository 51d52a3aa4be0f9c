"""skbatch: PyTorch neural networks as scikit-learn estimators, with batch size made measurable."""

from .batch_schedule import BatchSizeSchedule
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
from .fused_search import FusedGridSearchCV, FusedRandomizedSearchCV, FusedSearchMixin
from .lr_scaling import scaled_lr
from .max_batch import MaxBatchSearch, find_max_batch_size
from .mlp import MLPClassifier, MLPRegressor, parse_hidden_layer_sizes
from .modules import ConvNetModule, MLPModule
from .placement import DevicePool
from .plotting import plot_batch_size_study, plot_learning_curves
from .progress import progress_bar
from .report import plot_search, search_report
from .study import batch_size_study

__version__ = "0.1.0.dev0"

__all__ = [
    "BaseTorchClassifier",
    "BaseTorchEstimator",
    "BaseTorchRegressor",
    "BatchSizeSchedule",
    "ConvNetClassifier",
    "ConvNetModule",
    "DeviceOutOfMemoryError",
    "DevicePool",
    "FusedBayesSearchCV",
    "FusedGridSearchCV",
    "FusedRandomizedSearchCV",
    "FusedSearchMixin",
    "MLPClassifier",
    "MLPModule",
    "MLPRegressor",
    "MaxBatchSearch",
    "NonFiniteLossError",
    "TensorBatchIterator",
    "TorchClassifier",
    "TorchRegressor",
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


def __getattr__(name):
    # FusedBayesSearchCV imports scikit-optimize, so it is built on first use.
    if name == "FusedBayesSearchCV":
        from . import fused_search

        return fused_search.FusedBayesSearchCV
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
