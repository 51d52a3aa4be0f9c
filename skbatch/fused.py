"""Fused training: many networks of one shape trained at once, as one stacked model.

For the small networks people tune in notebooks, a training step is mostly
Python and kernel launches, not arithmetic. The fold models of a
cross-validation share their architecture, batch size and epochs, so they
can take their steps together. Each model's weights are one row of a
stacked tensor; each step runs every model on a batch of its own rows with
its own weights; the loss is the sum of each model's mean loss over its own
batch, so each model gets exactly the gradient it would get alone; and the
optimizer updates each row with that model's own learning rate, weight
decay and state. Models that differ only in the scalars of
:data:`PER_MODEL_PARAMS` share a stack.

MLPClassifier's and MLPRegressor's networks stack as batched matrix
products (``torch.baddbmm``), with dropout at each model's own rate. Other
networks (ConvNetClassifier's, custom modules) stack through
``torch.func.functional_call`` under ``vmap``, when their module has no
buffers and ``vmap`` can run it; otherwise their fits are left to train
alone.

Each model starts from the weights its own fit would draw and visits its
rows in the order its own fit would (the same seed, the same generators),
so a fused model matches what its own ``fit`` trains up to floating-point
rounding, except for dropout masks, which come from another random stream.
:mod:`skbatch.fused_search` uses this to pre-train the fits of a search.
"""

import copy
import fnmatch
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .batching import n_updates_per_epoch, resolve_batch_size, to_tensor
from .cache import params_fingerprint
from .estimator import BaseTorchEstimator, _seeded_torch
from .faults import non_finite_loss_error, remember_fitted_batch_size
from .lr_scaling import scaled_lr
from .memory import track_peak_memory
from .mlp import MLPClassifier, MLPRegressor

__all__ = ["PER_MODEL_PARAMS", "FusedMember", "UnstackableError", "stack_key", "train_fused", "unstackable_reason"]

# Params that may differ between the models of one stack: each model's
# optimizer, dropout and seed take their own value.
PER_MODEL_PARAMS = frozenset(
    {"lr", "alpha", "dropout", "momentum", "beta_1", "beta_2", "epsilon", "power_t", "random_state"}
)

_ACTIVATIONS = {
    "identity": None,
    "logistic": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "gelu": F.gelu,
}

# Estimators whose network is an MLPModule: they stack as batched matrix
# products, with dropout as a per-model rate. Other networks stack through
# torch.func, with the dropout their module has.
_MLP_ESTIMATORS = (MLPClassifier, MLPRegressor)


class UnstackableError(ValueError):
    """A fit that fused training cannot stack, and why; it trains on its own instead."""


def _is_mlp(estimator):
    builders = {cls._build_module for cls in _MLP_ESTIMATORS}
    return isinstance(estimator, _MLP_ESTIMATORS) and type(estimator)._build_module in builders


def unstackable_reason(estimator):
    """Why ``estimator``, with its params as set, cannot train in a stack; None if it can.

    Whether its module can run under ``torch.func.vmap`` is only known once
    it is built; :func:`train_fused` tries that, and reports it as an
    :class:`UnstackableError`.

    Parameters
    ----------
    estimator : object
        An unfitted estimator with a candidate's params set.

    Returns
    -------
    str or None
        One sentence, for verbose output and ``unfused_fits_``.
    """
    if not isinstance(estimator, BaseTorchEstimator):
        return f"{type(estimator).__name__} is not an skbatch estimator"
    if estimator.early_stopping:
        return "early_stopping=True holds out a validation split in each fit"
    if isinstance(estimator.batch_size, str) and estimator.batch_size == "max":
        return "batch_size='max' searches each fit's own batch size"
    if estimator.batch_size_milestones is not None:
        return "batch_size_milestones changes the batch size during training"
    return None


def stack_key(estimator):
    """Hashable summary of the params that models of one stack must share.

    Every param except :data:`PER_MODEL_PARAMS`, ``cache_dir`` and
    ``verbose``; for networks other than MLPClassifier's and MLPRegressor's,
    ``dropout`` must be shared as well, since it is part of the module they
    stack.

    Parameters
    ----------
    estimator : BaseTorchEstimator

    Returns
    -------
    str
    """
    per_model = PER_MODEL_PARAMS if _is_mlp(estimator) else PER_MODEL_PARAMS - {"dropout"}
    return params_fingerprint(estimator, ignore=per_model)


