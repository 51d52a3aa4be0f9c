"""The stacked optimizer: each model of a stack keeps its own settings and state.

Adam, AdamW and SGD by torch's fused kernels, the ones each model's own fit
runs, over runs of rows that share their settings. Each model's stopping
rule and lr schedule are its own fit's
(:class:`skbatch.training.epoch_rules.EpochRules`).
"""

import torch

from ..training.penalty import penalized_solver
from .rows import join_rows, kept_runs, rows_of, rows_of_each, runs
from .stacks import column

__all__ = ["MixedOptimizer", "StackedOptimizer"]


class StackedOptimizer:
    """Adam, AdamW or SGD over a stack, each model with its own hyperparameters.

    Each step runs torch's fused kernel, the one every model's own fit
    runs (:func:`skbatch.training.optim.optimizer_params`), once per run of
    consecutive rows that share their hyperparameters and step count: a
    model gets the update its own optimizer would give it, computed by the
    same code. The trainer orders a block's rows by learning rate, so a run
    is usually a whole solver's rows.

    The stack's parameters come as a list of ``(K, ...)`` tensors, row k of
    each model k's (see :class:`~skbatch.fused.stacks.MLPStack`); the
    optimizer's state is laid out alike, and a run's rows of each are
    contiguous, as the fused kernels need.

    Parameters
    ----------
    solver : {"sgd", "adam", "adamw"}
    estimators : list of BaseTorchEstimator
        The models of these rows, in row order.
    decays : list of bool
        Per tensor of the stack: whether ``alpha`` applies to it (weights, not biases).
    device : torch.device
    """

    def __init__(self, solver, estimators, decays, device):
        self.solver = solver
        self.device = device
        self.decays = list(decays)
        self.n_models = len(estimators)
        self.alphas = [float(e.alpha) for e in estimators]
        # alpha of each model, on its weights only: scikit-learn's penalty
        # (skbatch.training.penalty) for SGD and Adam, decoupled decay for AdamW.
        self.alpha = column(self.alphas, device)
        self.decayed = any(self.alphas)
        self.penalized = penalized_solver(solver)
        self._decay_rows = None  # (rows, alpha / rows), see _decay_over
        self.step_count = 0
        # Steps taken before this stack, per model, when continued models differ in them; else None.
        self.step_offset = None
        if solver == "sgd":
            # What torch's SGD takes: nesterov only with momentum.
            self.settings = [(e.momentum, e.nesterovs_momentum and e.momentum > 0) for e in estimators]
            self.buffer = None
        else:
            self.settings = [(e.beta_1, e.beta_2, e.epsilon) for e in estimators]
            self.exp_avg = self.exp_avg_sq = None
            self._step_tensors = {}  # by steps taken before this stack; see _step_tensor
        self.set_lr([e.lr_ for e in estimators])

    def set_lr(self, lrs):
        """Each model's learning rate from now on."""
        self.lrs = [float(lr) for lr in lrs]
        self._runs = self._views = None

    def select(self, index):
        """Keep the models at ``index`` (rows of the stack), in that order."""
        self.alpha = self.alpha[index]
        for name in ("buffer", "exp_avg", "exp_avg_sq"):
            if getattr(self, name, None) is not None:
                setattr(self, name, [tensor[index] for tensor in getattr(self, name)])
        rows = index.tolist() if isinstance(index, torch.Tensor) else list(index)
        self.settings = [self.settings[row] for row in rows]
        self.lrs = [self.lrs[row] for row in rows]
        self.alphas = [self.alphas[row] for row in rows]
        if self.step_offset is not None:
            self.step_offset = [self.step_offset[row] for row in rows]
        self.n_models = len(rows)
        self._decay_rows = self._runs = self._views = None

    @torch.no_grad()
    def penalty(self, params, rows):
        """Each model's penalty ``0.5 * alpha * sum(W**2) / rows``, shape (K,); 0.0 when there is none.

        ``rows`` is the batch's row count: a float, or a (K, 1) column
        where the models' last batches differ.
        """
        if not self.decayed or not self.penalized:
            return 0.0
        # The order of the model's own fit (skbatch.training.penalty): each
        # weight's sum of squares as a dot product with itself, summed over
        # the weights, then alpha; a diverging fit overflows alike. One
        # batched product per weight: for 120 models of MLP(150), 200 us
        # against 690 us squaring then summing, and 380 us for the 0/1
        # mask's product over one (K, n_params) tensor.
        total = None
        for param, decayed in zip(params, self.decays):
            if decayed:
                flat = param.view(len(param), 1, -1)
                squares = torch.bmm(flat, flat.transpose(1, 2)).view(-1, 1)
                total = squares if total is None else total + squares
        if total is None:
            return 0.0
        return (total * (0.5 * self.alpha / rows)).squeeze(1)

    def penalty_scale(self, rows):
        """The factor of the penalty's gradient, ``alpha / rows`` times ``W``: a float, or a ``(K, 1)`` column; 0.0 for none.

        A float where every model has the same ``alpha`` and ``rows`` is
        one number, computed as a model's own fit computes it
        (:func:`skbatch.training.penalty.add_penalty_gradient`).
        """
        if not self.decayed or not self.penalized:
            return 0.0
        if isinstance(rows, (int, float)) and len(set(self.alphas)) == 1:
            return float(self.alphas[0] / rows)
        return self.alpha / rows

    @torch.no_grad()
    def step(self, params, grads, rows=1.0, *, penalty_added=False):
        """Update ``params`` (a list of tensors) in place from ``grads`` (laid out alike), which the step may overwrite.

        ``rows`` (see :meth:`penalty`) scales the penalty's gradient,
        ``alpha * W / rows``, which is added here unless ``grads`` hold it
        already (``penalty_added``, see :meth:`penalty_scale`).
        """
        self.step_count += 1
        if self.decayed and self.penalized and not penalty_added:
            scale = self._decay_over(rows)
            for param, grad, decayed in zip(params, grads, self.decays):
                if decayed:
                    grad.addcmul_(param, _per_row(scale, param))
        if self.solver == "sgd":
            self._sgd(params, grads)
        else:
            self._adam(params, grads)

    def _decay_over(self, rows):
        """``alpha / rows``, kept for the batch size every full batch has: one tensor less to make per step."""
        if not isinstance(rows, (int, float)):
            return self.alpha / rows
        if self._decay_rows is None or self._decay_rows[0] != rows:
            self._decay_rows = (rows, self.alpha / rows)
        return self._decay_rows[1]

    def _runs_of_rows(self):
        """``[(start, stop, lr, settings, steps before this stack), ...]``: runs of rows the kernel updates in one call."""
        if self._runs is None:
            offsets = self.step_offset or [0] * self.n_models
            self._runs = [(start, stop, *key) for key, start, stop in runs(list(zip(self.lrs, self.settings, offsets)))]
        return self._runs

    def _run_views(self, params, state):
        """Per run of rows (:meth:`_runs_of_rows`): the run, and its rows of ``params`` and of each list of ``state``.

        Kept while ``params``, ``state`` and the runs stay the same: slicing
        a tensor costs about 2.5 us of Python, and a 2-layer MLP's Adam
        would slice 12 tensors per run at every step. The gradients, new
        lists where autograd writes them, are sliced at each step.
        """
        kept = self._views
        if kept is None or kept[0] is not params or len(kept[1]) != len(state) or any(a is not b for a, b in zip(kept[1], state)):
            views = [
                (run, rows_of_each(params, run[0], run[1]), [rows_of_each(tensors, run[0], run[1]) for tensors in state])
                for run in self._runs_of_rows()
            ]
            kept = self._views = (params, state, views)
        return kept[2]

    def _sgd(self, params, grads):
        first = self.buffer is None
        if first and any(momentum > 0 for momentum, _ in self.settings):
            self.buffer = [torch.empty_like(param) for param in params]
        state = () if self.buffer is None else (self.buffer,)
        for (start, stop, lr, (momentum, nesterov), _), run_params, run_state in self._run_views(params, state):
            # torch's SGD(fused=True): its first step takes the gradient as the buffer.
            torch._fused_sgd_(
                run_params,
                rows_of_each(grads, start, stop),
                run_state[0] if momentum > 0 else [],
                weight_decay=0.0,
                momentum=momentum,
                lr=lr,
                dampening=0.0,
                nesterov=nesterov,
                maximize=False,
                is_first_step=first,
            )

    def _adam(self, params, grads):
        if self.decayed and not self.penalized:
            # AdamW's decoupled decay, on weights only, before the update: torch's fused AdamW's order.
            factor = 1 - column(self.lrs, self.device) * self.alpha
            for param, decayed in zip(params, self.decays):
                if decayed:
                    param.mul_(_per_row(factor, param))
        if self.exp_avg is None:
            self.exp_avg = [torch.zeros_like(param) for param in params]
            self.exp_avg_sq = [torch.zeros_like(param) for param in params]
        runs_views = self._run_views(params, (self.exp_avg, self.exp_avg_sq))
        for (start, stop, lr, (beta_1, beta_2, eps), offset), run_params, (exp_avg, exp_avg_sq) in runs_views:
            # torch's Adam(fused=True), which counts the step before its kernel reads it.
            torch._fused_adam_(
                run_params,
                rows_of_each(grads, start, stop),
                exp_avg,
                exp_avg_sq,
                [],
                [self._step_tensor(offset, run_params[0].device)] * len(run_params),
                lr=lr,
                beta1=beta_1,
                beta2=beta_2,
                weight_decay=0.0,
                eps=eps,
                amsgrad=False,
                maximize=False,
            )

    def _step_tensor(self, offset, device):
        """The step count of models that took ``offset`` steps before this stack, as the kernel reads it: a tensor kept and refilled."""
        kept = self._step_tensors.get(offset)
        if kept is None:
            kept = self._step_tensors[offset] = torch.zeros((), device=device)
        return kept.fill_(float(offset + self.step_count))

    def load(self, estimators, stack, step_counts):
        """Take each model's state from its estimator's own optimizer: the inverse of :meth:`state_into`.

        For models that continue a fit: ``step_counts``, the steps each has taken.
        """
        if all(count == step_counts[0] for count in step_counts):
            self.step_count = step_counts[0]
        else:  # a full-data fit continued beside fold models takes more steps per epoch
            self.step_offset = [int(count) for count in step_counts]
        self._runs = self._views = None
        names = ("momentum_buffer",) if self.solver == "sgd" else ("exp_avg", "exp_avg_sq")
        if self.solver == "sgd" and not any(e.momentum > 0 for e in estimators):
            return
        buffers = {name: [param.new_zeros((self.n_models, *param.shape[1:])) for param in stack.params] for name in names}
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
        return self.step_count + (0 if self.step_offset is None else self.step_offset[row])

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
            momentum = self.settings[row][0]
            if self.buffer is not None and momentum > 0:
                for param, value in stack.unstack(self.buffer, row, module):
                    optimizer.state[param] = {"momentum_buffer": _own_copy(value, param)}
        elif self.exp_avg is not None:
            # Where torch's Adam keeps the count: on the parameter's device, in
            # float32, for its fused kernel; on the host otherwise.
            on_device = optimizer.defaults.get("fused") or optimizer.defaults.get("capturable")
            pairs = zip(stack.unstack(self.exp_avg, row, module), stack.unstack(self.exp_avg_sq, row, module))
            for (param, exp_avg), (_, exp_avg_sq) in pairs:
                steps = float(self._steps_of(row))
                optimizer.state[param] = {
                    "step": torch.tensor(steps, dtype=torch.float32, device=param.device) if on_device else torch.tensor(steps),
                    "exp_avg": _own_copy(exp_avg, param),
                    "exp_avg_sq": _own_copy(exp_avg_sq, param),
                }


