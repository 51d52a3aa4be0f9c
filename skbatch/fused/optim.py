"""The stacked optimizer: each model of a stack keeps its own settings and state.

A hand-written Adam/AdamW/SGD that follows ``torch.optim``'s formulas row by
row. Each model's stopping rule and lr schedule are its own fit's
(:class:`skbatch.training.epoch_rules.EpochRules`).
"""

import torch

from ..training.penalty import penalized_solver
from .rows import join_rows, kept_runs, rows_of, runs
from .stacks import column, per_model

__all__ = ["MixedOptimizer", "StackedOptimizer"]


class StackedOptimizer:
    """Adam, AdamW or SGD over a stack, each model with its own hyperparameters.

    Follows ``torch.optim``'s single-tensor update formulas, so a model gets
    the update its own optimizer would give it. A hyperparameter is a float
    when all models share it, else a tensor of the stack's shape.
    """

    def __init__(self, solver, estimators, decay_mask, device):
        self.solver = solver
        self.device = device
        self.shape = (len(estimators), decay_mask.shape[1])
        n_params = self.shape[1]
        alphas = [e.alpha for e in estimators]
        # alpha of each model, on its weights only: scikit-learn's penalty
        # (skbatch.training.penalty) for SGD and Adam, decoupled decay for AdamW.
        self.decay = column(alphas, device) * decay_mask if any(alphas) else None
        self.penalized = penalized_solver(solver)
        self.alpha, self.decay_mask = column(alphas, device), decay_mask
        self._decay_rows = None  # (rows, decay / rows), see _decay_over
        self.step_count = 0
        # Steps taken before this stack, per model (K, 1), when continued models differ in them; else None.
        self.step_offset = None
        if solver == "sgd":
            self.momentum = per_model([e.momentum for e in estimators], n_params, device)
            nesterov = [e.nesterovs_momentum and e.momentum > 0 for e in estimators]
            self.nesterov = all(nesterov) or (any(nesterov) and per_model(nesterov, n_params, device).bool())
            self.buffer = None
        else:
            self.beta_1 = per_model([e.beta_1 for e in estimators], n_params, device)
            self.beta_2 = per_model([e.beta_2 for e in estimators], n_params, device)
            self.eps = per_model([e.epsilon for e in estimators], n_params, device)
            self.exp_avg = self.exp_avg_sq = None
        self.set_lr([e.lr_ for e in estimators])

    def set_lr(self, lrs):
        """Each model's learning rate from now on."""
        self.lr = per_model(lrs, self.shape[1], self.device)

    def select(self, index):
        """Keep the models at ``index`` (rows of the stack), in that order."""
        n_models = self.shape[0]
        for name, value in list(vars(self).items()):
            if isinstance(value, torch.Tensor) and value.shape[0] == n_models:
                setattr(self, name, value[index])
        self.shape = (len(index), self.shape[1])
        self._decay_rows = None

    @torch.no_grad()
    def penalty(self, params, rows):
        """Each model's penalty ``0.5 * alpha * sum(W**2) / rows``, shape (K,); 0.0 when there is none.

        ``rows`` is the batch's row count: a float, or a (K, 1) column
        where the models' last batches differ.
        """
        if self.decay is None or not self.penalized:
            return 0.0
        # The order of the model's own fit (skbatch.training.penalty): the
        # sum of squares, then alpha; a diverging fit overflows alike.
        total = params.square().mul_(self.decay_mask).sum(dim=1, keepdim=True)
        return (total * (0.5 * self.alpha / rows)).squeeze(1)

    @torch.no_grad()
    def step(self, params, grad, rows=1.0):
        """Update ``params`` in place from ``grad``, which the step may overwrite.

        ``rows`` (see :meth:`penalty`) scales the penalty's gradient,
        ``alpha * W / rows``, which is added here.
        """
        self.step_count += 1
        if self.decay is not None and self.penalized:
            grad.addcmul_(params, self._decay_over(rows))
        if self.solver == "sgd":
            self._sgd(params, grad)
        else:
            self._adam(params, grad)

    def _decay_over(self, rows):
        """``decay / rows``, kept for the batch size every full batch has: one tensor less to make per step."""
        if not isinstance(rows, (int, float)):
            return self.decay / rows
        if self._decay_rows is None or self._decay_rows[0] != rows:
            self._decay_rows = (rows, self.decay / rows)
        return self._decay_rows[1]

    def _sgd(self, params, grad):
        if self.buffer is None:
            self.buffer = grad.clone()
        else:
            self.buffer.mul_(self.momentum).add_(grad)
        # Nesterov: grad + momentum * buffer; otherwise the buffer itself
        # (which is grad where momentum is 0, as torch's SGD without momentum).
        if self.nesterov is False:
            update = self.buffer
        else:
            # torch's SGD: grad.add(buf, alpha=momentum), one fused operation where momentum is one float.
            if isinstance(self.momentum, float):
                nesterov_update = grad.add_(self.buffer, alpha=self.momentum)
            else:
                nesterov_update = grad.add_(self.buffer * self.momentum)
            update = nesterov_update if self.nesterov is True else torch.where(self.nesterov, nesterov_update, self.buffer)
        # torch's SGD: param.add_(update, alpha=-lr).
        if isinstance(self.lr, float):
            params.add_(update, alpha=-self.lr)
        else:
            params.sub_(update * self.lr)

    def _adam(self, params, grad):
        if self.decay is not None and not self.penalized:
            params.mul_(1 - self.lr * self.decay)
        if self.exp_avg is None:
            self.exp_avg = torch.zeros_like(params)
            self.exp_avg_sq = torch.zeros_like(params)
        self.exp_avg.lerp_(grad, 1 - self.beta_1)
        self.exp_avg_sq.mul_(self.beta_2)
        if isinstance(self.beta_2, float):
            self.exp_avg_sq.addcmul_(grad, grad, value=1 - self.beta_2)
        else:
            self.exp_avg_sq.addcmul_(grad, grad * (1 - self.beta_2))
        steps = self.step_count if self.step_offset is None else self.step_offset + self.step_count
        bias_correction_1 = 1 - self.beta_1**steps
        bias_correction_2 = 1 - self.beta_2**steps
        # torch's Adam: params -= lr / bc1 * exp_avg / (sqrt(exp_avg_sq) / sqrt(bc2) + eps)
        denom = self.exp_avg_sq.sqrt().div_(bias_correction_2**0.5).add_(self.eps)
        if isinstance(self.lr, float) and isinstance(bias_correction_1, float):
            params.addcdiv_(self.exp_avg, denom, value=-self.lr / bias_correction_1)
        else:
            params.addcdiv_(self.exp_avg, denom.mul_(bias_correction_1).div_(self.lr), value=-1.0)

    def load(self, estimators, stack, step_counts):
        """Take each model's state from its estimator's own optimizer: the inverse of :meth:`state_into`.

        For models that continue a fit: ``step_counts``, the steps each has taken.
        """
        if all(count == step_counts[0] for count in step_counts):
            self.step_count = step_counts[0]
        else:  # a full-data fit continued beside fold models takes more steps per epoch
            self.step_offset = column(step_counts, self.device)
        names = ("momentum_buffer",) if self.solver == "sgd" else ("exp_avg", "exp_avg_sq")
        if self.solver == "sgd" and not any(e.momentum > 0 for e in estimators):
            return
        buffers = {name: torch.zeros(self.shape, device=self.device) for name in names}
        for row, estimator in enumerate(estimators):
            state = estimator.net_.optimizer_.state
            for name, buffer in buffers.items():
                for param, view in stack.unstack(buffer, row, estimator.net_.module_):
                    if param in state:  # SGD without momentum keeps none: its buffer is the gradient
                        view.copy_(state[param][name])
        if self.solver == "sgd":
            self.buffer = buffers["momentum_buffer"]
        else:
            self.exp_avg, self.exp_avg_sq = buffers["exp_avg"], buffers["exp_avg_sq"]

    def _steps_of(self, row):
        return self.step_count + (0 if self.step_offset is None else int(self.step_offset[row, 0]))

    def state_into(self, row, estimator, stack, lr):
        """Give ``estimator``'s own optimizer the state of model ``row``, as if it had trained alone.

        ``lr`` is the model's current rate, as the Python float its own
        schedule would have left.
        """
        optimizer = estimator.net_.optimizer_
        module = estimator.net_.module_
        for group in optimizer.param_groups:
            group["lr"] = lr
        if self.solver == "sgd":
            momentum = self.momentum if isinstance(self.momentum, float) else float(self.momentum[row, 0])
            if self.buffer is not None and momentum > 0:
                for param, value in stack.unstack(self.buffer, row, module):
                    optimizer.state[param] = {"momentum_buffer": _own_copy(value, param)}
        elif self.exp_avg is not None:
            pairs = zip(stack.unstack(self.exp_avg, row, module), stack.unstack(self.exp_avg_sq, row, module))
            for (param, exp_avg), (_, exp_avg_sq) in pairs:
                optimizer.state[param] = {
                    "step": torch.tensor(float(self._steps_of(row))),
                    "exp_avg": _own_copy(exp_avg, param),
                    "exp_avg_sq": _own_copy(exp_avg_sq, param),
                }