@dataclass
class FusedMember:
    """One model of a stack: an estimator and the data its own ``fit`` would get.

    Attributes
    ----------
    estimator : MLPClassifier or MLPRegressor
        Unfitted, params set. Fitted in place by :func:`train_fused`.
    X, y : array-like
        Its training data, as its ``fit`` would receive them.
    block : hashable
        Members with the same ``block`` have the same ``X`` and ``y`` (the
        same fold), which a stack then holds once.
    error : Exception or None
        Set by :func:`train_fused` when this member could not be fused
        (:class:`UnstackableError` when its network cannot stack), or its
        training failed; the estimator is then left unfitted.
    stack_size : int or None
        Set by :func:`train_fused`: how many models trained in its stack.
    """

    estimator: object
    X: object
    y: object
    block: object = None
    error: Exception = None
    # Filled while preparing.
    X_prepared: np.ndarray = field(default=None, repr=False)
    y_prepared: np.ndarray = field(default=None, repr=False)
    seed: int = None
    batch_size: int = None
    n_batches: int = None
    stack_size: int = None


def train_fused(members, placement):
    """Fit every member, as few stacks as their shapes allow, on one device.

    Members are prepared as their own ``fit`` would prepare them (params
    checked, data validated, classes learned, network initialised from its
    seed); those whose preparation fails keep the error in ``error`` and are
    left unfitted. The rest are grouped by :func:`stack_key` and by what
    their data decides (input width, outputs, batch size, updates per
    epoch); each group trains as one stack.

    Parameters
    ----------
    members : list of FusedMember
    placement : Placement
        Where the stacks train (from :func:`skbatch.placement.place_fit`).

    Returns
    -------
    list of dict
        One per stack: ``n_models``, ``batch_size``, ``n_batches``,
        ``epochs`` (the most any model ran), ``seconds``, ``device``.
    """
    groups, prepared = {}, {}
    for member in members:
        try:
            _prepare(member, placement)
        except Exception as error:
            _fail(member, error)
            continue
        estimator = member.estimator
        # Members of one block validated the same data the same way: keep
        # one copy of it, not one per member.
        if member.block is not None:
            block = (type(estimator), member.block)
            member.X_prepared, member.y_prepared = prepared.setdefault(block, (member.X_prepared, member.y_prepared))
        key = (
            stack_key(estimator),
            estimator.input_shape_,
            estimator._n_module_outputs(),
            member.batch_size,
            member.n_batches,
        )
        groups.setdefault(key, []).append(member)
    stacks = []
    for group in groups.values():
        reason = _functional_reason(group, placement.device)
        if reason is not None:
            for member in group:
                _fail(member, UnstackableError(reason))
            continue
        stacks.append(_train_stack(group, placement))
    return stacks


def _functional_reason(members, device):
    """Why the networks of ``members`` cannot run stacked under ``torch.func.vmap``; None if they can.

    MLP networks always can. Others are tried for one step on two rows per
    model, on copies, before anything trains.
    """
    estimator = members[0].estimator
    if _is_mlp(estimator):
        return None
    module = estimator.net_.module_
    name = type(module).__name__
    if any(True for _ in module.buffers()):
        return f"its module {name} has buffers (such as BatchNorm's running statistics), which a stack cannot keep per model"
    probe = members[:2]
    try:
        stack = _FunctionalStack([copy.deepcopy(m.estimator.net_.module_) for m in probe], device)
        X = to_tensor(np.stack([m.X_prepared[:2] for m in probe]), device=device)
        with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
            stack.gradient(stack.forward(X).float().sum())
    except Exception as error:
        return f"its module {name} cannot run stacked under torch.func.vmap ({type(error).__name__}: {error})"
    return None


def _fail(member, error):
    # What preparing began (the network) goes, so the estimator reads as unfitted.
    member.error = error
    member.estimator.__dict__.pop("net_", None)


