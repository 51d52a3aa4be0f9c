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
finished by the same method. Only the steps in between are the stack's
(:mod:`skbatch.fused.loop`).

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

import copy
import time
from dataclasses import dataclass, field, replace

import numpy as np

from ..cache.keys import UnfingerprintableParamError, params_fingerprint
from ..devices.memory import track_peak_memory
from ..estimators.base import BaseTorchEstimator
from ..estimators.mlp import MLPClassifier, MLPRegressor
from ..training.iterator import to_tensor
from ..training.seeding import seeded_torch
from ..training.sparse import is_sparse
from .loop import StackTraining, fail_member
from .stacks import FunctionalStack

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
    groups, prepared, held_out = {}, {}, {}
    for member in members:
        try:
            _prepare(member, placement, held_out)
        except Exception as error:
            fail_member(member, error)
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
            fail_member(member, UnstackableError(str(error)))
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
                fail_member(member, UnstackableError(reason))
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


def _prepare(member, placement, held_out):
    """Start ``member``'s fit as its own ``fit`` would: the same steps, up to its first epoch.

    ``held_out`` keeps the validation splits made so far: members of one
    block (the same rows) that split with the same seed and fraction hold
    out the same rows, so the split is drawn once for them all.
    """
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
    split = None
    if estimator.early_stopping and member.block is not None and start.sample_weight is None:
        split = (member.block, type(estimator), start.seed, estimator.validation_fraction)
    rows = held_out.get(split)
    if rows is None:
        rows = estimator._hold_out_validation(start)
        if split is not None:
            held_out[split] = rows
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
        epochs = StackTraining(members, device, mlp=_is_mlp(members[0].estimator)).run()
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