class MixedOptimizer:
    """One optimizer over a stack whose models use different solvers (sgd, adam, adamw).

    Each run of consecutive rows with one solver (the trainer orders the
    models so that runs are few) has a :class:`StackedOptimizer` of its own
    that updates its rows of the stack's tensors in place, through views.
    With one solver it is that solver's optimizer over every row.

    Parameters
    ----------
    estimators : list of BaseTorchEstimator
        The stack's models, in row order, each solver's rows contiguous.
    decays : list of bool
        Per tensor of the stack: whether ``alpha`` applies to it (weights, not biases).
    device : torch.device
    """

    def __init__(self, estimators, decays, device):
        self.groups = [
            [start, stop, StackedOptimizer(solver, estimators[start:stop], decays, device)]
            for solver, start, stop in runs([e.solver for e in estimators])
        ]
        self._params = None  # see _group_params

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
        self._params = None

    def _group_params(self, params):
        """Each group's rows of ``params``, kept while ``params`` is the same list.

        The same views at every step, so that each group's optimizer keeps
        its runs' views of them (see :meth:`StackedOptimizer._run_views`).
        """
        if self._params is None or self._params[0] is not params:
            self._params = (params, [rows_of_each(params, start, stop) for start, stop, _ in self.groups])
        return self._params[1]

    def penalty(self, params, rows):
        """Each model's penalty, shape ``(K,)``, or 0.0 when no model has one (see :meth:`StackedOptimizer.penalty`)."""
        parts = [
            (start, stop, optimizer.penalty(group_params, rows_of(rows, start, stop)))
            for (start, stop, optimizer), group_params in zip(self.groups, self._group_params(params))
        ]
        return join_rows(parts, len(params[0]), params[0].device)

    def penalty_scale(self, rows):
        """Each row's factor of the penalty's gradient (see :meth:`StackedOptimizer.penalty_scale`), or None.

        A float when every row has the same, else a ``(K, 1, 1)`` column.
        None when no row has a penalty, or when some rows have none (AdamW's
        decay is no penalty): their gradient must stay the data loss's
        alone, even where a diverged weight would make ``0 * W`` a NaN, so
        :meth:`step` adds the penalty to the other rows itself.
        """
        scales = [(start, stop, optimizer.penalty_scale(rows_of(rows, start, stop))) for start, stop, optimizer in self.groups]
        if any(isinstance(scale, float) and scale == 0.0 for _, _, scale in scales):
            return None
        if all(isinstance(scale, float) for _, _, scale in scales) and len({scale for _, _, scale in scales}) == 1:
            return scales[0][2]
        device = self.groups[0][2].device
        parts = [
            torch.full((stop - start, 1), scale, device=device) if isinstance(scale, float) else scale for start, stop, scale in scales
        ]
        return torch.cat(parts).unsqueeze(2)

    def step(self, params, grads, rows=1.0, *, penalty_added=False):
        """Update every group's rows of ``params`` (a list of tensors) in place from ``grads`` (which may be overwritten)."""
        for (start, stop, optimizer), group_params in zip(self.groups, self._group_params(params)):
            optimizer.step(
                group_params,
                rows_of_each(grads, start, stop),
                rows_of(rows, start, stop),
                penalty_added=penalty_added,
            )

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
    """A copy of ``value`` laid out as ``param`` is (its strides, on its device), as a fresh optimizer's state is.

    ``value`` is a view into the stack's state (a transposed block of it):
    torch's fused kernels expect state shaped and strided like the
    parameter, and a fused Adam given another layout updates wrongly.
    """
    return torch.empty_like(param).copy_(value)


def _per_row(values, tensor):
    """The ``(K, 1)`` column ``values`` shaped to scale each row of the ``(K, ...)`` ``tensor``."""
    return values.view(-1, *[1] * (tensor.dim() - 1))
