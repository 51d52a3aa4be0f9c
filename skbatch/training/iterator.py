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


def _tensors_of(dataset):
    """Return ``(X, y)`` tensors behind a skorch Dataset or a Subset of one.

    Returns None for anything else, so the caller can fall back to a
    ``DataLoader``.
    """
    indices = None
    if isinstance(dataset, Subset):
        indices, dataset = dataset.indices, dataset.dataset
    X, y = getattr(dataset, "X", None), getattr(dataset, "y", None)
    if not isinstance(X, torch.Tensor) or not (y is None or isinstance(y, torch.Tensor)):
        return None
    if indices is not None:
        index = torch.as_tensor(indices, dtype=torch.long, device=X.device)
        X = X[index]
        y = None if y is None else y[index]
    return X, y


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
    """

    def __init__(self, dataset, *, batch_size, shuffle=False, drop_last=False, generator=None):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = generator

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
        n_samples = len(X)
        batch_size = min(self._batch_size(), n_samples)
        if self.shuffle:
            # One gather per epoch, then every batch is a contiguous view.
            order = torch.randperm(n_samples, generator=self.generator).to(X.device)
            X = X[order]
            y = None if y is None else y[order]
        for start in range(0, len(self) * batch_size, batch_size):
            stop = start + batch_size
            yield X[start:stop], (None if y is None else y[start:stop])
