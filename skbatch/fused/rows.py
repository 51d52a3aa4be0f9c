"""Runs of consecutive rows of a stack: the models that share an update rule, an activation or a block.

A stack orders its models so that those alike sit in consecutive rows;
each run then gets one operation over a slice of the stack's tensors. These
helpers keep that bookkeeping in one place.
"""

import torch

__all__ = ["join_rows", "kept_runs", "rows_of", "rows_of_each", "runs"]


def runs(values):
    """``[(value, start, stop), ...]``: the runs of equal consecutive ``values``."""
    found = []
    for position, value in enumerate(values):
        if found and found[-1][0] == value:
            found[-1] = (value, found[-1][1], position + 1)
        else:
            found.append((value, position, position + 1))
    return found


def rows_of(value, start, stop):
    """Rows ``start:stop`` of a per-model tensor; a value every model shares (a float, a 0-d tensor) as it is."""
    return value[start:stop] if isinstance(value, torch.Tensor) and value.dim() > 0 else value


def rows_of_each(tensors, start, stop):
    """Rows ``start:stop`` of each of ``tensors`` (a stack's parameters, their gradients or state); ``tensors`` itself for all rows."""
    if start == 0 and stop == len(tensors[0]):
        return tensors
    return [tensor[start:stop] for tensor in tensors]


def kept_runs(index, bounds):
    """Where the runs ``bounds`` (``[(start, stop), ...]``, in row order) stand once the rows ``index`` are kept.

    ``index`` holds the stack's rows that stay, ascending. Yields, for each
    run that keeps a row, ``(position in bounds, its rows of index counted
    from its start, its new start, its new stop)``.
    """
    start = 0
    for position, (old_start, old_stop) in enumerate(bounds):
        local = index[(index >= old_start) & (index < old_stop)] - old_start
        if len(local):
            yield position, local, start, start + len(local)
            start += len(local)


def join_rows(parts, n_rows, device):
    """One ``(n_rows,)`` tensor of the runs' values ``[(start, stop, value), ...]``; 0.0 if every value is a float.

    A float stands for zeros over its run (a run with nothing to add).
    """
    if all(isinstance(value, float) for _, _, value in parts):
        return 0.0
    total = torch.zeros(n_rows, device=device)
    for start, stop, value in parts:
        if not isinstance(value, float):
            total[start:stop] = value
    return total
