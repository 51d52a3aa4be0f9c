"""Optimizers: the solvers an estimator can name and the settings each takes from its params."""

import torch

from .penalty import UNPENALIZED, penalized_solver

__all__ = ["SOLVERS", "optimizer_params"]

SOLVERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    # Trained by skbatch.training.lbfgs through scipy, as scikit-learn does;
    # the net holds torch's LBFGS only so that it is built like any other.
    "lbfgs": torch.optim.LBFGS,
}


def optimizer_params(estimator, *, sparse_input=False):
    """skorch ``optimizer__*`` settings for ``estimator``'s solver, momentum, betas and decay.

    ``alpha`` is a loss penalty for SGD and Adam (:mod:`skbatch.training.penalty`),
    so their optimizers decay nothing; AdamW keeps its decoupled decay at ``alpha``.
    ``sparse_input``: the fit's X is sparse, so its first layer is as wide as
    its columns and Adam's update of it is most of each step.
    """
    params = {}
    if estimator.solver == "lbfgs":
        # Unused (see SOLVERS), and torch's LBFGS takes one param group only.
        # The penalty is in lbfgs's loss.
        return params
    params["optimizer__weight_decay"] = 0.0
    if sparse_input and estimator.solver in ("adam", "adamw"):
        # A wide first layer (40,000 x 64 weights for a TF-IDF matrix) makes
        # Adam's seven passes over it most of a step; torch's fused kernel
        # takes one, three times faster, its rounding different from the
        # multi-tensor kernel's in the last bit. On the CPU it computes wrong
        # updates from state strided unlike its parameter: state a fused
        # search hands over is laid out as the parameter
        # (skbatch.fused.optim._own_copy).
        params["optimizer__fused"] = True
    else:
        # torch's multi-tensor kernels, which its default leaves off on the
        # CPU: a few calls per step for all parameters rather than about
        # eight per parameter, a dozen small calls saved per step for a
        # small network.
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
