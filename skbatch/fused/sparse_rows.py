"""Sparse ``X`` in a stack: every model's batch cut from one CSR matrix, multiplied sparse by its first layer.

The stack keeps the rows of its folds as one CSR matrix on the host, as an
ordinary fit keeps its ``X`` (:mod:`skbatch.training.sparse`). At each step
the ``(K, B)`` rows of the K models' batches are taken from it at once and
become one ``(K, B, n_features)`` sparse COO tensor, which the first layer
of each block multiplies by its ``(K, n_features, width)`` weights with
``torch.bmm``: the cost follows the non-zeros, and no dense batch of
``K x B x n_features`` is ever made.
"""

import numpy as np
import scipy.sparse
import torch

from ..training.sparse import as_csr

__all__ = ["SparseBatch", "SparseRows"]


class SparseRows:
    """The rows of a stack's folds, one CSR matrix on the host; ``rows[batch]`` is a :class:`SparseBatch`."""

    def __init__(self, parts):
        self.csr = as_csr(scipy.sparse.vstack([as_csr(part) for part in parts], format="csr")).astype(np.float32)

    def __getitem__(self, batch):
        n_models, batch_size = batch.shape
        return SparseBatch(self.csr[batch.reshape(-1).cpu().numpy()], n_models, batch_size)


class SparseBatch:
    """One step's batches of K models: model k's are rows ``k * B`` to ``(k + 1) * B`` of a CSR matrix.

    Slicing by models (``batch[start:stop]``) gives the batches of a block
    of the stack; :meth:`tensor` the ``(K, B, n_features)`` COO tensor.
    """

    is_sparse = True

    def __init__(self, csr, n_models, batch_size):
        self.csr, self.n_models, self.batch_size = csr, n_models, batch_size

    def __getitem__(self, models):
        start, stop, _ = models.indices(self.n_models)
        rows = self.csr[start * self.batch_size : stop * self.batch_size]
        return SparseBatch(rows, stop - start, self.batch_size)

    def tensor(self, device):
        coo = self.csr.tocoo()
        indices = np.vstack([coo.row // self.batch_size, coo.row % self.batch_size, coo.col])
        shape = (self.n_models, self.batch_size, self.csr.shape[1])
        values = torch.from_numpy(coo.data.astype(np.float32, copy=False))
        # CSR rows in order, columns sorted within each: the COO entries are
        # already sorted and unique, as a coalesced tensor's are.
        return torch.sparse_coo_tensor(torch.from_numpy(indices), values, shape, is_coalesced=True).to(device)