def _prepare(member, placement):
    """Validate and initialise ``member`` as the start of its own ``fit`` would."""
    estimator = member.estimator
    reason = unstackable_reason(estimator)
    if reason is not None:
        raise ValueError(reason)
    X, y, _, seed = estimator._prepare_data(member.X, member.y, incremental=False)
    estimator.device_ = placement.device
    estimator.device_uuid_ = placement.uuid
    estimator.device_slot_ = placement.slot
    estimator.max_batch_search_ = None
    batch_size = resolve_batch_size(estimator.batch_size, len(X))
    estimator.lr_ = scaled_lr(estimator.lr, batch_size, estimator.lr_scaling, estimator.base_batch_size)
    with _seeded_torch(seed, placement.device):
        estimator.net_ = estimator._make_net(estimator.n_features_in_, estimator._n_module_outputs(), seed)
    estimator._set_data_settings(batch_size, None)
    # The callbacks start their state (the stopping rule's, the lr
    # schedule's) as at the start of the model's own training.
    estimator.net_.notify("on_train_begin", X=None, y=None)
    member.X_prepared, member.y_prepared, member.seed = X, y, seed
    member.batch_size = batch_size
    member.n_batches = n_updates_per_epoch(len(X), batch_size, estimator.drop_last)


class _MLPStack:
    """The weights of K MLPs of one shape, as one ``(K, n_params)`` tensor, ``flat``.

    Each layer's weight and bias are views of it, so the optimizer updates
    every model with a handful of operations whatever the depth. Layers are
    batched matrix products, and dropout takes each model's own rate.
    """

    per_model_dropout = True

    def __init__(self, modules, activation, device):
        self.layers = []  # (weight slice, bias slice, fan_in, fan_out)
        rows = [[] for _ in modules]
        offset = 0
        decays = []
        linears = [_linears(module) for module in modules]
        for depth, first in enumerate(linears[0]):
            fan_in, fan_out = first.in_features, first.out_features
            weight = slice(offset, offset + fan_in * fan_out)
            bias = slice(weight.stop, weight.stop + fan_out)
            offset = bias.stop
            self.layers.append((weight, bias, fan_in, fan_out))
            decays += [1.0] * (fan_in * fan_out) + [0.0] * fan_out
            for row, model_linears in zip(rows, linears):
                layer = model_linears[depth]
                # Stored as (fan_in, fan_out), the layout baddbmm multiplies by.
                row += [layer.weight.detach().T.reshape(-1), layer.bias.detach()]
        self.flat = torch.stack([torch.cat(row) for row in rows]).to(device)
        # The L2 penalty applies to weights only, as in the unfused optimizer's param groups.
        self.decay_mask = torch.tensor(decays, device=device).unsqueeze(0)
        self.activation = _ACTIVATIONS[activation]
        self._make_leaves()

    def _make_leaves(self):
        # One leaf per weight and bias, each a view of ``flat``: the optimizer
        # updates ``flat`` in place, and the gradients come back as one
        # ``(K, n_params)`` tensor by a single concatenation. (A leaf ``flat``
        # sliced in the forward pass would cost a full-size zero tensor per
        # slice in every backward pass.)
        n_models = self.flat.shape[0]
        self.leaves = []
        for weight, bias, fan_in, fan_out in self.layers:
            self.leaves.append(self.flat[:, weight].view(n_models, fan_in, fan_out).requires_grad_())
            self.leaves.append(self.flat[:, bias].view(n_models, 1, fan_out).requires_grad_())

    def forward(self, X, keep=None, generator=None):
        """Outputs ``(K, B, n_outputs)`` for inputs ``(K, B, n_features)``.

        ``keep`` is the ``(K, 1, 1)`` probability of keeping a hidden unit, or
        None without dropout.
        """
        last = len(self.layers) - 1
        for depth in range(len(self.layers)):
            X = torch.baddbmm(self.leaves[2 * depth + 1], X, self.leaves[2 * depth])
            if depth < last:
                if self.activation is not None:
                    X = self.activation(X)
                if keep is not None:
                    mask = torch.rand(X.shape, generator=generator, device=X.device) < keep
                    X = X * mask / keep
        return X

    def gradient(self, loss):
        """Gradient of ``loss`` with respect to ``flat``, as a tensor of its shape."""
        return _flat_gradient(loss, self.leaves)

    def select(self, index):
        self.flat = self.flat[index]
        self._make_leaves()

    def unstack(self, tensor, row, module):
        """Pairs of (parameter of ``module``, model ``row``'s part of ``tensor``, shaped like it)."""
        for layer, (weight, bias, fan_in, fan_out) in zip(_linears(module), self.layers):
            yield layer.weight, tensor[row, weight].view(fan_in, fan_out).T
            yield layer.bias, tensor[row, bias]


