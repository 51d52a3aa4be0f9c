"""scikit-learn estimators that train any torch module through skorch.

The estimator stores its params untouched and builds a skorch net in ``fit``
(``net_``), so the param surface stays flat and the device is chosen in the
process that trains, which is what a joblib worker in a search needs.
"""

import contextlib
import functools
import os
import time
from numbers import Integral, Real

import numpy as np
import torch
from skorch.callbacks import EarlyStopping, EpochScoring, LRScheduler
from skorch.helper import predefined_split
from skorch.dataset import Dataset
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, InvalidParameterError, Options, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._net import LeanNeuralNetClassifier, LeanNeuralNetRegressor
from .batch_schedule import BatchSizeSchedule, check_milestones
from .batching import TensorBatchIterator, resolve_batch_size, to_tensor
from .cache import fit_cached
from .faults import StopOnNonFiniteLoss, explain_training_error, remember_fitted_batch_size
from .input_shapes import IMAGE_SHAPE_CONSTRAINT, ShapedInputMixin
from .lr_scaling import scaled_lr
from .max_batch import DEFAULT_RTOL, DEFAULT_START, _search_estimator
from .memory import release_device_memory, track_peak_memory
from .placement import DevicePool, ThreadShareRebalance, cpu_thread_share, place_fit

__all__ = [
    "BaseTorchClassifier",
    "BaseTorchEstimator",
    "BaseTorchRegressor",
    "TorchClassifier",
    "TorchRegressor",
]

SOLVERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
}

# Prediction and validation need no gradients, so they run in larger batches
# than training without needing more memory than a training step.
_MIN_INFERENCE_BATCH_SIZE = 1024


class _ConvergenceReached(Exception):
    """Raised by the stopping rule; kept apart from KeyboardInterrupt so Ctrl-C still stops a search."""


class _StopOnPlateau(EarlyStopping):
    """skorch's EarlyStopping, made safe for Ctrl-C and for calls without validation data.

    skorch's EarlyStopping signals a stop with KeyboardInterrupt, which skorch
    then swallows, so a user's Ctrl-C would end training silently and the
    half-trained model would be scored as if it had converged. An epoch that
    lacks the monitored score (``partial_fit`` holds out no validation data)
    is not judged.
    """

    def on_epoch_end(self, net, **kwargs):
        if self.monitor not in net.history[-1]:
            return
        try:
            super().on_epoch_end(net, **kwargs)
        except KeyboardInterrupt:
            raise _ConvergenceReached from None


def _invscaling_factor(epoch, power_t):
    # Module level, not a lambda, so that a fitted estimator pickles.
    return 1.0 / (epoch + 1) ** power_t


