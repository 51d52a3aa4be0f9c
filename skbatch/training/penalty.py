"""scikit-learn's L2 penalty: ``0.5 * alpha * sum(||W||^2) / n_rows`` added to a batch's loss.

Weights only, not biases, as in scikit-learn's MLP (its ``intercepts_`` go
unpenalized). Its gradient is ``alpha * W / n_rows``: the coupled weight
decay of torch's SGD and Adam at ``alpha / n_rows``, which is how the fused
path applies it (:class:`skbatch.fused.optim.StackedOptimizer`). scikit-learn
divides by the rows of the batch the loss is computed on, or by the sum of
their ``sample_weight`` when given, so that the penalty keeps its weight
against the mean loss whatever the batch size.
"""

from fnmatch import fnmatch

__all__ = ["UNPENALIZED", "l2_penalty", "module_penalty", "penalized_solver", "penalized_weights"]

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
    return [
        param
        for name, param in module.named_parameters()
        if param.requires_grad and not fnmatch(name, UNPENALIZED)
    ]


def l2_penalty(weights, alpha, n_rows):
    """The penalty of ``weights`` for a batch of ``n_rows`` rows (or weights' sum), a differentiable scalar."""
    squares = sum(weight.pow(2).sum() for weight in weights)
    return (0.5 * alpha / n_rows) * squares


def module_penalty(module, alpha, n_rows):
    """:func:`l2_penalty` of ``module``'s penalized weights."""
    return l2_penalty(penalized_weights(module), alpha, n_rows)
