"""The in-memory iterator that feeds training.

skorch's default path builds every batch through a ``DataLoader`` that indexes
the dataset one sample at a time. For data that fits in memory this is the
dominant cost of training a small network, so skbatch keeps the whole training
set as tensors on the training device and cuts batches out of them by slicing.
"""

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from ..batching.sizes import n_updates_per_epoch
from . import sparse

__all__ = ["to_tensor", "TensorBatchIterator"]


def to_tensor(array, *, dtype=None, device=None):
    """``torch.as_tensor``, except that a read-only array is copied rather than shared.

    joblib hands large arrays to search workers as read-only memory maps;
    torch cannot share those safely and warns. Writable arrays are still
    shared without a copy when ``dtype`` and ``device`` allow.
    """
    if isinstance(array, np.ndarray) and not array.flags.writeable:
        array = np.array(array)
    return torch.as_tensor(array, dtype=dtype, device=device)


def _take(data, index):
    """Rows ``index`` (a slice or a CPU index tensor) of a tensor, a sparse matrix, or a tuple of tensors."""
    if data is None:
        return None
    if isinstance(data, tuple):
        return tuple(_take(part, index) for part in data)
    if sparse.is_sparse(data):
        return data[index if isinstance(index, slice) else index.numpy()]
    if isinstance(index, torch.Tensor):
        index = index.to(data.device)
    return data[index]


def _is_targets(y):
    # A plain target tensor, or (targets, sample_weight) when the fit is weighted.
    return y is None or isinstance(y, torch.Tensor) or (isinstance(y, tuple) and all(isinstance(part, torch.Tensor) for part in y))


def _tensors_of(dataset):
    """Return ``(X, y)`` behind a skorch Dataset or a Subset of one.

    ``X`` is a tensor, or a CSR matrix kept on the host; ``y`` is None, a
    tensor, or a tuple of tensors (targets and sample weights). Returns None
    for anything else, so the caller can fall back to a ``DataLoader``.
    """
    indices = None
    if isinstance(dataset, Subset):
        indices, dataset = dataset.indices, dataset.dataset
    X, y = getattr(dataset, "X", None), getattr(dataset, "y", None)
    if not (isinstance(X, torch.Tensor) or sparse.is_sparse(X)) or not _is_targets(y):
        return None
    if indices is not None:
        index = torch.as_tensor(indices, dtype=torch.long)
        X, y = _take(X, index), _take(y, index)
    return X, y


def _target_device(y):
    if isinstance(y, tuple):
        y = y[0]
    return None if y is None else y.device


class TensorBatchIterator:
    """Iterate over ``(X, y)`` mini-batches cut from in-memory tensors.

    A drop-in replacement for ``torch.utils.data.DataLoader`` in skorch's
    ``iterator_train`` and ``iterator_valid``. When the dataset holds its data
    as tensors (a skorch ``Dataset`` or a ``Subset`` of one), each epoch
    costs one gather for the shuffle and then only views; anything else is
    handed to a ``DataLoader`` unchanged.

    Parameters
    ----------
    dataset : skorch.dataset.Dataset or torch.utils.data.Subset
        The data to iterate over.
    batch_size : int or callable
        Samples per batch, or a function of no arguments that returns it,
        read at the start of every pass: skorch builds the training iterator
        once per ``fit``, so a batch-size schedule changes it through this.
    shuffle : bool, default=False
        Draw a new order of the samples at each pass.
    drop_last : bool, default=False
        Skip the last batch when it is smaller than ``batch_size`` (and is
        not the only one).
    generator : torch.Generator, default=None
        Source of the shuffle order. Each pass over the iterator (skorch
        makes one per epoch over an iterator built once per fit) draws a new
        order from it; the estimator keeps one seeded generator on its net,
        so warm starts and ``partial_fit`` calls continue the same stream.
    keep_sparse : bool, default=False
        Give the batches of a sparse ``X`` as torch sparse COO tensors
        (:func:`skbatch.training.sparse.sparse_rows`) rather than dense, for
        a module that multiplies them directly; dense ``X`` is unaffected.
    """

    def __init__(self, dataset, *, batch_size, shuffle=False, drop_last=False, generator=None, keep_sparse=False):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = generator
        self.keep_sparse = keep_sparse

    def _batch_size(self):
        return self.batch_size() if callable(self.batch_size) else self.batch_size

    def __len__(self):
        n_samples = len(self.dataset)
        return n_updates_per_epoch(n_samples, min(self._batch_size(), n_samples), self.drop_last)

    def __iter__(self):
        tensors = _tensors_of(self.dataset)
        if tensors is None:
            yield from DataLoader(
                self.dataset,
                batch_size=self._batch_size(),
                shuffle=self.shuffle,
                drop_last=self.drop_last,
                generator=self.generator,
            )
            return
        X, y = tensors
        n_samples = sparse.n_rows(X)
        batch_size = min(self._batch_size(), n_samples)
        if sparse.is_sparse(X):
            yield from self._sparse_batches(X, y, batch_size)
            return
        if self.shuffle:
            # One gather per epoch, then every batch is a contiguous view.
            order = torch.randperm(n_samples, generator=self.generator)
            X, y = _take(X, order), _take(y, order)
        for start in range(0, len(self) * batch_size, batch_size):
            stop = start + batch_size
            yield X[start:stop], (y[start:stop] if isinstance(y, torch.Tensor) else _take(y, slice(start, stop)))

    def _sparse_batches(self, X, y, batch_size):
        # The matrix stays sparse on the host; only the rows of one batch
        # are cut out, where the targets live (the training device).
        device = _target_device(y)
        cut = sparse.sparse_rows if self.keep_sparse else sparse.densify_rows
        order = torch.randperm(X.shape[0], generator=self.generator) if self.shuffle else None
        for start in range(0, len(self) * batch_size, batch_size):
            rows = slice(start, start + batch_size) if order is None else order[start : start + batch_size]
            yield cut(X, rows, device), _take(y, rows)
