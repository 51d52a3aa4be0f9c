"""scikit-learn estimators that train any torch module through skorch.

The estimator stores its params untouched and builds a skorch net in ``fit``
(``net_``), so the param surface stays flat and the device is chosen in the
process that trains, which is what a joblib worker in a search needs.
"""

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data
from skorch.dataset import Dataset
from skorch.helper import predefined_split

from .._compat import Interval, Options, StrOptions, net_part_names
from ..batching.max_batch import DEFAULT_RTOL, DEFAULT_START, _search_estimator
from ..batching.plan import PLAN_PARAMS, epoch_batch_size, plan_batches
from ..batching.schedule import BatchSizeSchedule
from ..devices.memory import release_device_memory, track_peak_memory
from ..devices.pool import DevicePool, cpu_thread_share, place_fit
from ..training.callbacks import ConvergenceReached, training_callbacks
from ..training.faults import explain_training_error, remember_fitted_batch_size
from ..training.iterator import TensorBatchIterator, to_tensor
from ..training.optim import SOLVERS, optimizer_params
from ..training.seeding import seeded_torch

__all__ = ["BaseTorchEstimator", "estimator_params"]

# The decorator that declares an estimator's params: put it on every class that
# adds params. Keyword-only, as scikit-learn wants; eq and repr stay
# BaseEstimator's (equality by identity, repr of the params that differ from
# their defaults).
estimator_params = dataclass(kw_only=True, eq=False, repr=False)

# Prediction and validation need no gradients, so they run in larger batches
# than training without needing more memory than a training step.
_MIN_INFERENCE_BATCH_SIZE = 1024


