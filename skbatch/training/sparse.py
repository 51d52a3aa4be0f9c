"""Sparse ``X``: kept as a scipy CSR matrix on the host, densified one batch of rows at a time.

A TF-IDF or one-hot matrix can be far larger dense than sparse (60,000 x
40,000 float32 is 9.6 GB dense, 12 MB sparse with 1M non-zeros), so the
training and prediction paths never hold more than one batch of it dense.
"""

import numpy as np
import scipy.sparse
import torch

__all__ = ["as_csr", "densify_rows", "is_sparse", "n_rows"]


def is_sparse(X):
    """Whether ``X`` is a scipy sparse matrix or array."""
    return scipy.sparse.issparse(X)


def n_rows(X):
    """Number of samples of a dense array, a tensor or a sparse matrix (whose ``len`` raises)."""
    return X.shape[0] if is_sparse(X) else len(X)


def as_csr(X):
    """``X`` as CSR, the format whose row slices are cheap; a no-op for CSR."""
    X = X.tocsr()
    # Canonical form, so that the rows of a batch are read in one pass.
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()
    return X


def densify_rows(X, rows, device=None):
    """The rows ``rows`` of the CSR matrix ``X`` as a dense float tensor on ``device``.

    Parameters
    ----------
    X : scipy.sparse.csr_matrix or csr_array
    rows : slice or array of int
        Which rows, in the order the batch takes them.
    device : torch.device or str, default=None
        Where the dense batch lives. On an accelerator the batch travels in
        its sparse form and is densified there, which moves ``nnz`` values
        rather than ``rows x n_features``; on the CPU scipy densifies it.

    Returns
    -------
    torch.Tensor of shape (n_rows, n_features)
    """
    if isinstance(rows, torch.Tensor):
        rows = rows.numpy()
    batch = X[rows]
    device = torch.device("cpu") if device is None else torch.device(device)
    if device.type == "cpu":
        return torch.from_numpy(np.ascontiguousarray(batch.toarray()))
    return _scatter_rows(batch, device)


def _scatter_rows(batch, device):
    """The CSR ``batch`` dense on ``device``, built there from its non-zeros.

    Three small transfers (values, columns, row lengths) and a scatter into
    zeros, with no beta sparse-tensor API. Canonical CSR has no duplicate
    entries, so each value is written once.
    """
    counts = torch.from_numpy(np.diff(batch.indptr).astype(np.int64)).to(device)
    row_of = torch.repeat_interleave(torch.arange(batch.shape[0], device=device), counts)
    columns = torch.from_numpy(batch.indices.astype(np.int64)).to(device)
    values = torch.from_numpy(batch.data).to(device)
    dense = torch.zeros(batch.shape, dtype=values.dtype, device=device)
    dense[row_of, columns] = values
    return dense
