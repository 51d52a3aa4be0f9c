"""``solver='lbfgs'``: full-batch L-BFGS, as scikit-learn's MLP trains with it.

scikit-learn hands its flattened weights to ``scipy.optimize.minimize(method=
'L-BFGS-B')`` with ``maxiter=max_iter``, ``maxfun=max_fun`` and ``gtol=tol``,
and a function that returns the full-batch loss (with the L2 penalty) and
its gradient. skbatch does the same, with torch computing the loss and the
gradient on the fit's device. Driving scipy's optimizer rather than
``torch.optim.LBFGS`` keeps scikit-learn's semantics exactly: an iteration
is one of scipy's (``n_iter_`` is its ``nit``), ``max_fun`` counts scipy's
function calls, the stopping rules are scipy's ``gtol`` (from ``tol``) and
default ``ftol``, and the ConvergenceWarning is scikit-learn's own.
torch's LBFGS counts and stops differently (``tolerance_grad`` /
``tolerance_change``, its own line search). The price is one copy of the
parameter vector between the device and the CPU per function call, small
next to a full-batch forward and backward pass.

As in scikit-learn, lbfgs ignores the batch size (every row is one batch;
``accumulation_steps`` still splits its computation to save memory), the
learning rate and its schedules, ``n_iter_no_change`` and
``early_stopping`` (no rows are held out), and has no ``partial_fit``.
"""

import time
from dataclasses import dataclass

import numpy as np
import scipy.optimize
import torch

from .._compat import InvalidParameterError, check_optimize_result, lbfgs_verbosity
from .faults import NonFiniteLossError
from .penalty import l2_penalty, penalized_weights
from .sparse import densify_rows, is_sparse, n_rows

__all__ = ["FULL_BATCH", "LbfgsRun", "check_full_batch_params", "check_partial_fit_solver", "fit_lbfgs", "record_lbfgs"]

# Plan params lbfgs overrides: one full batch per function call, for any
# batch_size, as scikit-learn ignores batch_size for lbfgs. The max-batch
# search is skipped too: there is no batch size to choose.
FULL_BATCH = {"batch_size": "full", "batch_size_milestones": None, "drop_last": False, "lr_scaling": None}


def check_full_batch_params(estimator):
    """Raise InvalidParameterError for a param that asks lbfgs's one full batch to change size."""
    growth = estimator.batch_size_growth
    if isinstance(growth, str) and growth == "noise":
        raise InvalidParameterError(
            f"batch_size_growth='noise' of {type(estimator).__name__} grows the batch during training, "
            "but solver='lbfgs' trains on one full batch, whose size never changes. Use solver='adam' or "
            "'sgd' to grow the batch, or keep lbfgs and give batch_size_growth a factor such as 2.0 "
            "(which lbfgs ignores, as it ignores batch_size)."
        )


def check_partial_fit_solver(estimator):
    """``available_if`` check for ``partial_fit``: scikit-learn's, word for word."""
    if estimator.solver == "lbfgs":
        raise AttributeError(f"partial_fit is only available for stochastic optimizers. {estimator.solver} is not stochastic.")
    return True


@dataclass(frozen=True)
class LbfgsRun:
    """What one lbfgs fit did: scikit-learn's ``n_iter_`` and ``loss_``, and its first history row."""

    n_iter: int
    loss: float
    first_row: int