class _FunctionalStack:
    """K copies of any module without buffers, stacked with ``torch.func``.

    The same ``(K, n_params)`` layout as :class:`_MLPStack`, one slice per
    named parameter; the forward pass is the module's own, run once per
    model under ``vmap`` (``randomness='different'``, so each model draws its
    own dropout masks at the rate its module has).
    """

    per_model_dropout = False

    def __init__(self, modules, device):
        self.module = copy.deepcopy(modules[0]).to(device).train()
        self.parts = []  # (name, slice, shape)
        offset, decays = 0, []
        for name, param in modules[0].named_parameters():
            part = slice(offset, offset + param.numel())
            offset = part.stop
            self.parts.append((name, part, param.shape))
            # skorch's param group ("*bias", no weight decay) of the unfused optimizer.
            decays += [0.0 if fnmatch.fnmatch(name, "*bias") else 1.0] * param.numel()
        rows = [torch.cat([param.detach().reshape(-1) for param in module.parameters()]) for module in modules]
        self.flat = torch.stack(rows).to(device)
        self.decay_mask = torch.tensor(decays, device=device).unsqueeze(0)
        self._call = torch.func.vmap(self._functional, randomness="different")
        self._make_leaves()

    def _functional(self, params, X):
        return torch.func.functional_call(self.module, params, (X,))

    def _make_leaves(self):
        n_models = self.flat.shape[0]
        self.leaves = {
            name: self.flat[:, part].view(n_models, *shape).requires_grad_() for name, part, shape in self.parts
        }

    def forward(self, X, keep=None, generator=None):
        """Outputs ``(K, B, ...)`` for inputs ``(K, B, ...)``; dropout is the module's own."""
        return self._call(self.leaves, X)

    def gradient(self, loss):
        """Gradient of ``loss`` with respect to ``flat``, as a tensor of its shape."""
        return _flat_gradient(loss, list(self.leaves.values()))

    def select(self, index):
        self.flat = self.flat[index]
        self._make_leaves()

    def unstack(self, tensor, row, module):
        """Pairs of (parameter of ``module``, model ``row``'s part of ``tensor``, shaped like it)."""
        params = dict(module.named_parameters())
        for name, part, shape in self.parts:
            yield params[name], tensor[row, part].view(shape)


def _linears(module):
    return [layer for layer in module.layers if isinstance(layer, nn.Linear)]


def _flat_gradient(loss, leaves):
    grads = torch.autograd.grad(loss, leaves)
    return torch.cat([grad.reshape(len(grad), -1) for grad in grads], dim=1)


def _copy_into(stack, row, module):
    """Write model ``row``'s weights into ``module``."""
    with torch.no_grad():
        for param, value in stack.unstack(stack.flat, row, module):
            param.copy_(value)


def _column(values, device):
    return torch.tensor(values, dtype=torch.float32, device=device).unsqueeze(1)


def _per_model(values, n_params, device):
    """A float when every model has the same value (the common case, and fewer operations), else ``(K, n_params)``.

    Full rows rather than a ``(K, 1)`` column: torch's CPU kernels are
    several times slower when one operand is broadcast along the fast axis.
    """
    values = [float(value) for value in values]
    if all(value == values[0] for value in values):
        return values[0]
    return _column(values, device).expand(-1, n_params).contiguous()


