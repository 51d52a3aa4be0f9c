"""Fused training: many networks trained at once, as one stacked model, each exactly its own fit.

For the small networks people tune in notebooks, a training step is mostly
Python and kernel launches, not arithmetic. The fits of a search that share
a batch size can take their steps together. Each model's weights are one
row of a stacked tensor; each step runs every model on a batch of its own
rows with its own weights; the loss is the sum of each model's mean loss
over its own batch, so each model gets exactly the gradient it would get
alone; and the optimizer updates each row with that model's own solver,
learning rate, weight decay and state. Models that differ in
:data:`PER_MODEL_PARAMS` (and, for the MLPs, :data:`MLP_PER_MODEL_PARAMS`:
widths, depth, activation) share a stack, in blocks of like-shaped
networks (:mod:`skbatch.fused.blocks`).

Each model follows the steps of its own fit
(:mod:`skbatch.estimators.fit_sequence`): it is prepared, placed and built
from its own seed by the same methods, its epochs begin and end through its
own net's callbacks (the loss and its best, the stopping rule, the lr
schedule, early stopping's held-out score and best weights), and it is
finished by the same method. Only the steps in between are the stack's.

MLPClassifier's and MLPRegressor's networks stack as batched matrix
products (``torch.baddbmm``; a sparse first layer by ``torch.bmm``), with
dropout at each model's own rate. Other networks (ConvNetClassifier's,
custom modules) stack through ``torch.func.functional_call`` under ``vmap``,
when their module has no buffers and ``vmap`` can run it; otherwise their
fits are left to train alone.

Each model starts from the weights its own fit would draw and visits its
rows in the order its own fit would (the same seed, the same generators),
so a fused model matches what its own ``fit`` trains up to floating-point
rounding, except for dropout masks, which come from another random stream.
:mod:`skbatch.fused.search` uses this to pre-train the fits of a search.
"""

import contextlib
import copy
import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F

from ..cache.keys import UnfingerprintableParamError, params_fingerprint
from ..devices.memory import track_peak_memory
from ..estimators.aliases import resolve_alias
from ..estimators.base import BaseTorchEstimator
from ..estimators.mlp import MLPClassifier, MLPRegressor
from ..training.callbacks import ConvergenceReached, set_lr, warn_not_converged
from ..training.iterator import to_tensor
from ..training.net import record_batches
from ..training.seeding import seeded_torch
from ..training.sparse import is_sparse, n_rows
from .blocks import StackBlocks, block_order
from .sparse_rows import SparseRows
from .stacks import FunctionalStack, column

__all__ = [
    "MLP_PER_MODEL_PARAMS",
    "PER_MODEL_PARAMS",
    "FusedMember",
    "UnstackableError",
    "stack_key",
    "train_fused",
    "unstackable_reason",
]

# Params that may differ between the models of one stack. Each model keeps
# its own optimizer settings and state (its solver among sgd, adam and
# adamw), its own seed, data order and validation split, and its own
# callbacks (the stopping rule, the lr schedule, early stopping's held-out
# score and best weights), and leaves the stack when it stops.
PER_MODEL_PARAMS = frozenset(
    {"lr", "learning_rate_init", "alpha", "dropout", "momentum", "nesterovs_momentum", "beta_1", "beta_2", "epsilon"}
    | {"solver", "learning_rate", "power_t", "tol", "n_iter_no_change", "max_epochs", "max_iter", "max_fun"}
    | {"early_stopping", "validation_fraction", "random_state", "shuffle"}
)

# What an MLP stack also lets differ: its hidden layers, their number and
# widths (see fused/blocks.py), and its activation.
MLP_PER_MODEL_PARAMS = frozenset({"hidden_layer_sizes", "activation"})

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
    if estimator.solver == "lbfgs":
        return "solver='lbfgs' runs scipy's line search on each model's own loss"
    if isinstance(estimator.batch_size, str) and estimator.batch_size == "max":
        return "batch_size='max' searches each fit's own batch size"
    if estimator.batch_size_milestones is not None:
        return "batch_size_milestones changes the batch size during training"
    if estimator.callbacks:
        return "its callbacks run inside each fit's own training loop"
    if getattr(estimator, "loss", "squared_error") != "squared_error":
        return f"loss={estimator.loss!r} is not the squared error the stack trains with"
    if estimator._tracks_noise_scale():
        return "track_noise_scale=True or batch_size_growth='noise' reads each fit's own gradients"
    return None