@estimator_params
class BaseTorchEstimator(BaseEstimator):
    """Base for estimators whose network is a torch module trained by skorch.

    Holds what classifiers and regressors share: the training params and
    their validation, input checks, devices, seeding, building the skorch
    net, the training loop and what it records. :class:`BaseTorchClassifier`
    and :class:`BaseTorchRegressor` add the targets, the loss and the
    predictions; concrete estimators add the module.

    Where things go:

    - a training param: ``_parameter_constraints`` and a field here, and
      its description in ``skbatch.estimators._docs``;
    - per-fit work: ``_fit`` (validation, device placement, timing,
      memory) and ``_train_on_device`` (validation split, the batch plan,
      building and training the net);
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
        "lr": [Interval(Real, 0, None, closed="neither")],
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
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "device": [str, torch.device, DevicePool],
        "verbose": ["verbose"],
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
    lr: float = 1e-3
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
    n_iter_no_change: int = 10
    tol: float = 1e-4
    shuffle: bool = True
    random_state: int | np.random.RandomState | None = None
    warm_start: bool = False
    device: str | torch.device | DevicePool = "auto"
    verbose: int = 0
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

    # -- public API -------------------------------------------------------------

    def __sklearn_is_fitted__(self):
        return hasattr(self, "net_")

    # -- training: the steps of one call to fit or partial_fit -------------------

    def _fit(self, X, y, *, incremental, classes=None):
        X, y, resume, seed = self._prepare_data(X, y, incremental=incremental, classes=classes)

        # The slot is held from the first tensor on the device to the last one
        # released, so the next fit on that device starts from a clean card.
        with place_fit(self.device) as placement, cpu_thread_share():
            self.device_ = placement.device
            self.device_uuid_ = placement.uuid
            self.device_slot_ = placement.slot
            try:
                with track_peak_memory(self.device_) as peak:
                    start = time.perf_counter()
                    self._train_on_device(X, y, resume=resume, incremental=incremental, seed=seed)
                    self.fit_time_ = time.perf_counter() - start
                self.peak_memory_ = peak.bytes
                # The slot goes back to the pool: the network must leave its device.
                self._release_training_state(to_cpu=placement.slot is not None)
            finally:
                # The CPU has no cache to hand back, and a full garbage
                # collection costs more than a small fit.
                if self.device_.type != "cpu":
                    release_device_memory(self.device_)
        self._record_training()
        return self

    def _prepare_data(self, X, y, *, incremental, classes=None):
        """Validate params and data for one fit; return ``(X, y, resume, seed)``.

        Sets what is learned from the data alone (``n_features_in_``,
        ``input_shape_``, ``classes_`` or ``n_outputs_``). Fused training
        (:mod:`skbatch.fused.train`) prepares each stacked model through here too,
        so it sees the data and the seed the model's own fit would.
        """
        self._validate_params()
        self._check_params()
        resume = hasattr(self, "net_") and (incremental or self.warm_start)
        X, y = validate_data(
            self, X, y, reset=not resume, dtype=np.float32, allow_nd=self._allow_nd, **self._target_checks
        )
        X = self._shape_input(X, reset=not resume)
        y = self._encode_targets(y, classes=classes, resume=resume, incremental=incremental)
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        return X, y, resume, seed

    def _train_on_device(self, X, y, *, resume, incremental, seed):
        # A method of its own so that the training tensors, its locals, are
        # gone before the device memory is released.
        if resume:
            self._move_net(self.device_)
        X_train, y_train, valid = X, y, None
        if self.early_stopping and not incremental:
            X_train, X_valid, y_train, y_valid = train_test_split(
                X,
                y,
                test_size=self.validation_fraction,
                stratify=y if self._stratify_validation else None,
                random_state=seed,
            )
            valid = Dataset(self._to_device(X_valid), self._to_device(y_valid))
        plan = self._plan_batches(X_train, y_train, resume=resume, seed=seed)
        if not resume:
            # A warm start keeps the rate its optimizer already has.
            self.lr_ = plan.lr

        # Continue the random stream where the last call left it, so partial_fit
        # epochs do not replay the same dropout masks.
        epochs_done = len(self.net_.history) if resume else 0
        with seeded_torch(seed + epochs_done, self.device_):
            if not resume:
                self.net_ = self._make_net(self.n_features_in_, self._n_module_outputs(), seed, scheduled=plan.scheduled)
            else:
                self._check_schedule(plan)
            self._set_data_settings(plan, valid)
            self._train(
                self._to_device(X_train),
                self._to_device(y_train),
                epochs=1 if incremental else self.max_epochs,
            )

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

    def _release_training_state(self, *, to_cpu):
        # The held-out split and the best weights kept for early stopping live
        # on the device; the net needs them only while training, and the best
        # weights are already loaded back.
        self.net_.train_split = None
        dict(self.net_.callbacks_)["stopping"].best_model_weights_ = None
        if to_cpu:
            self._move_net(torch.device("cpu"))

    def _move_net(self, device):
        """Move the modules, criteria and optimizer state of ``net_`` to ``device``."""
        net = self.net_
        if torch.device(net.device) == device:
            return
        modules, optimizers = net_part_names(net)
        for name in modules:
            getattr(net, name + "_").to(device)
        for name in optimizers:
            optimizer = getattr(net, name + "_")
            # load_state_dict casts the state to the device of each param.
            optimizer.load_state_dict(optimizer.state_dict())
        # A plain attribute: skorch's set_params would re-initialize the module.
        net.device = str(device)

    def _plan_batches(self, X, y, *, resume, seed):
        """The :class:`~skbatch.batching.plan.BatchPlan` of training on ``X``; runs 'max''s search if needed."""
        max_batch_size = None
        # 'noise' growth needs the memory limit as much as 'max' does.
        if (isinstance(self.batch_size, str) and self.batch_size == "max") or self._adaptive_batch_size():
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
        return self._batch_plan(len(X), max_batch_size=max_batch_size)

    def _adaptive_batch_size(self):
        return isinstance(self.batch_size_growth, str) and self.batch_size_growth == "noise"

    def _tracks_noise_scale(self):
        """Whether fits record the noise scale: asked for, or needed by ``batch_size_growth='noise'``."""
        return self.track_noise_scale or self._adaptive_batch_size()

    def _batch_plan(self, n_samples, *, max_batch_size=None):
        """The plan of this estimator's params for ``n_samples`` training rows (fused training's too)."""
        params = {name: getattr(self, name) for name in PLAN_PARAMS}
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
        return X.reshape(len(X), *shape)

    def _validate_X(self, X):
        """Check ``X`` for prediction against what ``fit`` saw; return it as the module takes it."""
        X = validate_data(self, X, reset=False, dtype=np.float32, allow_nd=self._allow_nd)
        return self._shape_input(X, reset=False)

    def _forward(self, X):
        """The net's predictions for validated ``X``: class probabilities or regression outputs."""
        return self.net_.predict_proba(to_tensor(X))

    def _to_device(self, array):
        return to_tensor(array, device=self.device_)

    def _make_net(self, n_features_in, n_outputs, seed, *, scheduled=False):
        # The schedule reads the sizes from the plan _set_data_settings puts on the net.
        schedule = BatchSizeSchedule() if scheduled else None
        iterator_batch_size = {} if schedule is None else {"iterator_train__batch_size": schedule}
        return self._net_class(
            module=self._build_module(n_features_in, n_outputs),
            criterion=self._criterion,
            optimizer=SOLVERS[self.solver],
            lr=self.lr_,
            max_epochs=self.max_epochs,
            iterator_train=TensorBatchIterator,
            iterator_train__shuffle=self.shuffle,
            iterator_train__drop_last=self.drop_last,
            iterator_train__generator=torch.Generator().manual_seed(int(seed)),
            iterator_valid=TensorBatchIterator,
            train_split=None,
            callbacks=training_callbacks(self) + ([("batch_size_schedule", schedule)] if schedule else []),
            device=str(self.device_),
            verbose=self.verbose,
            **optimizer_params(self),
            **self._logging_params(),
            **iterator_batch_size,
        ).initialize()

    def _logging_params(self):
        # skorch's PrintLog formats a table every epoch even when silent.
        return {} if self.verbose else {"callbacks__print_log": None}

    def _train(self, X, y, *, epochs):
        # skorch's partial_fit, minus its catch of KeyboardInterrupt.
        net = self.net_
        first_epoch = len(net.history)
        net.notify("on_train_begin", X=X, y=y)
        try:
            net.fit_loop(X, y, epochs=epochs)
        except ConvergenceReached:
            pass
        except Exception as error:
            explained = explain_training_error(self, error, first_epoch=first_epoch)
            if explained is None:
                raise
            raise explained from error
        net.notify("on_train_end", X=X, y=y)
        remember_fitted_batch_size(self, first_epoch=first_epoch)

    def _record_training(self):
        history = self.net_.history
        self.n_iter_ = len(history)
        self.loss_curve_ = [row["train_loss"] for row in history]
        self.loss_ = self.loss_curve_[-1]
        self.batch_size_curve_ = [row["batches"][0]["train_batch_size"] for row in history]
        # The size that ran last: with batch_size_milestones or 'noise' growth, not the first epoch's.
        self.batch_size_ = epoch_batch_size(self.net_, len(history) - 1)
        self.n_updates_per_epoch_ = history[-1, "train_batch_count"]
        # Epochs trained without tracking (before a warm start turned it on) have no value.
        self.noise_scale_curve_ = [row.get("noise_scale", float("nan")) for row in history] if self._tracks_noise_scale() else None
        if self.early_stopping:
            key = self._validation_score
            self.validation_scores_ = [row[key] for row in history if key in row]
            self.best_validation_score_ = max(self.validation_scores_, default=None)
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