@contextlib.contextmanager
def _seeded_torch(seed, device):
    """Seed torch for one fit without touching the caller's global random state."""
    cuda_devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(seed)
        yield


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
                    batch_size = self._train_on_device(X, y, resume=resume, incremental=incremental, seed=seed)
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
        (:mod:`skbatch.fused`) prepares each stacked model through here too,
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
        batch_size, slice_size = self._resolve_batch_size(X_train, y_train, resume=resume, seed=seed)
        schedule = self._batch_size_schedule(batch_size, len(X_train), slice_size)
        if not resume:
            self.lr_ = scaled_lr(self.lr, batch_size, self.lr_scaling, self.base_batch_size)

        # Continue the random stream where the last call left it, so partial_fit
        # epochs do not replay the same dropout masks.
        epochs_done = len(self.net_.history) if resume else 0
        with _seeded_torch(seed + epochs_done, self.device_):
            if not resume:
                self.net_ = self._make_net(self.n_features_in_, self._n_module_outputs(), seed, schedule=schedule)
            elif schedule is not None:
                self._update_schedule(schedule)
            self._set_data_settings(batch_size, valid)
            self._train(
                self._to_device(X_train),
                self._to_device(y_train),
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
        for name in [*net._modules, *net._criteria]:
            getattr(net, name + "_").to(device)
        for name in net._optimizers:
            optimizer = getattr(net, name + "_")
            # load_state_dict casts the state to the device of each param.
            optimizer.load_state_dict(optimizer.state_dict())
        # A plain attribute: skorch's set_params would re-initialize the module.
        net.device = str(device)

    def _resolve_batch_size(self, X, y, *, resume, seed):
        """Return ``(batch_size, slice_size)``: slice_size is the limit 'max' found, else None."""
        if self.batch_size != "max":
            self.max_batch_search_ = None
            return resolve_batch_size(self.batch_size, len(X)), None
        if not (resume and getattr(self, "max_batch_search_", None) is not None):
            # The probes draw their own initial weights; forking keeps the
            # fit's random stream the same as with an int batch size.
            with _seeded_torch(seed, self.device_):
                self.max_batch_search_ = _search_estimator(
                    self, X, y, self._n_module_outputs(), self.device_, start=DEFAULT_START, rtol=DEFAULT_RTOL
                )
        slice_size = min(self.max_batch_search_.batch_size, len(X))
        return min(len(X), slice_size * self.accumulation_steps), slice_size

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
            callbacks=self._callbacks() + ([("batch_size_schedule", schedule)] if schedule else []),
            device=str(self.device_),
            verbose=self.verbose,
            **self._optimizer_params(),
            **self._logging_params(),
            **scheduled,
        ).initialize()

    def _optimizer_params(self):
        params = {}
        if self.alpha > 0:
            # The L2 penalty applies to weights only, as in scikit-learn's MLP.
            # A second param group costs a second optimizer pass per step, so
            # it exists only when there is a penalty to leave out.
            params["optimizer__weight_decay"] = self.alpha
            params["optimizer__param_groups"] = [("*bias", {"weight_decay": 0.0})]
        else:
            # alpha=0 means no penalty; AdamW's own default would be 0.01.
            params["optimizer__weight_decay"] = 0.0
        if self.solver == "sgd":
            params["optimizer__momentum"] = self.momentum
            params["optimizer__nesterov"] = self.nesterovs_momentum and self.momentum > 0
        else:
            params["optimizer__betas"] = (self.beta_1, self.beta_2)
            params["optimizer__eps"] = self.epsilon
        return params

    def _logging_params(self):
        # skorch's PrintLog formats a table every epoch even when silent.
        return {} if self.verbose else {"callbacks__print_log": None}

    def _callbacks(self):
        # Scoring callbacks come first: the stopping rule reads their score
        # from the same epoch.
        callbacks = [("thread_share", ThreadShareRebalance())]
        if self.early_stopping:
            callbacks += self._scoring_callbacks()
        # Before the stopping rule, which would read a NaN loss as a plateau.
        callbacks.append(("nonfinite_loss", StopOnNonFiniteLoss(type(self).__name__)))
        callbacks.append(
            (
                "stopping",
                _StopOnPlateau(
                    monitor=self._validation_score if self.early_stopping else "train_loss",
                    lower_is_better=not self.early_stopping,
                    patience=self.n_iter_no_change,
                    threshold=self.tol,
                    threshold_mode="abs",
                    load_best=self.early_stopping,
                    sink=print if self.verbose else _silent,
                ),
            )
        )
        if self.learning_rate == "invscaling":
            factor = functools.partial(_invscaling_factor, power_t=self.power_t)
            callbacks.append(("lr_schedule", LRScheduler(policy="LambdaLR", lr_lambda=factor)))
        elif self.learning_rate == "adaptive":
            # scikit-learn's rule: divide by 5 after two epochs without a gain of tol.
            callbacks.append(
                (
                    "lr_schedule",
                    LRScheduler(
                        policy="ReduceLROnPlateau",
                        monitor="train_loss",
                        factor=0.2,
                        patience=1,
                        threshold=self.tol,
                        threshold_mode="abs",
                    ),
                )
            )
        return callbacks

    def _train(self, X, y, *, epochs):
        # skorch's partial_fit, minus its catch of KeyboardInterrupt.
        net = self.net_
        net.notify("on_train_begin", X=X, y=y)
        try:
            net.fit_loop(X, y, epochs=epochs)
        except _ConvergenceReached:
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


