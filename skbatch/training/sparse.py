"""Sparse ``X``: kept as a scipy CSR matrix on the host, cut into batches of rows one at a time.

A TF-IDF or one-hot matrix can be far larger dense than sparse (60,000 x
40,000 float32 is 9.6 GB dense, 12 MB sparse with 1M non-zeros), so the
training and prediction paths never hold more than one batch of it.

A batch is either densified (:func:`densify_rows`), which any module
takes, or kept sparse as a torch COO tensor (:func:`sparse_rows`) for a
module whose first layer multiplies it directly (:func:`sparse_linear`),
as scikit-learn's MLP does: that costs in proportion to the non-zeros, not
to ``rows x n_features``.
"""

import numpy as np
import scipy.sparse
import torch

__all__ = ["as_csr", "densify_rows", "is_sparse", "n_rows", "sparse_linear", "sparse_rows", "take_rows"]


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


def sparse_rows(X, rows, device=None):
    """The rows ``rows`` of the canonical CSR matrix ``X`` as a coalesced torch sparse COO tensor.

    Parameters
    ----------
    X : scipy.sparse.csr_matrix or csr_array
        In canonical form (:func:`as_csr`), so that its rows' entries are
        sorted and unique: a coalesced COO tensor as they are.
    rows : slice or array of int
        Which rows, in the order the batch takes them.
    device : torch.device or str, default=None
        Where the tensor lives; the CPU when None.

    Returns
    -------
    torch.Tensor of shape (n_rows, n_features), sparse COO layout
    """
    if isinstance(rows, torch.Tensor):
        rows = rows.numpy()
    batch = X[rows]
    row_of = np.repeat(np.arange(batch.shape[0]), np.diff(batch.indptr))
    indices = torch.from_numpy(np.vstack([row_of, batch.indices]).astype(np.int64))
    # The invariant check (indices in range, coalesced as claimed) costs
    # O(nnz) per batch, next to nothing; a wrong claim would be a wrong product.
    tensor = torch.sparse_coo_tensor(indices, torch.from_numpy(batch.data), batch.shape, is_coalesced=True, check_invariants=True)
    return tensor if device is None else tensor.to(device)


def take_rows(X, rows):
    """Rows ``rows`` (a slice with no step) of a dense tensor or of a sparse COO tensor, which has no slicing."""
    if not (isinstance(X, torch.Tensor) and X.is_sparse):
        return X[rows]
    start, stop, _ = rows.indices(X.shape[0])
    return X.narrow_copy(0, start, stop - start)


def sparse_linear(X, weight, bias=None):
    """``X @ weight.T + bias`` for a sparse COO ``X``: ``torch.nn.functional.linear`` that costs by the non-zeros.

    The gradient of ``weight`` (and ``bias``) is the one of the dense
    product; ``X`` gets none (it is data).
    """
    output = _SparseTimesWeightT.apply(X, weight)
    return output if bias is None else output + bias


class _SparseTimesWeightT(torch.autograd.Function):
    """``X @ weight.T`` for a coalesced sparse COO ``X``, with the weight's gradient built in its own layout.

    ``torch.sparse.mm``'s own backward computes ``X.T @ grad`` as a dense
    ``(n_features, n_outputs)`` matrix, which autograd then copies into the
    ``(n_outputs, n_features)`` layout of ``nn.Linear``'s weight: for a wide
    first layer that transposed copy is most of a training step. Here each
    non-zero ``(row, column, value)`` adds ``value * grad[row]`` to the
    weight's column directly: work by the non-zeros, plus one zero fill.
    """

    @staticmethod
    def forward(ctx, X, weight):
        ctx.save_for_backward(X)
        return torch.sparse.mm(X, weight.t())

    @staticmethod
    def backward(ctx, grad_output):
        (X,) = ctx.saved_tensors
        if not ctx.needs_input_grad[1]:
            return None, None
        rows, columns = X.indices()
        contributions = grad_output.index_select(0, rows) * X.values().unsqueeze(1)
        n_outputs, n_features = grad_output.shape[1], X.shape[1]
        grad_weight = grad_output.new_zeros(n_outputs, n_features)
        grad_weight.index_add_(1, columns, contributions.t())
        return None, grad_weight


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