class _FullBatchObjective:
    """scipy's ``fun`` with ``jac=True``: the full-batch penalized loss of ``net`` at a flat parameter vector, and its gradient."""

    def __init__(self, net, X, y, *, alpha, n_slices):
        self.net = net
        self.X, self.y = X, y
        self.alpha = alpha
        self.params = [param for param in net.module_.parameters() if param.requires_grad]
        self.weights = penalized_weights(net.module_)
        # Weighted targets come as the pair (y, sample_weight) the loss takes.
        self.sample_weight = y[1] if isinstance(y, tuple) else None
        n_samples = n_rows(X)
        slice_size = -(-n_samples // n_slices)
        self.slices = [slice(start, start + slice_size) for start in range(0, n_samples, slice_size)]
        self.calls = []  # losses of the calls since the last iteration ended

    def initial(self):
        with torch.no_grad():
            return torch.cat([param.reshape(-1) for param in self.params]).to("cpu", torch.float64).numpy()

    def _load(self, flat):
        values = torch.from_numpy(flat).to(self.params[0].device)
        offset = 0
        with torch.no_grad():
            for param in self.params:
                param.copy_(values[offset : offset + param.numel()].view_as(param))
                offset += param.numel()

    def __call__(self, flat):
        self._load(flat)
        for param in self.params:
            param.grad = None
        # scikit-learn divides the penalty by the rows, or by the weights' sum.
        total = n_rows(self.X) if self.sample_weight is None else self.sample_weight.sum()
        loss = 0.0
        # The gradient of the (weighted) mean loss, summed over slices weighted by their share.
        for rows in self.slices:
            X_slice = densify_rows(self.X, rows, self.params[0].device) if is_sparse(self.X) else self.X[rows]
            if self.sample_weight is None:
                y_slice, share = self.y[rows], n_rows(X_slice) / total
            else:
                w_slice = self.sample_weight[rows]
                y_slice, share = (self.y[0][rows], w_slice), w_slice.sum() / total
            y_pred = self.net.infer(X_slice)
            slice_loss = self.net.get_loss(y_pred, y_slice, X=X_slice, training=True) * share
            slice_loss.backward()
            loss = loss + slice_loss.detach()
        if self.alpha > 0 and self.weights:
            penalty = l2_penalty(self.weights, self.alpha, total)
            penalty.backward()
            loss = loss + penalty.detach()
        grad = torch.cat([(torch.zeros_like(p) if p.grad is None else p.grad).reshape(-1) for p in self.params])
        value = float(loss)
        self.calls.append(value)
        return value, grad.to("cpu", torch.float64).numpy()


def fit_lbfgs(estimator, X, y, *, max_iter):
    """Train ``estimator.net_`` on the tensors ``X`` and ``y`` with scipy's L-BFGS-B; return an :class:`LbfgsRun`.

    Each L-BFGS iteration becomes a row of the net's history (its loss as
    ``train_loss``, one batch per function call); warns as scikit-learn
    does when ``max_iter`` or ``max_fun`` stops it.
    """
    net = estimator.net_
    net._set_training(True)
    objective = _FullBatchObjective(net, X, y, alpha=estimator.alpha, n_slices=net.batch_plan.accumulation_steps_at(0))
    history = net.history
    first_row = len(history)
    started = time.perf_counter()

    def end_row():
        history.new_epoch()
        history.record("epoch", len(history))
        for value in objective.calls:
            history.new_batch()
            history.record_batch("train_loss", value)
            history.record_batch("train_batch_size", n_rows(X))
        history.record("train_batch_count", len(objective.calls))
        history.record("train_loss", objective.calls[-1])
        history.record("dur", time.perf_counter() - started)
        objective.calls.clear()

    def on_iteration(intermediate_result):
        # The line search's last call is at the accepted point.
        end_row()

    result = scipy.optimize.minimize(
        objective,
        objective.initial(),
        method="L-BFGS-B",
        jac=True,
        callback=on_iteration,
        options={
            "maxfun": estimator.max_fun,
            "maxiter": max_iter,
            "gtol": estimator.tol,
            **lbfgs_verbosity(estimator.verbose),
        },
    )
    # Calls after the last iteration (a failed line search, max_fun reached)
    # belong to the fit's last row, or to a row of their own if it had none.
    if objective.calls:
        if len(history) > first_row:
            batches = history[-1]["batches"]
            batches.extend({"train_loss": value, "train_batch_size": n_rows(X)} for value in objective.calls)
            history.record("train_batch_count", len(batches))
            objective.calls.clear()
        else:
            end_row()
    # scipy returns its best point, not necessarily the last one evaluated.
    objective._load(result.x)
    loss = float(result.fun)
    if not np.isfinite(loss) or not all(torch.isfinite(p).all() for p in objective.params):
        raise NonFiniteLossError(
            f"The training loss of {type(estimator).__name__} became {loss} with solver='lbfgs' "
            f"after {result.nit} iteration(s): training diverged. Scale the features "
            "(e.g. StandardScaler in a Pipeline) or raise alpha."
        )
    n_iter = check_optimize_result("lbfgs", result, max_iter)
    return LbfgsRun(n_iter=int(n_iter), loss=loss, first_row=first_row)


def record_lbfgs(estimator, run):
    """Set the fitted attributes of an lbfgs fit as scikit-learn does; ``run`` is :func:`fit_lbfgs`'s."""
    rows = estimator.net_.history[run.first_row :]
    estimator.n_iter_ = run.n_iter
    estimator.loss_ = run.loss
    estimator.batch_size_ = estimator.net_.batch_plan.batch_size
    estimator.batch_size_curve_ = [estimator.batch_size_] * len(rows)
    # One update per iteration; the line search's extra calls are in net_.history.
    estimator.n_updates_per_epoch_ = 1
    # scikit-learn's lbfgs records no loss curve and holds out no validation
    # data; a curve left by an earlier fit with another solver would not
    # describe this one.
    estimator.__dict__.pop("loss_curve_", None)
    estimator.validation_scores_ = None
    estimator.best_validation_score_ = None
    # A full batch has no batch-to-batch noise to measure: NaN for every row, as
    # noise_scale_curve_ is documented to hold where no estimate could be made.
    tracked = estimator.track_noise_scale
    estimator.noise_scale_curve_ = [row.get("noise_scale", float("nan")) for row in estimator.net_.history] if tracked else None