class _StackedOptimizer:
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
        # The L2 penalty of each model, on its weights only.
        self.decay = _column(alphas, device) * decay_mask if any(alphas) else None
        self.step_count = 0
        if solver == "sgd":
            self.momentum = _per_model([e.momentum for e in estimators], n_params, device)
            nesterov = [e.nesterovs_momentum and e.momentum > 0 for e in estimators]
            self.nesterov = all(nesterov) or (any(nesterov) and _per_model(nesterov, n_params, device).bool())
            self.buffer = None
        else:
            self.beta_1 = _per_model([e.beta_1 for e in estimators], n_params, device)
            self.beta_2 = _per_model([e.beta_2 for e in estimators], n_params, device)
            self.eps = _per_model([e.epsilon for e in estimators], n_params, device)
            self.exp_avg = self.exp_avg_sq = None
        self.set_lr([e.lr_ for e in estimators])

    def set_lr(self, lrs):
        """Each model's learning rate from now on."""
        self.lr = _per_model(lrs, self.shape[1], self.device)

    def select(self, index):
        """Keep the models at ``index`` (rows of the stack), in that order."""
        n_models = self.shape[0]
        for name, value in list(vars(self).items()):
            if isinstance(value, torch.Tensor) and value.shape[0] == n_models:
                setattr(self, name, value[index])
        self.shape = (len(index), self.shape[1])

    @torch.no_grad()
    def step(self, params, grad):
        """Update ``params`` in place from ``grad``, which the step may overwrite."""
        self.step_count += 1
        if self.solver == "sgd":
            self._sgd(params, grad)
        else:
            self._adam(params, grad)

    def _sgd(self, params, grad):
        if self.decay is not None:
            grad.addcmul_(params, self.decay)
        if self.buffer is None:
            self.buffer = grad.clone()
        else:
            self.buffer.mul_(self.momentum).add_(grad)
        # Nesterov: grad + momentum * buffer; otherwise the buffer itself
        # (which is grad where momentum is 0, as torch's SGD without momentum).
        if self.nesterov is False:
            update = self.buffer
        else:
            nesterov_update = grad.add_(self.buffer * self.momentum)
            update = nesterov_update if self.nesterov is True else torch.where(self.nesterov, nesterov_update, self.buffer)
        params.sub_(update * self.lr)

    def _adam(self, params, grad):
        if self.decay is not None:
            if self.solver == "adamw":
                params.mul_(1 - self.lr * self.decay)
            else:
                grad.addcmul_(params, self.decay)
        if self.exp_avg is None:
            self.exp_avg = torch.zeros_like(params)
            self.exp_avg_sq = torch.zeros_like(params)
        self.exp_avg.lerp_(grad, 1 - self.beta_1)
        self.exp_avg_sq.mul_(self.beta_2)
        if isinstance(self.beta_2, float):
            self.exp_avg_sq.addcmul_(grad, grad, value=1 - self.beta_2)
        else:
            self.exp_avg_sq.addcmul_(grad, grad * (1 - self.beta_2))
        bias_correction_1 = 1 - self.beta_1**self.step_count
        bias_correction_2 = 1 - self.beta_2**self.step_count
        # torch's Adam: params -= lr / bc1 * exp_avg / (sqrt(exp_avg_sq) / sqrt(bc2) + eps)
        denom = self.exp_avg_sq.sqrt().div_(bias_correction_2**0.5).add_(self.eps)
        if isinstance(self.lr, float) and isinstance(bias_correction_1, float):
            params.addcdiv_(self.exp_avg, denom, value=-self.lr / bias_correction_1)
        else:
            params.addcdiv_(self.exp_avg, denom.mul_(bias_correction_1).div_(self.lr), value=-1.0)

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
                    optimizer.state[param] = {"momentum_buffer": value.clone().to(param.device)}
        elif self.exp_avg is not None:
            pairs = zip(stack.unstack(self.exp_avg, row, module), stack.unstack(self.exp_avg_sq, row, module))
            for (param, exp_avg), (_, exp_avg_sq) in pairs:
                optimizer.state[param] = {
                    "step": torch.tensor(float(self.step_count)),
                    "exp_avg": exp_avg.clone().to(param.device),
                    "exp_avg_sq": exp_avg_sq.clone().to(param.device),
                }


class _Plateau:
    """The unfused fit's epoch-end rules for one model: stopping and the ``lr`` schedule.

    The same rules as the skorch callbacks of a fit (``_StopOnPlateau`` on
    the training loss, ``LambdaLR`` for ``'invscaling'``, ``ReduceLROnPlateau``
    for ``'adaptive'``), kept per model.
    """

    def __init__(self, estimator):
        self.estimator = estimator
        self.misses = 0
        self.threshold = math.inf
        self.best_loss = math.inf
        self.plateau_best = math.inf
        self.bad_epochs = 0

    def end_epoch(self, epoch, loss, lr):
        """Return ``(stop, lr for the next epoch)`` after epoch ``epoch`` (0-based)."""
        estimator = self.estimator
        if loss < self.threshold:
            self.misses = 0
            self.threshold = loss - estimator.tol
        else:
            self.misses += 1
        if self.misses == estimator.n_iter_no_change:
            return True, lr
        if estimator.learning_rate == "invscaling":
            lr = estimator.lr_ / (epoch + 2) ** estimator.power_t
        elif estimator.learning_rate == "adaptive":
            if loss < self.plateau_best - estimator.tol:
                self.plateau_best, self.bad_epochs = loss, 0
            else:
                self.bad_epochs += 1
            if self.bad_epochs > 1:
                reduced = lr * 0.2
                if lr - reduced > 1e-8:
                    lr = reduced
                self.bad_epochs = 0
        return False, lr


