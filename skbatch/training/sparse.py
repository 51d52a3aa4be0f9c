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
        rather than ``rows x n_features``.

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
    sparse = torch.sparse_csr_tensor(
        torch.from_numpy(batch.indptr.astype(np.int64)),
        torch.from_numpy(batch.indices.astype(np.int64)),
        torch.from_numpy(batch.data),
        size=batch.shape,
        check_invariants=False,  # scipy's canonical CSR holds them already
    )
    return sparse.to(device).to_dense()
