"""scikit-learn estimators that train any torch module through skorch.

The estimator stores its params untouched and builds a skorch net in ``fit``
(``net_``), so the param surface stays flat and the device is chosen in the
process that trains, which is what a joblib worker in a search needs.
"""

import os
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import validate_data
from skorch.helper import predefined_split

from .._compat import Interval, Options, StrOptions
from ..batching.plan import PLAN_PARAMS, plan_batches
from ..batching.schedule import BatchSizeSchedule
from ..devices.pool import DevicePool
from ..training.callbacks import training_callbacks
from ..training.fit_tasks import EpochTasks
from ..training.iterator import TensorBatchIterator, to_tensor
from ..training.lbfgs import FULL_BATCH, check_full_batch_params
from ..training.max_batch import DEFAULT_RTOL, DEFAULT_START, _search_estimator
from ..training.modules import check_module_output
from ..training.net import epoch_record
from ..training.optim import SOLVERS, fused_kernels_apply, optimizer_params
from ..training.penalty import penalized_solver
from ..training.progress_bar import EpochProgressBar
from ..training.seeding import draws_from_global_rng, seeded_torch
from ..training.sparse import as_csr, is_sparse, n_rows
from ..training.user_callbacks import user_callbacks
from .aliases import resolve_alias
from .doc_link import DocLinkMixin
from .fit_sequence import FitSequence

__all__ = ["BaseTorchEstimator", "estimator_params"]

# The decorator that declares an estimator's params: put it on every class that
# adds params. Keyword-only, as scikit-learn wants; eq and repr stay
# BaseEstimator's (equality by identity, repr of the params that differ from
# their defaults).
estimator_params = dataclass(kw_only=True, eq=False, repr=False)

# Prediction and validation need no gradients, so they run in larger batches
# than training without needing more memory than a training step.
_MIN_INFERENCE_BATCH_SIZE = 1024

# Each estimator class's param names, with the __init__ they were read from.
# Weak keys: a class made inside a test or a function may be collected.
_PARAM_NAMES = weakref.WeakKeyDictionary()