class BaseTorchClassifier(ClassifierMixin, BaseTorchEstimator):
    """Base for classifiers whose network is a torch module trained by skorch.

    Encodes the labels as class indices, trains with
    ``torch.nn.CrossEntropyLoss`` and predicts through the softmax.
    Subclasses implement ``_build_module(n_features_in, n_classes)`` and
    may extend ``_check_params``; the training itself lives in
    :class:`BaseTorchEstimator`. Training params are documented on
    :class:`TorchClassifier`.
    """

    _net_class = LeanNeuralNetClassifier
    _criterion = torch.nn.CrossEntropyLoss
    # skorch's NeuralNetClassifier records the held-out accuracy itself.
    _validation_score = "valid_acc"
    _stratify_validation = True

    def fit(self, X, y):
        """Train the network on ``X`` and ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data: numpy arrays of any numeric dtype, pandas
            DataFrames or nested lists. Converted to float32. Estimators
            that take images also accept arrays of 3 or 4 dimensions.
        y : array-like of shape (n_samples,)
            Class labels of any type numpy can sort.

        Returns
        -------
        self : object
            The fitted estimator.

        Raises
        ------
        NonFiniteLossError
            If the training loss becomes NaN or infinite; names ``lr`` and
            the batch size.
        DeviceOutOfMemoryError
            If the device runs out of memory; names the batch size and the
            largest that trained with the same settings, when known.
        """
        if self.cache_dir is not None and not (self.warm_start and hasattr(self, "net_")):
            return fit_cached(self, X, y)
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X, y, classes=None):
        """Train for one epoch on ``X`` and ``y``, continuing from the current weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Class labels.
        classes : array-like of shape (n_classes,), default=None
            All the classes that may ever appear. Required on the first call,
            ignored (if equal) on later ones.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit(X, y, incremental=True, classes=classes)

    def predict_proba(self, X):
        """Probability of each class for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``.
        """
        check_is_fitted(self)
        proba = self._forward(self._validate_X(X)).astype(np.float64)
        # The softmax ran in float32, whose rows miss a sum of 1 by more than
        # scikit-learn's metrics (log_loss) accept for float64.
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X):
        """Most probable class for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def _n_module_outputs(self):
        return len(self.classes_)

    def _encode_targets(self, y, *, classes, resume, incremental):
        check_classification_targets(y)
        if not resume:
            if incremental and classes is None:
                raise ValueError(
                    "classes must be passed on the first call to partial_fit, "
                    "e.g. partial_fit(X, y, classes=np.unique(y_all))."
                )
            self.classes_ = np.unique(y if classes is None else classes)
            if len(self.classes_) < 2:
                raise ValueError(
                    "Classifier can't train when only one class is present: "
                    f"y holds the single class {self.classes_.tolist()[0]!r}. "
                    "Pass data with at least two classes."
                )
        elif incremental and classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(
                f"classes={np.unique(classes).tolist()} is not the same as on the first "
                f"call to partial_fit, which was {self.classes_.tolist()}."
            )
        elif not incremental and not np.array_equal(np.unique(y), self.classes_):
            raise ValueError(
                "warm_start can only be used where y has the same classes as in "
                f"the previous call to fit: previously {self.classes_.tolist()}, now "
                f"{np.unique(y).tolist()}. Set warm_start=False to train from scratch."
            )
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(
                f"y contains labels {unknown.tolist()} that are not in classes_ "
                f"{self.classes_.tolist()}. Pass every class to the first partial_fit call."
            )
        return np.searchsorted(self.classes_, y)


