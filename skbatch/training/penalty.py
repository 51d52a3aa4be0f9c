"""The L2 penalty on a module's weights, as scikit-learn's MLP adds it to its loss."""

from fnmatch import fnmatch

__all__ = ["UNPENALIZED", "l2_penalty", "penalized_weights"]

# Parameter names the penalty leaves out, as skorch param_groups patterns:
# the biases, as in scikit-learn's MLP (its intercepts_).
UNPENALIZED = "*bias"


def penalized_weights(module):
    """The trainable parameters of ``module`` that ``alpha`` penalizes: all but the biases."""
    return [
        param
        for name, param in module.named_parameters()
        if param.requires_grad and not fnmatch(name, UNPENALIZED)
    ]


def l2_penalty(weights, alpha, n_samples):
    """scikit-learn's penalty term: ``0.5 * alpha * ||W||² / n_samples``, a differentiable scalar tensor.

    scikit-learn divides by the rows of the batch the loss is computed on
    (its ``sample_weight`` sum when given), so that the penalty keeps its
    weight against the mean loss whatever the batch size.
    """
    squares = sum(weight.pow(2).sum() for weight in weights)
    return (0.5 * alpha / n_samples) * squares