@estimator_params
class BaseTorchEstimator(DocLinkMixin, FitSequence, BaseEstimator):
    """Base for estimators whose network is a torch module trained by skorch.

    Holds what classifiers and regressors share: the training params and
    their validation, input checks, devices, seeding, building the skorch
    net, the training loop and what it records. :class:`BaseTorchClassifier`
    and :class:`BaseTorchRegressor` add the targets, the loss and the
    predictions; concrete estimators add the module.

    Where things go:

    - a training param: ``_parameter_constraints`` and a field here, and
      its description in ``skbatch.estimators._docs``;
    - per-fit work: the steps of :class:`~skbatch.estimators.fit_sequence.FitSequence`
      (validation, device placement, validation split, the batch plan,
      building the net, the callbacks' start and end, the fitted
      attributes), which the fused trainer follows too;
    - what a batch size means: :func:`skbatch.batching.plan.plan_batches`,
      through ``_plan_batches``; everything else reads the plan it returns;
    - the skorch net class and loss: ``_net_class`` and ``_criterion`` on
      the classifier and regressor bases, used by ``_make_net``;
    - the network: ``_build_module`` on the concrete estimator.

    Training params are documented on :class:`TorchClassifier`.
    """

    _parameter_constraints: ClassVar[dict] = {
        "batch_size": [
            StrOptions({"auto", "full", "max"}),
            Interval(Integral, 1, None, closed="left"),
            Options(Integral, {-1}),
        ],
        "drop_last": ["boolean"],
        "accumulation_steps": [Interval(Integral, 1, None, closed="left")],
        "lr_scaling": [StrOptions({"linear", "sqrt"}), None],
        "base_batch_size": [Interval(Integral, 1, None, closed="left")],
        "batch_size_milestones": [Interval(Integral, 1, None, closed="left"), "array-like", None],
        "batch_size_growth": [Interval(Real, 1, None, closed="neither"), StrOptions({"noise"})],
        "track_noise_scale": ["boolean"],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left"), None],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither"), None],
        "solver": [StrOptions(set(SOLVERS))],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        # np.inf, as scikit-learn allows: never stop on a plateau.
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "device": [str, torch.device, DevicePool],
        "verbose": ["verbose"],
        "callbacks": [list, tuple, None],
        "cache_dir": [str, os.PathLike, None],
    }

    # Each param is declared once, here or on the subclass that adds it; the
    # dataclass decorator writes the explicit keyword-only __init__ whose
    # signature scikit-learn's get_params, clone and set_params read, and that
    # only stores the params. Descriptions: skbatch.estimators._docs.
    batch_size: int | str = "auto"
    drop_last: bool = False
    accumulation_steps: int = 1
    lr_scaling: str | None = None
    base_batch_size: int = 200
    batch_size_milestones: int | Sequence[int] | None = None
    batch_size_growth: float | str = 2.0
    track_noise_scale: bool = False
    max_epochs: int = 200
    max_iter: int | None = None
    lr: float = 1e-3
    learning_rate_init: float | None = None
    solver: str = "adam"
    momentum: float = 0.9
    nesterovs_momentum: bool = True
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8
    alpha: float = 1e-4
    learning_rate: str = "constant"
    power_t: float = 0.5
    early_stopping: bool = False
    validation_fraction: float = 0.1
    n_iter_no_change: int | float = 10
    tol: float = 1e-4
    max_fun: int = 15000
    shuffle: bool = True
    random_state: int | np.random.RandomState | None = None
    warm_start: bool = False
    device: str | torch.device | DevicePool = "auto"
    verbose: int = 0
    callbacks: Sequence | None = None
    cache_dir: str | os.PathLike | None = None

    # -- set by the classifier and regressor bases ------------------------------

    _net_class = None  # the skorch net, e.g. LeanNeuralNetClassifier
    _criterion = None  # the loss class, e.g. torch.nn.CrossEntropyLoss
    _validation_score = None  # history key that early_stopping monitors (higher is better)
    _stratify_validation = False  # stratify the early_stopping split on y
    _target_checks: ClassVar[dict] = {}  # keyword arguments for validate_data about y

    def _encode_targets(self, y, *, classes, resume, incremental):
        """Return ``y`` as the loss wants it; on a fresh fit, learn ``classes_`` or ``n_outputs_``."""
        raise NotImplementedError

    def _n_module_outputs(self):
        """Width of the module's output."""
        raise NotImplementedError

    def _scoring_callbacks(self):
        """skorch callbacks that record ``_validation_score`` when skorch does not."""
        return []

    # -- hooks for concrete estimators ----------------------------------------------

    _allow_nd = False  # whether X may have more than 2 dimensions
    _accept_sparse = ("csr", "csc")  # sparse formats X may come in (2-D estimators only)

    def _build_module(self, n_features_in, n_outputs):
        """Return a fresh ``torch.nn.Module`` for data of this shape.

        ``input_shape_`` (the shape of one sample) is set before this is called.
        """
        raise NotImplementedError

    def _check_params(self):
        """Validate what the constraint table cannot express; raise InvalidParameterError."""

    def _sample_shape(self, X):
        """Shape of one sample as the module receives it, from the validated ``X``."""
        return X.shape[1:]

    def _module_input_shape(self, n_features_in):
        """``input_shape_``; for a module built before ``fit`` (by find_max_batch_size), that of 2-D rows."""
        shape = getattr(self, "input_shape_", None)
        if shape is None:
            shape = tuple(self._sample_shape(np.empty((1, n_features_in), dtype=np.float32)))
        return shape

    @classmethod
    def _get_param_names(cls):
        # scikit-learn reads the names from inspect.signature(cls.__init__) at
        # every get_params, clone and set_params: some 40 us each, thousands of
        # times in a fused search (its cache keys, its per-fold fits). The
        # signature of a class's __init__ does not change while it stays the
        # same function, so the names are read once per class and __init__.
        init = cls.__init__
        known = _PARAM_NAMES.get(cls)
        if known is None or known[0] is not init:
            known = _PARAM_NAMES[cls] = (init, tuple(super()._get_param_names()))
        return list(known[1])  # a new list, as scikit-learn's: a caller may change it

    # -- public API -------------------------------------------------------------

    def __sklearn_is_fitted__(self):
        return hasattr(self, "net_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = bool(self._sparse_formats())
        return tags

    @property
    def history_(self):
        """Training history, one dict per epoch (see the class's Attributes).

        Read from ``net_.history`` on each access rather than stored: the
        training loop pays nothing for it, the fit cache and pickles hold the
        history once, and it can never disagree with the net's.
        """
        net = self.__dict__.get("net_")
        if net is None:
            # An AttributeError, so that hasattr() says False before fit, as
            # for any fitted attribute.
            raise AttributeError(f"This {type(self).__name__} has no history_ yet: call fit or partial_fit first.")
        return [epoch_record(row) for row in net.history]

    # -- training: the steps of one fit are FitSequence's (fit_sequence.py) ----------

    def _check_module_output(self, X):
        """Run a custom module on two rows before training; a clear error if its width is wrong.

        A module of the wrong width would otherwise train (a loss can
        broadcast, or index past the classes) and predict the wrong number
        of columns. The built-in modules are right by construction.
        """
        if draws_from_global_rng(self):
            kind = ("class", "n_classes") if hasattr(self, "classes_") else ("target", "n_outputs")
            check_module_output(self.net_.module_, self._probe_rows(X), self._n_module_outputs(), type(self).__name__, kind)

    def _set_data_settings(self, plan, valid):
        # Data-dependent settings, read by skorch and the schedule at each
        # epoch. Plain attributes: skorch's set_params would re-initialize
        # the module. The plan travels on the net, so that whatever sees
        # the net (the schedule, the error messages, the records) reads
        # the sizes from it.
        self.net_.batch_plan = plan
        self.net_.batch_size = plan.batch_size
        self.net_.accumulation_steps = plan.accumulation_steps
        self.net_.iterator_valid__batch_size = max(plan.batch_size, _MIN_INFERENCE_BATCH_SIZE)
        self.net_.train_split = None if valid is None else predefined_split(valid)

    def _plan_batches(self, X, y, *, resume, seed):
        """The :class:`~skbatch.batching.plan.BatchPlan` of training on ``X``; runs 'max''s search if needed."""
        max_batch_size = None
        # 'noise' growth needs the memory limit as much as 'max' does; lbfgs is full batch.
        if ((isinstance(self.batch_size, str) and self.batch_size == "max") or self._adaptive_batch_size()) and self.solver != "lbfgs":
            if not (resume and getattr(self, "max_batch_search_", None) is not None):
                # The probes draw their own initial weights; forking keeps the
                # fit's random stream the same as with an int batch size.
                with seeded_torch(seed, self.device_):
                    self.max_batch_search_ = _search_estimator(
                        self, X, y, self._n_module_outputs(), self.device_, start=DEFAULT_START, rtol=DEFAULT_RTOL
                    )
            max_batch_size = self.max_batch_search_.batch_size
        else:
            self.max_batch_search_ = None
        return self._batch_plan(n_rows(X), max_batch_size=max_batch_size)

    def _adaptive_batch_size(self):
        return isinstance(self.batch_size_growth, str) and self.batch_size_growth == "noise"

    def _tracks_noise_scale(self):
        """Whether fits record the noise scale: asked for, or needed by ``batch_size_growth='noise'``."""
        return self.track_noise_scale or self._adaptive_batch_size()

    def _batch_plan(self, n_samples, *, max_batch_size=None):
        """The plan of this estimator's params for ``n_samples`` training rows (fused training's too)."""
        params = {name: resolve_alias(self, name) for name in PLAN_PARAMS}
        if self.solver == "lbfgs":
            check_full_batch_params(self)
            params.update(FULL_BATCH)
        return plan_batches(params, n_samples, max_batch_size=max_batch_size, owner=type(self).__name__)

    def _check_schedule(self, plan):
        # A warm start keeps the net and its callbacks: a schedule can only
        # follow the new plan if the net was built with one.
        if plan.scheduled and "batch_size_schedule" not in dict(self.net_.callbacks_):
            raise ValueError(
                "batch_size_milestones was set after the network was built, so this "
                "warm start or partial_fit cannot follow it. Set it before the first "
                "fit, or set warm_start=False to train from scratch."
            )

    def _shape_input(self, X, *, reset):
        """Reshape validated ``X`` to ``(n_samples, *input_shape_)``; learn or check the shape."""
        shape = tuple(int(size) for size in self._sample_shape(X))
        if reset:
            self.input_shape_ = shape
        elif shape != self.input_shape_:
            raise ValueError(
                f"X has samples of shape {shape}, but {type(self).__name__} was fitted on "
                f"samples of shape {self.input_shape_}. Pass data shaped as in fit."
            )
        if is_sparse(X):
            # Rows of a 2-D matrix are the module's input as they are.
            return as_csr(X)
        return X.reshape(len(X), *shape)

    def _sparse_formats(self):
        """``accept_sparse`` for validate_data: False for estimators that reshape X."""
        return False if self._allow_nd else list(self._accept_sparse)

    def _validate_X(self, X):
        """Check ``X`` for prediction against what ``fit`` saw; return it as the module takes it."""
        X = validate_data(self, X, reset=False, dtype=np.float32, allow_nd=self._allow_nd, accept_sparse=self._sparse_formats())
        return self._shape_input(X, reset=False)

    def _forward(self, X):
        """The net's predictions for validated ``X``: class probabilities or regression outputs."""
        # Sparse X stays on the host; the prediction iterator densifies it a batch at a time.
        return self.net_.predict_proba(X if is_sparse(X) else to_tensor(X))

    def _to_device(self, array):
        # Sparse X stays on the host as CSR: the batch iterator densifies one batch at a time.
        if is_sparse(array):
            return array
        return to_tensor(array, device=self.device_)

    def _probe_rows(self, X, n=2):
        """The first ``n`` rows of training ``X`` as the module takes them: a dense tensor on the device."""
        rows = X[:n]
        return to_tensor(rows.toarray() if is_sparse(rows) else rows, device=self.device_)

    def _device_targets(self, y, sample_weight):
        """Training targets on the device; with weights, the pair ``(y, sample_weight)`` the loss weighs by."""
        y = self._to_device(y)
        return y if sample_weight is None else (y, self._to_device(sample_weight))

    def _net_params(self):
        """Extra skorch net params that depend on the fit (the prediction nonlinearity, ...)."""
        return {}

    def _make_net(self, n_features_in, n_outputs, seed, *, scheduled=False):
        # The schedule reads the sizes from the plan _set_data_settings puts on the net.
        schedule = BatchSizeSchedule() if scheduled else None
        iterator_batch_size = {} if schedule is None else {"iterator_train__batch_size": schedule}
        module = self._build_module(n_features_in, n_outputs)
        net = self._net_class(
            module=module,
            criterion=self._criterion,
            optimizer=SOLVERS[self.solver],
            lr=self.lr_,
            max_epochs=resolve_alias(self, "max_epochs"),
            iterator_train=TensorBatchIterator,
            iterator_train__shuffle=self.shuffle,
            iterator_train__drop_last=self.drop_last,
            iterator_train__generator=torch.Generator().manual_seed(int(seed)),
            iterator_valid=TensorBatchIterator,
            train_split=None,
            callbacks=self._own_callbacks(schedule),
            device=str(self.device_),
            verbose=self.verbose,
            **optimizer_params(self, fused=fused_kernels_apply(module)),
            **self._logging_params(),
            **self._net_params(),
            **iterator_batch_size,
        )
        # The user's callbacks run after skbatch's, as copies: the param is never filled in.
        reserved = {name for name, _ in net.callbacks + net.get_default_callbacks()}
        net.callbacks = net.callbacks + user_callbacks(self.callbacks, reserved=reserved, owner=type(self).__name__)
        net = net.initialize()
        # A plain attribute, as the data settings: the loss reads it at each step.
        # lbfgs adds the penalty to its full-batch objective itself (training/lbfgs.py).
        net.penalty_alpha = self.alpha if penalized_solver(self.solver) and self.solver != "lbfgs" else 0.0
        return net

    def _own_callbacks(self, schedule):
        # The bar first: at an epoch's end it closes before the stopping
        # rule may end training, and before skorch's PrintLog prints the line.
        progress = [("progress_bar", EpochProgressBar())] if self.verbose >= 2 else []
        schedule = [("batch_size_schedule", schedule)] if schedule else []
        return progress + training_callbacks(self) + [("sklearn_callbacks", EpochTasks())] + schedule

    def _logging_params(self):
        # skorch's PrintLog formats a table every epoch even when silent.
        return {} if self.verbose else {"callbacks__print_log": None}
