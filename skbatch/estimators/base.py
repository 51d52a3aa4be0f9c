"""scikit-learn estimators that train any torch module through skorch.

The estimator stores its params untouched and builds a skorch net in ``fit``
(``net_``), so the param surface stays flat and the device is chosen in the
process that trains, which is what a joblib worker in a search needs.
"""

import os
import time
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data
from skorch.dataset import Dataset
from skorch.helper import predefined_split

from .._compat import Interval, Options, StrOptions, check_sample_weight, net_part_names
from ..batching.lr_scaling import scaled_lr
from ..batching.max_batch import DEFAULT_RTOL, DEFAULT_START, _search_estimator
from ..batching.schedule import BatchSizeSchedule, check_milestones
from ..batching.sizes import resolve_batch_size
from ..devices.memory import release_device_memory, track_peak_memory
from ..devices.pool import DevicePool, cpu_thread_share, place_fit
from ..training.callbacks import ConvergenceReached, training_callbacks
from ..training.faults import explain_training_error, remember_fitted_batch_size
from ..training.iterator import TensorBatchIterator, to_tensor
from ..training.optim import SOLVERS, optimizer_params
from ..training.seeding import seeded_torch
from ..training.sparse import as_csr, is_sparse, n_rows

__all__ = ["BaseTorchEstimator"]

# Prediction and validation need no gradients, so they run in larger batches
# than training without needing more memory than a training step.
_MIN_INFERENCE_BATCH_SIZE = 1024