def _data_reason(estimator, X):
    """Why the data ``estimator`` prepared cannot train in a stack; None if it can."""
    if is_sparse(X) and not _is_mlp(estimator):
        return "sparse X stacks in MLP stacks only, whose first layer multiplies it sparse"
    if getattr(estimator, "_multilabel", False):
        return "multilabel y trains with a binary cross-entropy the stack does not have"
    return None


def stack_key(estimator):
    """Hashable summary of the params that models of one stack must share.

    Every param except :data:`PER_MODEL_PARAMS`, ``cache_dir`` and
    ``verbose``. MLPClassifier's and MLPRegressor's networks also let
    :data:`MLP_PER_MODEL_PARAMS` differ; other networks must share
    ``dropout`` as well, since it is part of the module they stack.

    Parameters
    ----------
    estimator : BaseTorchEstimator

    Returns
    -------
    str
    """
    if not _is_mlp(estimator):
        return params_fingerprint(estimator, ignore=PER_MODEL_PARAMS - {"dropout"})
    return params_fingerprint(estimator, ignore=PER_MODEL_PARAMS | MLP_PER_MODEL_PARAMS)


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
    rider : bool
        Trained only in a stack with members that are not riders (a
        search's full-data fit, worth training only beside its fold models:
        alone it would cost what the refit it saves does).
    resume_epochs : int
        Epochs already trained: the estimator holds a restored fit of that
        many epochs (see :func:`skbatch.fused.resume.continuation_reason`), which its stack
        continues up to ``max_epochs``. 0 for a fit from scratch.
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
    plan: object = field(default=None, repr=False)  # its BatchPlan, as its own fit would make it
    valid_set: object = field(default=None, repr=False)  # early_stopping's held-out rows, a skorch Dataset
    stack_size: int = None
    rider: bool = False
    resume_epochs: int = 0

    # A stack needs one batch size all through training, so a member's
    # plan never grows it (unstackable_reason leaves schedules out).
    @property
    def batch_size(self):
        """Rows per update, from the plan."""
        return self.plan.batch_size

    @property
    def n_batches(self):
        """Updates per epoch, from the plan."""
        return self.plan.updates_per_epoch()


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
        Where the stacks train (from :func:`skbatch.devices.pool.place_fit`).

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
        try:
            # A fit whose params cannot be fingerprinted could be stacked with
            # another's it only looks like: it trains alone.
            shared = stack_key(estimator)
        except UnfingerprintableParamError as error:
            _fail(member, UnstackableError(str(error)))
            continue
        key = (
            shared,
            estimator.input_shape_,
            estimator._n_module_outputs(),
            member.batch_size,
            # Models of any number of steps per epoch, continued or not, share
            # a stack: each keeps its own epochs and its own optimizer step count.
        )
        groups.setdefault(key, []).append(member)
    stacks = []
    for group in groups.values():
        reason = _functional_reason(group, placement.device)
        if all(member.rider for member in group):
            reason = "no fit of the search to train beside"
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
        stack = FunctionalStack([copy.deepcopy(m.estimator.net_.module_) for m in probe], device)
        X = to_tensor(np.stack([m.X_prepared[:2] for m in probe]), device=device)
        with seeded_torch(0, device):
            stack.gradient(stack.forward(X).float().sum())
    except Exception as error:
        return f"its module {name} cannot run stacked under torch.func.vmap ({type(error).__name__}: {error})"
    return None


def _fail(member, error):
    # What preparing began (the network) goes, so the estimator reads as unfitted.
    member.error = error
    member.estimator.__dict__.pop("net_", None)