def _train_stack(members, placement):
    device = placement.device
    start = time.perf_counter()
    with track_peak_memory(device) as peak:
        epochs = _StackTraining(members, device).run()
    seconds = time.perf_counter() - start
    for member in members:
        if member.error is not None:
            continue
        estimator = member.estimator
        member.stack_size = len(members)
        # Each model's share of the stack's time, so that the fit times of a
        # search still add up to the time it spent training.
        estimator.fit_time_ = seconds / len(members)
        estimator.peak_memory_ = peak.bytes
        estimator._record_training(member.batch_size)
        estimator._release_training_state(to_cpu=placement.slot is not None)
        remember_fitted_batch_size(estimator)
    return {
        "n_models": len(members),
        "batch_size": members[0].batch_size,
        "n_batches": members[0].n_batches,
        "epochs": epochs,
        "seconds": seconds,
        "device": str(device),
    }


class _StackTraining:
    """The training loop of one stack: epochs of steps, then each model's epoch-end rules.

    ``active`` lists the members still training, in the order of the
    stack's rows; a member that stops or fails leaves it, and the stack
    shrinks to the rest.
    """

    def __init__(self, members, device):
        self.members, self.device = members, device
        estimators = [member.estimator for member in members]
        first = estimators[0]
        self.batch_size, self.n_batches = members[0].batch_size, members[0].n_batches
        self.max_epochs = first.max_epochs
        self.classifier = first._criterion is torch.nn.CrossEntropyLoss
        self.X, self.y, self.offsets = _stack_data(members, device)
        modules = [e.net_.module_ for e in estimators]
        if _is_mlp(first):
            self.stack = _MLPStack(modules, first.activation, device)
        else:
            self.stack = _FunctionalStack(modules, device)
        self.optimizer = _StackedOptimizer(first.solver, estimators, self.stack.decay_mask, device)
        self.active = list(range(len(members)))
        self.rules = [_Plateau(e) for e in estimators]
        self.lrs = [e.lr_ for e in estimators]
        self.histories = [[] for _ in members]
        self.dropout_generator = torch.Generator(device=device).manual_seed(members[0].seed)

    def run(self):
        """Train until every model has stopped or run ``max_epochs``; return the epochs run."""
        epoch = 0
        # A functional stack's dropout draws from torch's global stream: seeded, and the caller's left as it was.
        with _seeded_torch(self.members[0].seed, self.device):
            while self.active and epoch < self.max_epochs:
                start = time.perf_counter()
                losses, counts = self._epoch()
                self._end_epoch(epoch, losses, counts, time.perf_counter() - start)
                epoch += 1
        for row, i in enumerate(self.active):
            self._finish(i, row)
        return epoch

    def _epoch(self):
        """One pass of every active model over its rows; return its batch losses and batch sizes."""
        rows = [self.members[i] for i in self.active]
        keep = None
        if self.stack.per_model_dropout and any(member.estimator.dropout > 0 for member in rows):
            keep = (1 - _column([member.estimator.dropout for member in rows], self.device)).unsqueeze(2)
        offsets = [self.offsets[i] for i in self.active]
        index, last_weights, counts = _epoch_index(rows, offsets, self.batch_size, self.n_batches)
        index = index.to(self.device)
        losses = torch.empty(self.n_batches, len(rows), device=self.device)
        for step in range(self.n_batches):
            batch = index[:, step * self.batch_size : (step + 1) * self.batch_size]
            weights = last_weights if step == self.n_batches - 1 else None
            per_model = self._losses(batch, keep, weights)
            # Each model's loss depends on its own row of weights only, so
            # the sum's gradient is every model's own gradient.
            self.optimizer.step(self.stack.flat, self.stack.gradient(per_model.sum()))
            losses[step] = per_model.detach()
        return losses.T.tolist(), counts

    def _losses(self, batch, keep, weights):
        """Each model's mean loss over its own rows of ``batch`` (weighted where padded)."""
        output = self.stack.forward(self.X[batch], keep, self.dropout_generator)
        if self.classifier:
            # Classes on dim 1, (K, n_classes, B): on the CPU, several times
            # faster than the same loss over (K * B, n_classes) rows.
            per_row = F.cross_entropy(output.transpose(1, 2), self.y[batch], reduction="none")
        else:
            per_row = (output - self.y[batch]).square().mean(dim=2)
        if weights is None:
            return per_row.mean(dim=1)
        return (per_row * weights.to(self.device)).sum(dim=1)

    def _end_epoch(self, epoch, losses, counts, seconds):
        """Record the epoch in each model's history, then apply its own stopping and ``lr`` rules."""
        still = []
        for row, i in enumerate(self.active):
            estimator, rule = self.members[i].estimator, self.rules[i]
            # skorch's train_loss: the mean of the batch losses, weighted by batch size.
            loss = float(np.average(losses[row], weights=counts[row]))
            batches = [{"train_loss": value, "train_batch_size": size} for value, size in zip(losses[row], counts[row])]
            record = {
                "epoch": epoch + 1,
                "batches": batches,
                "train_batch_count": self.n_batches,
                "dur": seconds,
                "train_loss": loss,
                "train_loss_best": loss < rule.best_loss,
            }
            if estimator.learning_rate == "invscaling":
                record["event_lr"] = self.lrs[i]
            self.histories[i].append(record)
            rule.best_loss = min(rule.best_loss, loss)
            if not math.isfinite(loss):
                _fail(
                    self.members[i],
                    non_finite_loss_error(type(estimator).__name__, loss, epoch + 1, estimator.lr_, self.batch_size),
                )
                continue
            stop, self.lrs[i] = rule.end_epoch(epoch, loss, self.lrs[i])
            if stop:
                self._finish(i, row)
            else:
                still.append(row)
        if len(still) < len(self.active):
            index = torch.tensor(still, dtype=torch.long, device=self.device)
            self.stack.select(index)
            self.optimizer.select(index)
            self.active = [self.active[row] for row in still]
        self.optimizer.set_lr([self.lrs[i] for i in self.active])

    def _finish(self, i, row):
        """Give member ``i`` (row ``row`` of the stack) its weights, optimizer state and history."""
        estimator = self.members[i].estimator
        _copy_into(self.stack, row, estimator.net_.module_)
        self.optimizer.state_into(row, estimator, self.stack, self.lrs[i])
        estimator.net_.history.extend(self.histories[i])