class BaseTorchEstimator(BaseEstimator):
    """Base for estimators whose network is a torch module trained by skorch.

    Holds what classifiers and regressors share: the training params and
    their validation, input checks, devices, seeding, building the skorch
    net, the training loop and what it records. :class:`BaseTorchClassifier`
    and :class:`BaseTorchRegressor` add the targets, the loss and the
    predictions; concrete estimators add the module.

    Where things go:

    - a training param: ``_parameter_constraints`` and ``__init__`` here,
      and the ``__init__`` and docstring of every concrete estimator;
    - per-fit work: ``_fit`` (validation, device placement, timing,
      memory) and ``_train_on_device`` (validation split, batch size,
      schedules, building and training the net);
    - the skorch net class and loss: ``_net_class`` and ``_criterion`` on
      the classifier and regressor bases, used by ``_make_net``;
    - the network: ``_build_module`` on the concrete estimator.

    Training params are documented on :class:`TorchClassifier`.
    """

    _parameter_constraints: dict = {
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
        "batch_size_growth": [Interval(Real, 1, None, closed="neither")],
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

    def __init__(
        self,
        *,
        batch_size="auto",
        drop_last=False,
        accumulation_steps=1,
        lr_scaling=None,
        base_batch_size=200,
        batch_size_milestones=None,
        batch_size_growth=2.0,
        max_epochs=200,
        lr=1e-3,
        solver="adam",
        momentum=0.9,
        nesterovs_momentum=True,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        alpha=1e-4,
        learning_rate="constant",
        power_t=0.5,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        shuffle=True,
        random_state=None,
        warm_start=False,
        device="auto",
        verbose=0,
        cache_dir=None,
    ):
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.accumulation_steps = accumulation_steps
        self.lr_scaling = lr_scaling
        self.base_batch_size = base_batch_size
        self.batch_size_milestones = batch_size_milestones
        self.batch_size_growth = batch_size_growth
        self.max_epochs = max_epochs
        self.lr = lr
        self.solver = solver
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.alpha = alpha
        self.learning_rate = learning_rate
        self.power_t = power_t
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.shuffle = shuffle
        self.random_state = random_state
        self.warm_start = warm_start
        self.device = device
        self.verbose = verbose
        self.cache_dir = cache_dir

    # -- set by the classifier and regressor bases ------------------------------

    _net_class = None  # the skorch net, e.g. LeanNeuralNetClassifier
    _criterion = None  # the loss class, e.g. torch.nn.CrossEntropyLoss
    _validation_score = None  # history key that early_stopping monitors (higher is better)
    _stratify_validation = False  # stratify the early_stopping split on y
    _target_checks: dict = {}  # keyword arguments for validate_data about y

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

    # -- public API -------------------------------------------------------------

    def __sklearn_is_fitted__(self):
        return hasattr(self, "net_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = bool(self._sparse_formats())
        return tags

    # -- training: the steps of one call to fit or partial_fit -------------------

    def _fit(self, X, y, *, incremental, classes=None, sample_weight=None):
        X, y, resume, seed = self._prepare_data(X, y, incremental=incremental, classes=classes)
        if sample_weight is not None:
            sample_weight = check_sample_weight(sample_weight, X, dtype=np.float32, ensure_non_negative=True)

        # The slot is held from the first tensor on the device to the last one
        # released, so the next fit on that device starts from a clean card.
        with place_fit(self.device) as placement, cpu_thread_share():
            self.device_ = placement.device
            self.device_uuid_ = placement.uuid
            self.device_slot_ = placement.slot
            try:
                with track_peak_memory(self.device_) as peak:
                    start = time.perf_counter()
                    batch_size = self._train_on_device(
                        X, y, resume=resume, incremental=incremental, seed=seed, sample_weight=sample_weight
                    )
                    self.fit_time_ = time.perf_counter() - start
                self.peak_memory_ = peak.bytes
                # The slot goes back to the pool: the network must leave its device.
                self._release_training_state(to_cpu=placement.slot is not None)
            finally:
                # The CPU has no cache to hand back, and a full garbage
                # collection costs more than a small fit.
                if self.device_.type != "cpu":
                    release_device_memory(self.device_)
        self._record_training(batch_size)
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
            self,
            X,
            y,
            reset=not resume,
            dtype=np.float32,
            allow_nd=self._allow_nd,
            accept_sparse=self._sparse_formats(),
            **self._target_checks,
        )
        X = self._shape_input(X, reset=not resume)
        y = self._encode_targets(y, classes=classes, resume=resume, incremental=incremental)
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        return X, y, resume, seed

    def _train_on_device(self, X, y, *, resume, incremental, seed, sample_weight=None):
        # A method of its own so that the training tensors, its locals, are
        # gone before the device memory is released.
        if resume:
            self._move_net(self.device_)
        X_train, y_train, w_train, valid = X, y, sample_weight, None
        if self.early_stopping and not incremental:
            # The weights are split with the rows, as scikit-learn does.
            arrays = (X, y) if sample_weight is None else (X, y, sample_weight)
            split = train_test_split(
                *arrays,
                test_size=self.validation_fraction,
                stratify=y if self._stratify_validation and y.ndim == 1 else None,
                random_state=seed,
            )
            X_train, X_valid, y_train, y_valid = split[:4]
            w_train, w_valid = split[4:] or (None, None)
            valid = Dataset(self._to_device(X_valid), self._device_targets(y_valid, w_valid))
        batch_size, slice_size = self._resolve_batch_size(X_train, y_train, resume=resume, seed=seed)
        schedule = self._batch_size_schedule(batch_size, n_rows(X_train), slice_size)
        if not resume:
            self.lr_ = scaled_lr(self.lr, batch_size, self.lr_scaling, self.base_batch_size)

        # Continue the random stream where the last call left it, so partial_fit
        # epochs do not replay the same dropout masks.
        epochs_done = len(self.net_.history) if resume else 0
        with seeded_torch(seed + epochs_done, self.device_):
            if not resume:
                self.net_ = self._make_net(self.n_features_in_, self._n_module_outputs(), seed, schedule=schedule)
            elif schedule is not None:
                self._update_schedule(schedule)
            self._set_data_settings(batch_size, valid)
            self._train(
                self._to_device(X_train),
                self._device_targets(y_train, w_train),
                epochs=1 if incremental else self.max_epochs,
            )
        return batch_size

    def _set_data_settings(self, batch_size, valid):
        # Data-dependent settings, read by skorch at each epoch. Plain
        # attributes: skorch's set_params would re-initialize the module.
        self.net_.batch_size = batch_size
        self.net_.accumulation_steps = self.accumulation_steps
        self.net_.iterator_valid__batch_size = max(batch_size, _MIN_INFERENCE_BATCH_SIZE)
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

    def _resolve_batch_size(self, X, y, *, resume, seed):
        """Return ``(batch_size, slice_size)``: slice_size is the limit 'max' found, else None."""
        if self.batch_size != "max":
            self.max_batch_search_ = None
            return resolve_batch_size(self.batch_size, n_rows(X)), None
        if not (resume and getattr(self, "max_batch_search_", None) is not None):
            # The probes draw their own initial weights; forking keeps the
            # fit's random stream the same as with an int batch size.
            with seeded_torch(seed, self.device_):
                self.max_batch_search_ = _search_estimator(
                    self, X, y, self._n_module_outputs(), self.device_, start=DEFAULT_START, rtol=DEFAULT_RTOL
                )
        slice_size = min(self.max_batch_search_.batch_size, n_rows(X))
        return min(n_rows(X), slice_size * self.accumulation_steps), slice_size

    def _batch_size_schedule(self, batch_size, n_samples, slice_size):
        if self.batch_size_milestones is None:
            return None
        return BatchSizeSchedule(
            base=batch_size,
            growth=self.batch_size_growth,
            milestones=check_milestones(self.batch_size_milestones, type(self).__name__),
            n_samples=n_samples,
            slice_size=slice_size,
        )

    def _update_schedule(self, schedule):
        # A warm start keeps the net and its callbacks; the schedule follows the new data.
        current = dict(self.net_.callbacks_).get("batch_size_schedule")
        if current is None:
            raise ValueError(
                "batch_size_milestones was set after the network was built, so this "
                "warm start or partial_fit cannot follow it. Set it before the first "
                "fit, or set warm_start=False to train from scratch."
            )
        for name in ("base", "growth", "milestones", "n_samples", "slice_size"):
            setattr(current, name, getattr(schedule, name))

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
        X = validate_data(
            self, X, reset=False, dtype=np.float32, allow_nd=self._allow_nd, accept_sparse=self._sparse_formats()
        )
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

    def _device_targets(self, y, sample_weight):
        """Training targets on the device; with weights, the pair ``(y, sample_weight)`` the loss weighs by."""
        y = self._to_device(y)
        return y if sample_weight is None else (y, self._to_device(sample_weight))

    def _net_params(self):
        """Extra skorch net params that depend on the fit (the prediction nonlinearity, ...)."""
        return {}

    def _make_net(self, n_features_in, n_outputs, seed, schedule=None):
        scheduled = {}
        if schedule is not None:
            scheduled = {"iterator_train__batch_size": schedule}
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
            **self._net_params(),
            **scheduled,
        ).initialize()

    def _logging_params(self):
        # skorch's PrintLog formats a table every epoch even when silent.
        return {} if self.verbose else {"callbacks__print_log": None}

    def _train(self, X, y, *, epochs):
        # skorch's partial_fit, minus its catch of KeyboardInterrupt.
        net = self.net_
        net.notify("on_train_begin", X=X, y=y)
        try:
            net.fit_loop(X, y, epochs=epochs)
        except ConvergenceReached:
            pass
        except Exception as error:
            explained = explain_training_error(self, error)
            if explained is None:
                raise
            raise explained from error
        net.notify("on_train_end", X=X, y=y)
        remember_fitted_batch_size(self)

    def _record_training(self, batch_size):
        history = self.net_.history
        self.n_iter_ = len(history)
        self.loss_curve_ = [row["train_loss"] for row in history]
        self.loss_ = self.loss_curve_[-1]
        self.batch_size_ = batch_size
        self.batch_size_curve_ = [row["batches"][0]["train_batch_size"] for row in history]
        self.n_updates_per_epoch_ = history[-1, "train_batch_count"]
        if self.early_stopping:
            key = self._validation_score
            self.validation_scores_ = [row[key] for row in history if key in row]
            self.best_validation_score_ = max(self.validation_scores_, default=None)
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
