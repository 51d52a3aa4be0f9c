"""scikit-learn's L2 penalty: ``0.5 * alpha * sum(||W||^2) / n_rows`` added to a batch's loss.

Weights only, not biases, as in scikit-learn's MLP (its ``intercepts_`` go
unpenalized). Its gradient is ``alpha * W / n_rows``: the coupled weight
decay of torch's SGD and Adam at ``alpha / n_rows``, which is how the fused
path applies it (:class:`skbatch.fused.optim.StackedOptimizer`). scikit-learn
divides by the rows of the batch the loss is computed on, or by the sum of
their ``sample_weight`` when given, so that the penalty keeps its weight
against the mean loss whatever the batch size.

An unfused training step applies it as scikit-learn's ``_backprop`` does,
with :func:`add_penalty_gradient`: the term is added to the gradients
after the data loss's backward pass and its value computed without
autograd, since building and differentiating it at every step costs a
small network a quarter of its fit.
"""

from fnmatch import fnmatch

import torch

__all__ = [
    "UNPENALIZED",
    "add_penalty_gradient",
    "l2_penalty",
    "module_penalty",
    "penalized_solver",
    "penalized_weights",
]

# Parameter names the penalty leaves out, as skorch param_groups patterns:
# the biases, as in scikit-learn's MLP.
UNPENALIZED = "*bias"


def penalized_solver(solver):
    """Whether ``solver`` takes ``alpha`` as this penalty (not AdamW, whose decay is decoupled)."""
    return solver != "adamw"


def penalized_weights(module):
    """The trainable parameters of ``module`` that ``alpha`` penalizes: all but the biases.

    Looked up at each call, not kept: a pickled net must not hold copies of
    its module's parameters apart from the module.
    """
    return [param for name, param in module.named_parameters() if param.requires_grad and not fnmatch(name, UNPENALIZED)]


def l2_penalty(weights, alpha, n_rows):
    """The penalty of ``weights`` for a batch of ``n_rows`` rows (or weights' sum), a differentiable scalar."""
    squares = sum(weight.pow(2).sum() for weight in weights)
    return (0.5 * alpha / n_rows) * squares


def module_penalty(module, alpha, n_rows):
    """:func:`l2_penalty` of ``module``'s penalized weights."""
    return l2_penalty(penalized_weights(module), alpha, n_rows)


def add_penalty_gradient(module, loss, alpha, n_rows):
    """Add the penalty's gradient ``alpha * W / n_rows`` to each penalized weight's ``.grad``; return ``loss`` plus its value.

    The same update as backpropagating :func:`module_penalty`, without
    building it into the autograd graph. Call it after the data loss's
    ``backward`` and before the optimizer step.

    Parameters
    ----------
    module : torch.nn.Module
    loss : torch.Tensor
        The batch's data loss, detached: the recorded loss gains the penalty.
    alpha : float
        scikit-learn's ``alpha``; must be positive.
    n_rows : int, float or 0-d torch.Tensor
        The batch's rows, or its ``sample_weight`` sum.

    Returns
    -------
    torch.Tensor
        ``loss + 0.5 * alpha * sum(||W||^2) / n_rows``, with no gradient;
        ``loss`` itself when ``module`` has no penalized weights.
    """
    weights = penalized_weights(module)
    if not weights:
        return loss
    # A number, for the alpha of add_ and add: a weights' sum comes as a 0-d tensor.
    scale = float(alpha / n_rows)
    with torch.no_grad():
        for weight in weights:
            if weight.grad is None:
                # Unused by this batch's forward: the penalty is its whole gradient.
                weight.grad = weight * scale
            else:
                weight.grad.add_(weight, alpha=scale)
        # As few torch calls as the sum allows: on a small network each
        # costs more than its arithmetic.
        first, *rest = (weight.reshape(-1) for weight in weights)
        squares = first.dot(first)
        for flat in rest:
            squares = squares + flat.dot(flat)
        return torch.add(loss, squares, alpha=0.5 * scale)