def _prepare(member, placement):
    """Start ``member``'s fit as its own ``fit`` would: the same steps, up to its first epoch."""
    estimator = member.estimator
    reason = unstackable_reason(estimator)
    if reason is not None:
        raise UnstackableError(reason)
    start = estimator._start_fit(member.X, member.y, incremental=False)
    reason = _data_reason(estimator, start.X)
    if reason is not None:
        raise UnstackableError(reason)
    if member.resume_epochs:
        # A restored shorter fit, which this one continues as a warm start would.
        start = replace(start, resume=True)
    estimator._take_placement(placement)
    rows = estimator._hold_out_validation(start)
    plan = estimator._plan_batches(rows.X, rows.y, resume=start.resume, seed=start.seed)
    estimator._init_network(start, rows, plan)
    estimator._begin_training(None, None)
    # A continued fit is the longer fit itself, whose epochs all count in n_iter_.
    estimator.net_.call_first_epoch = 0
    member.X_prepared, member.y_prepared, member.seed = rows.X, rows.y, start.seed
    member.plan = plan
    if rows.has_validation:
        # Its training rows are the fold less its own validation rows, which
        # its seed and validation_fraction draw: the same for no other member
        # unless both agree.
        member.block = (member.block, "held out", start.seed, estimator.validation_fraction)
        _, member.valid_set = estimator.net_.train_split(None)


def _train_stack(members, placement):
    device = placement.device
    start = time.perf_counter()
    with track_peak_memory(device) as peak:
        epochs = _StackTraining(members, device).run()
    seconds = time.perf_counter() - start
    for member in members:
        if member.error is not None:
            continue
        member.stack_size = len(members)
        # Each model's share of the stack's time, so that the fit times of a
        # search still add up to the time it spent training.
        member.estimator._finish_fit(fit_time=seconds / len(members), peak_memory=peak.bytes, to_cpu=placement.slot is not None)
    return {
        "n_models": len(members),
        "batch_size": members[0].batch_size,
        "n_batches": max(member.n_batches for member in members),
        "epochs": epochs,
        "seconds": seconds,
        "device": str(device),
        "from_epoch": min(member.resume_epochs for member in members),
        "epochs_trained": sum(len(member.estimator.net_.history) - member.resume_epochs for member in members if member.error is None),
    }


