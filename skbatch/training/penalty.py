"""scikit-learn's L2 penalty: ``0.5 * alpha * sum(||W||^2) / n_rows`` added to a batch's loss.

Weights only, not biases, as in scikit-learn's MLP. Its gradient is
``alpha * W / n_rows``: the coupled weight decay of torch's SGD and Adam at
``alpha / n_rows``, which is how the fused path applies it
(:class:`skbatch.fused.optim.StackedOptimizer`).
"""

import torch

__all__ = ["l2_penalty", "penalized_solver"]


def penalized_solver(solver):
    """Whether ``solver`` takes ``alpha`` as this penalty (not AdamW, whose decay is decoupled)."""
    return solver != "adamw"


def l2_penalty(module, alpha, n_rows):
    """The penalty of ``module``'s weights for a batch of ``n_rows`` rows, as a scalar tensor.

    The weights are looked up at each call, not kept: a pickled net must
    not hold copies of its module's parameters apart from the module.
    """
    squares = [param.square().sum() for name, param in module.named_parameters() if not name.endswith("bias")]
    return torch.stack(squares).sum() * (0.5 * alpha / n_rows)
