"""Optimizers: the solvers an estimator can name and the settings each takes from its params."""

import torch

from .penalty import UNPENALIZED, penalized_solver

__all__ = ["SOLVERS", "fused_kernels_apply", "optimizer_params"]

SOLVERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    # Trained by skbatch.training.lbfgs through scipy, as scikit-learn does;
    # the net holds torch's LBFGS only so that it is built like any other.
    "lbfgs": torch.optim.LBFGS,
}


def optimizer_params(estimator, *, fused=True):
    """skorch ``optimizer__*`` settings for ``estimator``'s solver, momentum, betas and decay.

    ``alpha`` is a loss penalty for SGD and Adam (:mod:`skbatch.training.penalty`),
    so their optimizers decay nothing; AdamW keeps its decoupled decay at ``alpha``.
    ``fused``: whether torch's fused kernels may update the module (see
    :func:`fused_kernels_apply`); otherwise its multi-tensor kernels do.
    """
    params = {}
    if estimator.solver == "lbfgs":
        # Unused (see SOLVERS), and torch's LBFGS takes one param group only.
        # The penalty is in lbfgs's loss.
        return params
    params["optimizer__weight_decay"] = 0.0
    # torch's fused kernels, which its default leaves off on the CPU: one
    # pass over each parameter per step, where the multi-tensor kernels make
    # one per operation (seven for Adam): a fit at default params takes 15-20%
    # less time on the CPU, and a wide sparse first layer a third of Adam's.
    # A fused search's stacks run the same kernels (skbatch.fused.optim), so
    # a stacked model's update is its own fit's, computed by the same code.
    # They read each state tensor laid out as its parameter: state handed
    # over is (skbatch.fused.optim._own_copy), and a module with a parameter
    # that is not contiguous, whose stored state is, gets the multi-tensor
    # kernels instead (see fused_kernels_apply).
    if fused:
        params["optimizer__fused"] = True
    else:
        params["optimizer__foreach"] = True
    if not penalized_solver(estimator.solver) and estimator.alpha > 0:
        # On weights only, as the penalty. A second param group costs a
        # second optimizer pass per step, so it exists only when there is
        # a decay to leave out.
        params["optimizer__weight_decay"] = estimator.alpha
        params["optimizer__param_groups"] = [(UNPENALIZED, {"weight_decay": 0.0})]
    if estimator.solver == "sgd":
        params["optimizer__momentum"] = estimator.momentum
        params["optimizer__nesterov"] = estimator.nesterovs_momentum and estimator.momentum > 0
    else:
        params["optimizer__betas"] = (estimator.beta_1, estimator.beta_2)
        params["optimizer__eps"] = estimator.epsilon
    return params


def fused_kernels_apply(module):
    """Whether torch's fused optimizer kernels may update ``module``: every parameter contiguous floats.

    A stored or handed-over optimizer state is contiguous; a parameter that
    is not (a transposed view made a Parameter) would be updated wrongly
    from it by the fused kernels, which walk all their tensors in memory
    order. And they refuse parameters that are not floating point.
    """
    return all(param.is_contiguous() and param.is_floating_point() for param in module.parameters())
