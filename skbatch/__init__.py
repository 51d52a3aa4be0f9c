"""skbatch: PyTorch neural networks as scikit-learn estimators, with batch size made measurable."""

from .batching.lr_scaling import scaled_lr
from .batching.schedule import BatchSizeSchedule
from .batching.sizes import n_updates_per_epoch, resolve_batch_size
from .cache.store import load_fit_records
from .devices.cluster import dask_parallel
from .devices.pool import DevicePool
from .devices.resolve import resolve_device
from .estimators.base import BaseTorchEstimator
from .estimators.convnet import ConvNetClassifier
from .estimators.custom import TorchClassifier, TorchRegressor
from .estimators.mlp import MLPClassifier, MLPRegressor, parse_hidden_layer_sizes
from .estimators.targets import BaseTorchClassifier, BaseTorchRegressor
from .fused.halving import FusedHalvingGridSearchCV, FusedHalvingRandomSearchCV
from .fused.search import FusedGridSearchCV, FusedRandomizedSearchCV, FusedSearchMixin
from .inspection.noise_scale import NoiseScale, gradient_noise_scale
from .inspection.plotting import plot_batch_size_study, plot_learning_curves
from .inspection.progress import progress_bar
from .inspection.report import plot_search, search_report
from .inspection.study import batch_size_study
from .onnx_export import to_onnx
from .saving import load, save
from .training.faults import DeviceOutOfMemoryError, NonFiniteLossError
from .training.iterator import TensorBatchIterator
from .training.max_batch import MaxBatchSearch, find_max_batch_size
from .training.modules import ConvNetModule, MLPModule

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
    "FusedHalvingGridSearchCV",
    "FusedHalvingRandomSearchCV",
    "FusedRandomizedSearchCV",
    "FusedSearchMixin",
    "MLPClassifier",
    "MLPModule",
    "MLPRegressor",
    "MaxBatchSearch",
    "NoiseScale",
    "NonFiniteLossError",
    "TensorBatchIterator",
    "TorchClassifier",
    "TorchRegressor",
    "batch_size_study",
    "dask_parallel",
    "find_max_batch_size",
    "gradient_noise_scale",
    "load",
    "load_fit_records",
    "n_updates_per_epoch",
    "parse_hidden_layer_sizes",
    "plot_batch_size_study",
    "plot_learning_curves",
    "plot_search",
    "progress_bar",
    "resolve_batch_size",
    "resolve_device",
    "save",
    "scaled_lr",
    "search_report",
    "to_onnx",
]


def __getattr__(name):
    # FusedBayesSearchCV imports scikit-optimize, so it is built on first use.
    if name == "FusedBayesSearchCV":
        from .fused import search as fused_search

        return fused_search.FusedBayesSearchCV
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