def _stack_data(members, device):
    """Every member's rows in one tensor pair, each fold once; return it and each member's first row."""
    starts, offsets, X_parts, y_parts = {}, [], [], []
    total = 0
    for member in members:
        block = member.block if member.block is not None else id(member)
        if block not in starts:
            starts[block] = total
            X_parts.append(member.X_prepared)
            y_parts.append(member.y_prepared)
            total += len(member.X_prepared)
        offsets.append(starts[block])
    X = to_tensor(np.concatenate(X_parts), device=device)
    y = to_tensor(np.concatenate(y_parts), device=device)
    return X, y, offsets


def _epoch_index(members, offsets, batch_size, n_batches):
    """Rows of every model for one epoch, in its own order: ``(K, n_batches * batch_size)``.

    Returns the index, the ``(K, batch_size)`` weights of the last batch's
    rows (each model's mean over its real rows; padding weighs 0) or None
    when every last batch is full, and each model's batch sizes.
    """
    width = n_batches * batch_size
    orders, counts, last = [], [], []
    for member, offset in zip(members, offsets):
        estimator, n_samples = member.estimator, len(member.X_prepared)
        if estimator.shuffle:
            # The same generator, in the same order of draws, as the model's own fit.
            order = torch.randperm(n_samples, generator=estimator.net_.iterator_train__generator)
        else:
            order = torch.arange(n_samples)
        order = order[:width]
        used = len(order)
        if used < width:
            order = torch.cat([order, order.new_zeros(width - used)])
        orders.append(order + offset)
        last_size = used - (n_batches - 1) * batch_size
        counts.append([batch_size] * (n_batches - 1) + [last_size])
        last.append(last_size)
    weights = None
    if any(size != batch_size for size in last):
        weights = torch.zeros(len(members), batch_size)
        for row, size in enumerate(last):
            weights[row, :size] = 1.0 / size
    return torch.stack(orders), weights, counts