class _StackTraining:
    """The training loop of one stack: epochs of steps, then each model's epoch-end rules.

    ``active`` lists the members still training, in the order of the
    stack's rows; a member that stops or fails leaves it, and the stack
    shrinks to the rest.
    """

    def __init__(self, members, device):
        # Like-shaped networks in consecutive rows (a block each), and within
        # a block each solver's and activation's models together: one update
        # rule, one activation per run of rows.
        mlp = _is_mlp(members[0].estimator)
        members = sorted(members, key=lambda m: block_order(m.estimator, m.estimator.net_.module_, mlp=mlp))
        self.members, self.device = members, device
        estimators = [member.estimator for member in members]
        first = estimators[0]
        self.batch_size = members[0].batch_size
        self.max_epochs = [resolve_alias(e, "max_epochs") for e in estimators]
        self.classifier = first._criterion is torch.nn.CrossEntropyLoss
        self.X, self.y, self.offsets = _stack_data(members, device)
        modules = [e.net_.module_ for e in estimators]
        self.stack = StackBlocks(estimators, modules, device, mlp=mlp)
        # Dense rows through MLPs of activations with a written derivative:
        # the gradient by hand, not by autograd (MLPStack.backward).
        self.differentiable = self.stack.differentiable and not isinstance(self.X, SparseRows)
        self.active = list(range(len(members)))
        self.active_rows = torch.arange(len(members), device=device)  # ``active``, to index with
        # Fixed for the whole training: a stack never changes its batch size.
        self.n_batches = [member.n_batches for member in members]
        self.dropouts = [getattr(e, "dropout", 0.0) for e in estimators]
        # Each model's rows for its current epoch, batch by batch: (models, batches, batch_size).
        self.rows = torch.zeros(len(members), max(self.n_batches), self.batch_size, dtype=torch.long, device=device)
        # Each model's rate is where its own callbacks left it at the start
        # of training (a continued model's schedule replayed from its history).
        self.lrs = [e.net_.optimizer_.param_groups[0]["lr"] for e in estimators]
        if any(member.resume_epochs for member in members):
            # A model from scratch loads an empty state: zero moments, zero steps, as a fresh optimizer's.
            self.stack.load(estimators, [m.resume_epochs * m.n_batches for m in members])
        self.stack.set_lr(self.lrs)
        self.dropout_generator = torch.Generator(device=device).manual_seed(members[0].seed)

    def run(self):
        """Train until every model has stopped or run ``max_epochs``; return the most epochs a model ran.

        Each model keeps its own epochs: a model with more rows (the
        full-data fit of a candidate, beside its fold models) takes more
        steps per epoch, and ends its epochs at other steps than the rest.
        Every model still in training takes a step at every step of the
        stack, so all share the optimizer's step count.
        """
        n_models = len(self.members)
        self.epochs, self.steps = [member.resume_epochs for member in self.members], [0] * n_models
        self.streams, self.batch_losses = [None] * n_models, [[] for _ in self.members]
        self.window = []  # per step: the losses of the active models, read back at the next epoch end
        # A functional stack's dropout draws from torch's global stream: seeded,
        # under the process-wide lock, and the caller's left as it was. An MLP
        # stack draws from its own generator only.
        global_rng = not self.stack.per_model_dropout
        with seeded_torch(self.members[0].seed, self.device) if global_rng else contextlib.nullcontext():
            while self.active:
                self._step()
        return max(self.epochs)

    def _step(self):
        """One step of every active model, on its next batch; then the epoch ends of those whose epoch is done."""
        for i in self.active:
            if self.steps[i] == 0:  # its epoch starts: its rows, in the order its own fit would draw
                member = self.members[i]
                member.estimator.net_.notify("on_epoch_begin", dataset_train=None, dataset_valid=None)
                index, weights, counts = _epoch_index([member], [self.offsets[i]], self.batch_size, member.n_batches)
                self.rows[i, : self.n_batches[i]] = index[0].to(self.device).view(self.n_batches[i], self.batch_size)
                self.streams[i] = (None if weights is None else weights[0], counts[0])
        keep = None
        if self.stack.per_model_dropout and any(self.dropouts[i] > 0 for i in self.active):
            keep = (1 - column([self.dropouts[i] for i in self.active], self.device)).unsqueeze(2)
        # Each active model's next batch of rows, in one indexing.
        steps = torch.tensor([self.steps[i] for i in self.active], device=self.device)
        batch = self.rows[self.active_rows, steps]
        # A model's last batch may be short: its padding weighs 0, its real rows the mean over them.
        last = [self.steps[i] == self.n_batches[i] - 1 and self.streams[i][0] is not None for i in self.active]
        weights = None
        if any(last):
            full = torch.full((self.batch_size,), 1.0 / self.batch_size)
            weights = torch.stack([self.streams[i][0] if short else full for i, short in zip(self.active, last)])
        # alpha's penalty over this batch's rows (each model's own on a
        # short last batch), as in the model's own fit; its gradient is
        # added by the optimizer, its value to the recorded loss.
        rows = self.batch_size
        if any(last):
            rows = column([float(self.streams[i][1][self.steps[i]]) for i in self.active], self.device)
        if self.differentiable:
            per_model, d_output = self._losses_and_gradient(batch, keep, weights)
            penalty = self.stack.step(None, rows, gradients=self.stack.backward(d_output))
        else:
            per_model = self._losses(batch, keep, weights)
            # Each model's loss depends on its own row of weights only, so
            # the sum's gradient is every model's own gradient.
            penalty = self.stack.step(per_model.sum(), rows)
        self.window.append(per_model.detach() + penalty)
        ending = []
        for row, i in enumerate(self.active):
            self.steps[i] += 1
            if self.steps[i] == self.n_batches[i]:
                ending.append(row)
        if ending:
            # One read back per epoch end, not per step: on a GPU each would wait for the device.
            values = torch.stack(self.window).T.tolist()
            self.window = []
            for row, i in enumerate(self.active):
                self.batch_losses[i] += values[row]
            self._end_epoch(ending)

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

    @torch.no_grad()
    def _losses_and_gradient(self, batch, keep, weights):
        """What :meth:`_losses` returns, and its sum's gradient at the stack's output, written by hand.

        The loss's own formulas: cross-entropy's gradient is ``softmax - onehot``,
        the squared error's ``2 * (output - y) / n_outputs``, each times the
        row's weight in its model's mean.
        """
        output = self.stack.forward_saving(self.X[batch], keep, self.dropout_generator)
        target = self.y[batch]
        if self.classifier:
            # Classes on dim 1, as _losses has them: the same values as its
            # cross_entropy, and faster than a softmax over 10-wide rows.
            log_p = torch.log_softmax(output.transpose(1, 2), dim=1)
            target = target.unsqueeze(1)
            per_row = log_p.gather(1, target).squeeze(1).neg_()
            d_output = log_p.exp_()
            d_output.scatter_add_(1, target, torch.full(target.shape, -1.0, device=self.device))
            d_output = d_output.transpose(1, 2)
        else:
            difference = output - target
            per_row = difference.square().mean(dim=2)
            d_output = difference.mul_(2.0 / output.shape[2])
        if weights is None:
            return per_row.mean(dim=1), d_output.mul_(1.0 / per_row.shape[1])
        weights = weights.to(self.device)
        return (per_row * weights).sum(dim=1), d_output.mul_(weights.unsqueeze(2))

    def _end_epoch(self, ending):
        """End the epoch of the models at rows ``ending`` as their own fits would: through their own callbacks.

        Each model's net records the epoch's batches, then runs its
        epoch-end callbacks, as skorch's loop does: the loss and its best,
        the epoch's time, the non-finite loss check, the stopping rule and
        the lr schedule. A model that stops, fails or reaches
        ``max_epochs`` leaves the stack.
        """
        removed = set()
        for row in ending:
            i = self.active[row]
            member = self.members[i]
            net = member.estimator.net_
            losses, counts = self.batch_losses[i], self.streams[i][1]
            self.batch_losses[i], self.steps[i] = [], 0
            self.epochs[i] += 1
            record_batches(net, losses, counts)
            set_lr(net, self.lrs[i])  # the rate this epoch trained at, where the callbacks read it
            stop = False
            try:
                if member.valid_set is not None:
                    # early_stopping's score: the model's own network, with
                    # this epoch's weights, on its own held-out rows, as
                    # skorch's loop scores it.
                    self.stack.copy_into(row, net.module_)
                    iterator = net.get_iterator(member.valid_set, training=False)
                    net.run_single_epoch(iterator, training=False, prefix="valid", step_fn=net.validation_step)
                net.notify("on_epoch_end", dataset_train=None, dataset_valid=member.valid_set)
            except ConvergenceReached:
                stop = True
            except Exception as error:  # a non-finite loss: the model's own fit fails with the same error
                _fail(member, error)
                removed.add(row)
                continue
            self.lrs[i] = net.optimizer_.param_groups[0]["lr"]
            if stop or self.epochs[i] == self.max_epochs[i]:
                if not stop:  # still training at max_epochs: the model's own fit would warn
                    warn_not_converged(member.estimator, self.max_epochs[i])
                self._finish(i, row)
                removed.add(row)
        if removed:
            still = [row for row in range(len(self.active)) if row not in removed]
            self.active = [self.active[row] for row in still]
            if not still:
                return
            self.active_rows = torch.tensor(self.active, dtype=torch.long, device=self.device)
            index = torch.tensor(still, dtype=torch.long, device=self.device)
            self.stack.select(index)
        self.stack.set_lr([self.lrs[i] for i in self.active])

    def _finish(self, i, row):
        """Give member ``i`` (row ``row`` of the stack) its weights and optimizer state, and end its training."""
        estimator = self.members[i].estimator
        self.stack.copy_into(row, estimator.net_.module_)
        self.stack.state_into(row, estimator, self.lrs[i])
        estimator._end_training(None, None, first_epoch=self.members[i].resume_epochs)


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
            total += n_rows(member.X_prepared)
        offsets.append(starts[block])
    # Sparse X stays sparse, on the host, as in an ordinary fit.
    X = SparseRows(X_parts) if is_sparse(X_parts[0]) else to_tensor(np.concatenate(X_parts), device=device)
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
        estimator, n_samples = member.estimator, n_rows(member.X_prepared)
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