class BaseTorchRegressor(RegressorMixin, BaseTorchEstimator):
    """Base for regressors whose network is a torch module trained by skorch.

    Trains on float32 targets of shape ``(n_samples, n_outputs)`` with
    ``torch.nn.MSELoss`` and predicts the module's raw output, following
    scikit-learn's conventions: ``score`` is R², a 1-D ``y`` gives 1-D
    predictions, and early stopping watches the held-out R². Subclasses
    implement ``_build_module(n_features_in, n_outputs)``. Training params
    are documented on :class:`TorchRegressor`.
    """

    _net_class = LeanNeuralNetRegressor
    _criterion = torch.nn.MSELoss
    _validation_score = "valid_r2"
    _target_checks = {"multi_output": True, "y_numeric": True}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X, y):
        """Train the network on ``X`` and ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data: numpy arrays of any numeric dtype, pandas
            DataFrames or nested lists. Converted to float32. Estimators
            that take images also accept arrays of 3 or 4 dimensions.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values. Converted to float32.

        Returns
        -------
        self : object
            The fitted estimator.

        Raises
        ------
        NonFiniteLossError
            If the training loss becomes NaN or infinite; names ``lr`` and
            the batch size.
        DeviceOutOfMemoryError
            If the device runs out of memory; names the batch size and the
            largest that trained with the same settings, when known.
        """
        if self.cache_dir is not None and not (self.warm_start and hasattr(self, "net_")):
            return fit_cached(self, X, y)
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X, y):
        """Train for one epoch on ``X`` and ``y``, continuing from the current weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values, with as many outputs as on the first call.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit(X, y, incremental=True)

    def predict(self, X):
        """Predicted target values for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            1-D where the network has one output, as in scikit-learn.
        """
        check_is_fitted(self)
        y_pred = self._forward(self._validate_X(X)).astype(np.float64)
        return y_pred.ravel() if y_pred.shape[1] == 1 else y_pred

    def _n_module_outputs(self):
        return self.n_outputs_

    def _encode_targets(self, y, *, classes, resume, incremental):
        y = np.asarray(y, dtype=np.float32)
        y = y.reshape(len(y), -1)
        if not resume:
            self.n_outputs_ = y.shape[1]
        elif y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {y.shape[1]} output(s), but {type(self).__name__} was fitted "
                f"with {self.n_outputs_}. Pass y with {self.n_outputs_} column(s), or "
                "set warm_start=False to train from scratch."
            )
        return y

    def _scoring_callbacks(self):
        # skorch's NeuralNetRegressor records no score; R² is scikit-learn's.
        scoring = EpochScoring("r2", lower_is_better=False, on_train=False, name=self._validation_score)
        return [(self._validation_score, scoring)]


def _silent(*args, **kwargs):
    pass


# -- the module contract of TorchClassifier and TorchRegressor --------------------

_INPUT_ARGS = ("n_features_in", "input_shape")


def _check_user_module(estimator, *, output_arg):
    owner = type(estimator).__name__
    if not issubclass(estimator.module, torch.nn.Module):
        raise InvalidParameterError(
            f"The 'module' parameter of {owner} must be a subclass of "
            f"torch.nn.Module (the class, not an instance). Got {estimator.module!r} instead."
        )
    filled = sorted(set(estimator.module_kwargs or {}) & {*_INPUT_ARGS, output_arg})
    if filled:
        raise InvalidParameterError(
            f"The 'module_kwargs' parameter of {owner} must not set {filled}: fit fills "
            f"in {', '.join(_INPUT_ARGS)} and {output_arg} from the data. Remove "
            f"{filled} from module_kwargs."
        )


def _build_user_module(estimator, n_features_in, **outputs):
    """Build ``estimator.module`` with the arguments its contract promises."""
    input_shape = estimator._module_input_shape(n_features_in)
    if len(input_shape) == 1:
        inputs = {"n_features_in": n_features_in}
    else:
        inputs = {"input_shape": input_shape}
    kwargs = {**inputs, **outputs, **(estimator.module_kwargs or {})}
    try:
        return estimator.module(**kwargs)
    except TypeError as error:
        filled = ", ".join(f"{name}={value!r}" for name, value in {**inputs, **outputs}.items())
        raise TypeError(
            f"{type(estimator).__name__} could not build {estimator.module.__name__}({filled}, "
            f"**module_kwargs): {error}. Samples that are vectors (2-D X, image_shape=None) "
            "fill in n_features_in; samples with more dimensions (X of 3+ dimensions, or "
            "image_shape set) fill in input_shape instead."
        ) from error


class TorchClassifier(ShapedInputMixin, BaseTorchClassifier):
    """Classifier around any ``torch.nn.Module`` class, trained by skorch.

    The module gets the same treatment as the built-in networks: it is
    built in ``fit``, with its input size and number of classes taken from
    the data, trained on slices of tensors held on the device, and searched
    like any scikit-learn estimator.

    **The module contract.** ``fit`` builds the module with keyword arguments:

    - ``n_features_in`` (int), when each sample is a vector: ``X`` is 2-D
      and ``image_shape`` is None. ``forward`` gets batches of shape
      ``(batch, n_features_in)``;
    - ``input_shape`` (tuple of int) instead, when each sample has more
      dimensions: ``X`` of 3 or more dimensions, or rows reshaped by
      ``image_shape``. ``forward`` gets batches of shape
      ``(batch, *input_shape)``, e.g. ``(batch, 1, 8, 8)`` for digits with
      ``image_shape=(1, 8, 8)``;
    - ``n_classes`` (int), the number of classes in ``y``;
    - everything in ``module_kwargs``.

    So it is ``module(n_features_in=..., n_classes=..., **module_kwargs)``
    for tabular data. ``forward`` takes float32 batches and returns
    unnormalised scores (logits) of shape ``(batch, n_classes)``; the loss
    is ``torch.nn.CrossEntropyLoss``.

    Parameters
    ----------
    module : type of torch.nn.Module
        The network class, not an instance.
    module_kwargs : dict, default=None
        Further constructor arguments for ``module``; they must not repeat
        the arguments ``fit`` fills in.
    image_shape : tuple of int, default=None
        Shape to reshape each row of a 2-D ``X`` to before it reaches the
        module, e.g. ``(1, 8, 8)`` for digits as one-channel images. The
        module then gets ``input_shape`` instead of ``n_features_in``. Leave
        None for tabular data or for ``X`` that already has 3 or more
        dimensions.
    batch_size : int, 'auto', 'full' or 'max', default='auto'
        Samples per gradient step. ``'auto'`` is ``min(200, n_samples)`` as
        in scikit-learn; ``-1`` or ``'full'`` is full-batch gradient descent;
        a batch size above the number of training samples is clamped to it.
        ``'max'`` is the
        largest batch whose training step fits device memory, found in each
        ``fit`` by :func:`find_max_batch_size` (usually every sample on the
        CPU). The size really used is ``batch_size_``.
    drop_last : bool, default=False
        Skip the last, smaller batch of each epoch. 1050 samples at batch
        size 100 make 11 updates per epoch, or 10 with ``drop_last=True``.
    accumulation_steps : int, default=1
        Compute each batch in this many slices and add up their gradients
        before one update: the update of ``batch_size`` samples in the memory
        of ``batch_size / accumulation_steps``. With ``batch_size='max'`` the
        slice is the largest that fits, and the batch that many times larger.
    lr_scaling : {'linear', 'sqrt'} or None, default=None
        Make the learning rate follow the batch size, so a search over
        ``batch_size`` compares each size at a fitting rate: ``lr`` is the
        rate at ``base_batch_size``, and training uses
        ``lr * batch_size_ / base_batch_size`` (``'linear'``, Goyal et al.
        2017) or ``lr * sqrt(batch_size_ / base_batch_size)`` (``'sqrt'``,
        Krizhevsky 2014). None uses ``lr`` as given. The rate used is ``lr_``.
    base_batch_size : int, default=200
        Batch size at which ``lr`` holds under ``lr_scaling``; 200 is what
        ``batch_size='auto'`` gives on 200 samples or more.
    batch_size_milestones : int, sequence of int or None, default=None
        Grow the batch size during training instead of decaying the
        learning rate (Smith et al. 2017): multiply it by
        ``batch_size_growth`` every that many epochs (an int, e.g. 10), or
        after each listed epoch (strictly increasing, e.g. ``(10, 20)``),
        up to the number of samples. The learning rate stays at ``lr_``. With
        ``batch_size='max'`` the grown batches are accumulated over slices
        that fit. None keeps the batch size constant.
    batch_size_growth : float, default=2.0
        Factor, above 1, applied at each of ``batch_size_milestones``.
    max_epochs : int, default=200
        Most passes over the training data per ``fit``.
    lr : float, default=1e-3
        Initial learning rate.
    solver : {'adam', 'adamw', 'sgd'}, default='adam'
        Optimizer.
    momentum : float, default=0.9
        Momentum for ``'sgd'``.
    nesterovs_momentum : bool, default=True
        Nesterov momentum for ``'sgd'`` (when ``momentum > 0``).
    beta_1, beta_2 : float, default=0.9, 0.999
        Moment decay rates for ``'adam'`` and ``'adamw'``.
    epsilon : float, default=1e-8
        Numerical stability term for ``'adam'`` and ``'adamw'``.
    alpha : float, default=1e-4
        L2 penalty on the weights (not the biases), as the optimizer's weight
        decay; decoupled for ``'adamw'``.
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Schedule, for every solver: ``'invscaling'`` uses
        ``lr / epoch ** power_t``; ``'adaptive'`` divides the rate by 5 each
        time two epochs in a row fail to lower the training loss by ``tol``.
    power_t : float, default=0.5
        Exponent of ``'invscaling'``.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified)
        and stop when its accuracy has not improved by ``tol`` for
        ``n_iter_no_change`` epochs, restoring the best weights. Otherwise
        stop when the training loss has not improved by ``tol`` for
        ``n_iter_no_change`` epochs. ``partial_fit`` never stops early.
    validation_fraction : float, default=0.1
        Share held out with ``early_stopping``.
    n_iter_no_change : int, default=10
        Epochs without improvement before stopping.
    tol : float, default=1e-4
        Smallest change that counts as an improvement.
    shuffle : bool, default=True
        Draw a new sample order every epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout, shuffling and the validation
        split. An int gives identical predictions on every fit.
    warm_start : bool, default=False
        Continue from the weights and optimizer state of the last ``fit``.
    device : str, torch.device or DevicePool, default='auto'
        ``'auto'`` holds a free slot of ``DevicePool('auto')``, one per
        visible GPU, for the duration of each fit, so that the fits of a
        parallel search spread over the GPUs; without a GPU it is the CPU.
        A :class:`DevicePool` names the devices and the fits per device.
        ``'cpu'``, ``'cuda'`` or ``'cuda:N'`` pin the device and take no
        slot. Resolved in ``fit``, in the process that trains. A fit that
        held a slot moves the network to the CPU when it hands the slot
        back, so ``predict`` runs there.
    verbose : int, default=0
        Print a line per epoch when positive.
    cache_dir : str, path-like or None, default=None
        Folder where each finished ``fit`` is kept, keyed on the params
        (all but ``cache_dir`` and ``verbose``) and a fingerprint of the
        training data. A later ``fit`` with the same params and data
        restores it instead of training, so a search that was interrupted
        and runs again with the same folder trains only the fits it had not
        finished. Each fit also leaves a record (device, fit time, epochs,
        batch size, and the error if it failed) that
        :func:`skbatch.search_report` reads. A param, not a global setting,
        because a search's worker processes see only the estimator. None
        caches nothing. See :mod:`skbatch.cache`.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted.
    n_features_in_ : int
        Number of features seen in ``fit`` (``X.shape[1]``).
    input_shape_ : tuple of int
        Shape of one sample as the module receives it.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when ``X`` was a DataFrame with string column names.
    net_ : skorch.NeuralNetClassifier
        The trained skorch net; ``net_.module_`` is the torch module.
    device_ : torch.device
        Device the network trained on in the last call to ``fit`` or
        ``partial_fit``.
    device_uuid_ : str or None
        That GPU's UUID (``'GPU-...'``, as ``nvidia-smi -L`` prints it),
        the same whatever index a process sees it under; None on the CPU.
    device_slot_ : str or None
        The :class:`DevicePool` slot the last call held,
        ``'<uuid or cpu>#<k>'``; None where it held none.
    fit_time_ : float
        Seconds the last call trained, from the moment it held its device
        (waiting for a slot not included).
    peak_memory_ : int or None
        Most device memory, in bytes, that torch allocated during the last
        call; None on the CPU, where torch keeps no such count.
    batch_size_ : int
        Batch size used in the last call to ``fit`` or ``partial_fit``.
    n_updates_per_epoch_ : int
        Optimizer steps in the last epoch.
    n_iter_ : int
        Epochs trained, over all calls since the weights were initialised.
    loss_ : float
        Training loss of the last epoch.
    loss_curve_ : list of float
        Training loss of every epoch.
    validation_scores_ : list of float or None
        Held-out accuracy per epoch with ``early_stopping``, else None.
    best_validation_score_ : float or None
        Best of ``validation_scores_``.
    batch_size_curve_ : list of int
        Batch size of every epoch; it changes with ``batch_size_milestones``.
    lr_ : float
        Learning rate the optimizer started from, after ``lr_scaling``.
    max_batch_search_ : MaxBatchSearch or None
        With ``batch_size='max'``: the largest slice that fitted
        (``batch_size``) and the probes run to find it. Else None.

    See Also
    --------
    MLPClassifier : The same estimator with a built-in multilayer perceptron.
    ConvNetClassifier : The same estimator with a built-in convolutional network.
    TorchRegressor : The same contract for regression targets.

    Examples
    --------
    >>> from torch import nn
    >>> from sklearn.datasets import load_iris
    >>> from skbatch import TorchClassifier
    >>> class Net(nn.Module):
    ...     def __init__(self, n_features_in, n_classes, hidden=16):
    ...         super().__init__()
    ...         self.layers = nn.Sequential(
    ...             nn.Linear(n_features_in, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))
    ...     def forward(self, X):
    ...         return self.layers(X)
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = TorchClassifier(module=Net, module_kwargs={"hidden": 32}, max_epochs=5,
    ...                       random_state=0, device="cpu").fit(X, y)
    >>> clf.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints: dict = {
        **BaseTorchClassifier._parameter_constraints,
        "module": [type],
        "module_kwargs": [dict, None],
        "image_shape": IMAGE_SHAPE_CONSTRAINT,
    }

    def __init__(
        self,
        *,
        module=None,
        module_kwargs=None,
        image_shape=None,
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
        super().__init__(
            batch_size=batch_size,
            drop_last=drop_last,
            accumulation_steps=accumulation_steps,
            lr_scaling=lr_scaling,
            base_batch_size=base_batch_size,
            batch_size_milestones=batch_size_milestones,
            batch_size_growth=batch_size_growth,
            max_epochs=max_epochs,
            lr=lr,
            solver=solver,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            alpha=alpha,
            learning_rate=learning_rate,
            power_t=power_t,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            shuffle=shuffle,
            random_state=random_state,
            warm_start=warm_start,
            device=device,
            verbose=verbose,
            cache_dir=cache_dir,
        )
        self.module = module
        self.module_kwargs = module_kwargs
        self.image_shape = image_shape

    def _check_params(self):
        _check_user_module(self, output_arg="n_classes")

    def _build_module(self, n_features_in, n_classes):
        return _build_user_module(self, n_features_in, n_classes=n_classes)


class TorchRegressor(ShapedInputMixin, BaseTorchRegressor):
    """Regressor around any ``torch.nn.Module`` class, trained by skorch.

    The module gets the same treatment as the built-in networks: it is
    built in ``fit``, with its input size and number of outputs taken from
    the data, trained on slices of tensors held on the device, and searched
    like any scikit-learn estimator.

    **The module contract.** ``fit`` builds the module with keyword arguments:

    - ``n_features_in`` (int), when each sample is a vector: ``X`` is 2-D
      and ``image_shape`` is None. ``forward`` gets batches of shape
      ``(batch, n_features_in)``;
    - ``input_shape`` (tuple of int) instead, when each sample has more
      dimensions: ``X`` of 3 or more dimensions, or rows reshaped by
      ``image_shape``. ``forward`` gets batches of shape
      ``(batch, *input_shape)``, e.g. ``(batch, 1, 8, 8)`` for digits with
      ``image_shape=(1, 8, 8)``;
    - ``n_outputs`` (int), the number of targets: 1 for a 1-D ``y``, else
      ``y.shape[1]``;
    - everything in ``module_kwargs``.

    So it is ``module(n_features_in=..., n_outputs=..., **module_kwargs)``
    for tabular data. ``forward`` takes float32 batches and returns
    predictions of shape ``(batch, n_outputs)``; the loss is
    ``torch.nn.MSELoss``.

    Parameters
    ----------
    module : type of torch.nn.Module
        The network class, not an instance.
    module_kwargs : dict, default=None
        Further constructor arguments for ``module``; they must not repeat
        the arguments ``fit`` fills in.
    image_shape : tuple of int, default=None
        Shape to reshape each row of a 2-D ``X`` to before it reaches the
        module, e.g. ``(1, 8, 8)`` for digits as one-channel images. The
        module then gets ``input_shape`` instead of ``n_features_in``. Leave
        None for tabular data or for ``X`` that already has 3 or more
        dimensions.
    batch_size : int, 'auto', 'full' or 'max', default='auto'
        Samples per gradient step. ``'auto'`` is ``min(200, n_samples)`` as
        in scikit-learn; ``-1`` or ``'full'`` is full-batch gradient descent;
        a batch size above the number of training samples is clamped to it.
        ``'max'`` is the
        largest batch whose training step fits device memory, found in each
        ``fit`` by :func:`find_max_batch_size` (usually every sample on the
        CPU). The size really used is ``batch_size_``.
    drop_last : bool, default=False
        Skip the last, smaller batch of each epoch. 1050 samples at batch
        size 100 make 11 updates per epoch, or 10 with ``drop_last=True``.
    accumulation_steps : int, default=1
        Compute each batch in this many slices and add up their gradients
        before one update: the update of ``batch_size`` samples in the memory
        of ``batch_size / accumulation_steps``. With ``batch_size='max'`` the
        slice is the largest that fits, and the batch that many times larger.
    lr_scaling : {'linear', 'sqrt'} or None, default=None
        Make the learning rate follow the batch size, so a search over
        ``batch_size`` compares each size at a fitting rate: ``lr`` is the
        rate at ``base_batch_size``, and training uses
        ``lr * batch_size_ / base_batch_size`` (``'linear'``, Goyal et al.
        2017) or ``lr * sqrt(batch_size_ / base_batch_size)`` (``'sqrt'``,
        Krizhevsky 2014). None uses ``lr`` as given. The rate used is ``lr_``.
    base_batch_size : int, default=200
        Batch size at which ``lr`` holds under ``lr_scaling``; 200 is what
        ``batch_size='auto'`` gives on 200 samples or more.
    batch_size_milestones : int, sequence of int or None, default=None
        Grow the batch size during training instead of decaying the
        learning rate (Smith et al. 2017): multiply it by
        ``batch_size_growth`` every that many epochs (an int, e.g. 10), or
        after each listed epoch (strictly increasing, e.g. ``(10, 20)``),
        up to the number of samples. The learning rate stays at ``lr_``. With
        ``batch_size='max'`` the grown batches are accumulated over slices
        that fit. None keeps the batch size constant.
    batch_size_growth : float, default=2.0
        Factor, above 1, applied at each of ``batch_size_milestones``.
    max_epochs : int, default=200
        Most passes over the training data per ``fit``.
    lr : float, default=1e-3
        Initial learning rate.
    solver : {'adam', 'adamw', 'sgd'}, default='adam'
        Optimizer.
    momentum : float, default=0.9
        Momentum for ``'sgd'``.
    nesterovs_momentum : bool, default=True
        Nesterov momentum for ``'sgd'`` (when ``momentum > 0``).
    beta_1, beta_2 : float, default=0.9, 0.999
        Moment decay rates for ``'adam'`` and ``'adamw'``.
    epsilon : float, default=1e-8
        Numerical stability term for ``'adam'`` and ``'adamw'``.
    alpha : float, default=1e-4
        L2 penalty on the weights (not the biases), as the optimizer's weight
        decay; decoupled for ``'adamw'``.
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Schedule, for every solver: ``'invscaling'`` uses
        ``lr / epoch ** power_t``; ``'adaptive'`` divides the rate by 5 each
        time two epochs in a row fail to lower the training loss by ``tol``.
    power_t : float, default=0.5
        Exponent of ``'invscaling'``.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data and stop
        when its R² has not improved by ``tol`` for
        ``n_iter_no_change`` epochs, restoring the best weights. Otherwise
        stop when the training loss has not improved by ``tol`` for
        ``n_iter_no_change`` epochs. ``partial_fit`` never stops early.
    validation_fraction : float, default=0.1
        Share held out with ``early_stopping``.
    n_iter_no_change : int, default=10
        Epochs without improvement before stopping.
    tol : float, default=1e-4
        Smallest change that counts as an improvement.
    shuffle : bool, default=True
        Draw a new sample order every epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout, shuffling and the validation
        split. An int gives identical predictions on every fit.
    warm_start : bool, default=False
        Continue from the weights and optimizer state of the last ``fit``.
    device : str, torch.device or DevicePool, default='auto'
        ``'auto'`` holds a free slot of ``DevicePool('auto')``, one per
        visible GPU, for the duration of each fit, so that the fits of a
        parallel search spread over the GPUs; without a GPU it is the CPU.
        A :class:`DevicePool` names the devices and the fits per device.
        ``'cpu'``, ``'cuda'`` or ``'cuda:N'`` pin the device and take no
        slot. Resolved in ``fit``, in the process that trains. A fit that
        held a slot moves the network to the CPU when it hands the slot
        back, so ``predict`` runs there.
    verbose : int, default=0
        Print a line per epoch when positive.
    cache_dir : str, path-like or None, default=None
        Folder where each finished ``fit`` is kept, keyed on the params
        (all but ``cache_dir`` and ``verbose``) and a fingerprint of the
        training data. A later ``fit`` with the same params and data
        restores it instead of training, so a search that was interrupted
        and runs again with the same folder trains only the fits it had not
        finished. Each fit also leaves a record (device, fit time, epochs,
        batch size, and the error if it failed) that
        :func:`skbatch.search_report` reads. A param, not a global setting,
        because a search's worker processes see only the estimator. None
        caches nothing. See :mod:`skbatch.cache`.

    Attributes
    ----------
    n_outputs_ : int
        Number of targets: 1 for a 1-D ``y``, else ``y.shape[1]``.
    n_features_in_ : int
        Number of features seen in ``fit`` (``X.shape[1]``).
    input_shape_ : tuple of int
        Shape of one sample as the module receives it.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when ``X`` was a DataFrame with string column names.
    net_ : skorch.NeuralNetRegressor
        The trained skorch net; ``net_.module_`` is the torch module.
    device_ : torch.device
        Device the network trained on in the last call to ``fit`` or
        ``partial_fit``.
    device_uuid_ : str or None
        That GPU's UUID (``'GPU-...'``, as ``nvidia-smi -L`` prints it),
        the same whatever index a process sees it under; None on the CPU.
    device_slot_ : str or None
        The :class:`DevicePool` slot the last call held,
        ``'<uuid or cpu>#<k>'``; None where it held none.
    fit_time_ : float
        Seconds the last call trained, from the moment it held its device
        (waiting for a slot not included).
    peak_memory_ : int or None
        Most device memory, in bytes, that torch allocated during the last
        call; None on the CPU, where torch keeps no such count.
    batch_size_ : int
        Batch size used in the last call to ``fit`` or ``partial_fit``.
    n_updates_per_epoch_ : int
        Optimizer steps in the last epoch.
    n_iter_ : int
        Epochs trained, over all calls since the weights were initialised.
    loss_ : float
        Training loss (mean squared error) of the last epoch.
    loss_curve_ : list of float
        Training loss of every epoch.
    validation_scores_ : list of float or None
        Held-out R² per epoch with ``early_stopping``, else None.
    best_validation_score_ : float or None
        Best of ``validation_scores_``.
    batch_size_curve_ : list of int
        Batch size of every epoch; it changes with ``batch_size_milestones``.
    lr_ : float
        Learning rate the optimizer started from, after ``lr_scaling``.
    max_batch_search_ : MaxBatchSearch or None
        With ``batch_size='max'``: the largest slice that fitted
        (``batch_size``) and the probes run to find it. Else None.

    See Also
    --------
    MLPRegressor : The same estimator with a built-in multilayer perceptron.
    TorchClassifier : The same contract for class labels.

    Examples
    --------
    >>> from torch import nn
    >>> from sklearn.datasets import load_diabetes
    >>> from skbatch import TorchRegressor
    >>> class Net(nn.Module):
    ...     def __init__(self, n_features_in, n_outputs, hidden=16):
    ...         super().__init__()
    ...         self.layers = nn.Sequential(
    ...             nn.Linear(n_features_in, hidden), nn.ReLU(), nn.Linear(hidden, n_outputs))
    ...     def forward(self, X):
    ...         return self.layers(X)
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = TorchRegressor(module=Net, module_kwargs={"hidden": 32}, max_epochs=5,
    ...                      random_state=0, device="cpu").fit(X, y / 100)
    >>> reg.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints: dict = {
        **BaseTorchRegressor._parameter_constraints,
        "module": [type],
        "module_kwargs": [dict, None],
        "image_shape": IMAGE_SHAPE_CONSTRAINT,
    }

    def __init__(
        self,
        *,
        module=None,
        module_kwargs=None,
        image_shape=None,
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
        super().__init__(
            batch_size=batch_size,
            drop_last=drop_last,
            accumulation_steps=accumulation_steps,
            lr_scaling=lr_scaling,
            base_batch_size=base_batch_size,
            batch_size_milestones=batch_size_milestones,
            batch_size_growth=batch_size_growth,
            max_epochs=max_epochs,
            lr=lr,
            solver=solver,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            alpha=alpha,
            learning_rate=learning_rate,
            power_t=power_t,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            shuffle=shuffle,
            random_state=random_state,
            warm_start=warm_start,
            device=device,
            verbose=verbose,
            cache_dir=cache_dir,
        )
        self.module = module
        self.module_kwargs = module_kwargs
        self.image_shape = image_shape

    def _check_params(self):
        _check_user_module(self, output_arg="n_outputs")

    def _build_module(self, n_features_in, n_outputs):
        return _build_user_module(self, n_features_in, n_outputs=n_outputs)