class MixedOptimizer:
    """One optimizer over a stack whose models use different solvers (sgd, adam, adamw).

    Each run of consecutive rows with one solver (the trainer orders the
    models so that runs are few) has a :class:`StackedOptimizer` of its own
    that updates its rows of ``flat`` in place, through views. With one
    solver it is that solver's optimizer over every row.

    Parameters
    ----------
    estimators : list of BaseTorchEstimator
        The stack's models, in row order, each solver's rows contiguous.
    decay_mask : torch.Tensor
        ``(1, n_params)``: 1 where ``alpha`` applies (weights), 0 elsewhere.
    device : torch.device
    """

    def __init__(self, estimators, decay_mask, device):
        self.groups = [
            [start, stop, StackedOptimizer(solver, estimators[start:stop], decay_mask, device)]
            for solver, start, stop in runs([e.solver for e in estimators])
        ]

    def set_lr(self, lrs):
        """Each model's learning rate from now on, in row order."""
        for start, stop, optimizer in self.groups:
            optimizer.set_lr(lrs[start:stop])

    def select(self, index):
        """Keep the models at ``index`` (rows of the stack, ascending), in that order."""
        kept = []
        for position, local, start, stop in kept_runs(index, [(start, stop) for start, stop, _ in self.groups]):
            optimizer = self.groups[position][2]
            optimizer.select(local)
            kept.append([start, stop, optimizer])
        self.groups = kept

    def penalty(self, params, rows):
        """Each model's penalty, shape ``(K,)``, or 0.0 when no model has one (see :meth:`StackedOptimizer.penalty`)."""
        parts = [(start, stop, optimizer.penalty(params[start:stop], rows_of(rows, start, stop))) for start, stop, optimizer in self.groups]
        return join_rows(parts, params.shape[0], params.device)

    def step(self, params, grad, rows=1.0):
        """Update every group's rows of ``params`` in place from ``grad`` (which may be overwritten)."""
        for start, stop, optimizer in self.groups:
            optimizer.step(params[start:stop], grad[start:stop], rows_of(rows, start, stop))

    def load(self, estimators, stack, step_counts):
        """Take each model's state from its estimator's own optimizer (models that continue a fit)."""
        for start, stop, optimizer in self.groups:
            optimizer.load(estimators[start:stop], stack, step_counts[start:stop])

    def state_into(self, row, estimator, stack, lr):
        """Give ``estimator``'s own optimizer the state of model ``row``, as if it had trained alone."""
        for start, stop, optimizer in self.groups:
            if start <= row < stop:
                return optimizer.state_into(row - start, estimator, stack, lr)
        raise IndexError(f"no model at row {row} of the stack")


def _own_copy(value, param):
    """A copy of ``value`` laid out as ``param`` is (contiguous, on its device), as a fresh optimizer's state is.

    ``value`` is a view into the stack's state (a transposed block of it):
    torch's fused and foreach kernels expect state shaped and strided like
    the parameter, and a fused Adam given another layout updates wrongly.
    """
    return value.to(param.device).clone(memory_format=torch.contiguous_format)
