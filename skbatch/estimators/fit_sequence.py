"""The steps of one fit, in order: the one sequence both training engines follow.

An ordinary ``fit`` runs them around skorch's training loop; fused training
(:mod:`skbatch.fused.train`) runs the same steps for every model of a stack
around the stack's loop. So a model trained in a stack starts and ends
exactly as its own ``fit`` would, and a fix to a step reaches both.

The steps, as methods of :class:`FitSequence` (a mixin of
:class:`~skbatch.estimators.base.BaseTorchEstimator`):

1. :meth:`~FitSequence._start_fit`: params and data checked, what the data
   decides learned (``n_features_in_``, ``classes_``...), the seed drawn;
   returns a :class:`FitStart`.
2. :meth:`~FitSequence._take_placement`: the device the fit trains on.
3. :meth:`~FitSequence._hold_out_validation`: ``early_stopping``'s rows.
4. :meth:`~FitSequence._init_network`: the network built from the seed (or
   a warm start's moved to the device), its batch plan and ``lr_``.
5. :meth:`~FitSequence._begin_training`, the epochs, then
   :meth:`~FitSequence._end_training`: the callbacks' start and end, which
   hold the stopping rule, the schedules and the best weights.
6. :meth:`~FitSequence._finish_fit`: the fitted attributes (``n_iter_``,
   ``loss_curve_``, ``fit_time_``...) and the training state let go.
"""

import contextlib
import time
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data
from skorch.dataset import Dataset

from .._compat import check_sample_weight
from ..batching.plan import epoch_batch_size
from ..cache.fitted_sizes import recorded_batch_sizes
from ..devices.memory import release_device_memory, track_peak_memory
from ..devices.pool import cpu_thread_share, place_fit
from ..training.callbacks import ConvergenceReached, warn_not_converged
from ..training.faults import explain_training_error, remember_fitted_batch_size
from ..training.lbfgs import fit_lbfgs, record_lbfgs
from ..training.net import move_net
from ..training.seeding import (
    draws_from_global_rng,
    fit_randomness,
    forward_draws_from_global_rng,
    seeded_torch,
)
from ..training.sparse import n_rows
from .aliases import check_aliases, resolve_alias

__all__ = ["FitSequence", "FitStart", "HeldOut"]


@dataclass(frozen=True)
class FitStart:
    """What the start of one fit hands the rest of it.

    Attributes
    ----------
    X, y : array-like
        Validated: ``X`` shaped as the module takes it, ``y`` as the loss does.
    sample_weight : ndarray or None
    resume : bool
        Whether the fit continues the network it has (``warm_start`` or
        ``partial_fit``) rather than building one.
    incremental : bool
        ``partial_fit``: one epoch, no validation split.
    seed : int
        Drawn from ``random_state``: the network's weights, the shuffling
        and the validation split all follow from it.
    """

    X: object
    y: object
    sample_weight: object
    resume: bool
    incremental: bool
    seed: int


@dataclass(frozen=True)
class HeldOut:
    """The training rows of a fit, and the rows ``early_stopping`` holds out (None when it holds none)."""

    X: object
    y: object
    sample_weight: object
    X_valid: object = None
    y_valid: object = None
    w_valid: object = None

    @property
    def has_validation(self):
        return self.X_valid is not None


class FitSequence:
    """The steps of one ``fit`` or ``partial_fit``, for both training engines (see the module docstring)."""

    def _fit(self, X, y, *, incremental, classes=None, sample_weight=None):
        """One ordinary fit: every step, with skorch's loop (or lbfgs) for the epochs."""
        start = self._start_fit(X, y, incremental=incremental, classes=classes, sample_weight=sample_weight)
        # The slot is held from the first tensor on the device to the last one
        # released, so the next fit on that device starts from a clean card.
        with place_fit(self.device) as placement, cpu_thread_share():
            self._take_placement(placement)
            try:
                with track_peak_memory(self.device_) as peak:
                    began = time.perf_counter()
                    self._train_on_device(start)
                    fit_time = time.perf_counter() - began
                # The slot goes back to the pool: the network must leave its device.
                self._finish_fit(fit_time=fit_time, peak_memory=peak.bytes, to_cpu=placement.slot is not None)
            finally:
                # The CPU has no cache to hand back, and a full garbage
                # collection costs more than a small fit.
                if self.device_.type != "cpu":
                    release_device_memory(self.device_)
        return self

    # -- 1. the start ---------------------------------------------------------------

    def _start_fit(self, X, y, *, incremental, classes=None, sample_weight=None):
        """Check params and data for one fit; learn what the data decides; return a :class:`FitStart`."""
        X, y, resume, seed = self._prepare_data(X, y, incremental=incremental, classes=classes)
        if sample_weight is not None:
            sample_weight = check_sample_weight(sample_weight, X, dtype=np.float32, ensure_non_negative=True)
        return FitStart(X, y, sample_weight, resume=resume, incremental=incremental, seed=seed)

    def _prepare_data(self, X, y, *, incremental, classes=None):
        """Validate params and data for one fit; return ``(X, y, resume, seed)``.

        Sets what is learned from the data alone (``n_features_in_``,
        ``input_shape_``, ``classes_`` or ``n_outputs_``).
        :func:`skbatch.find_max_batch_size` prepares its probes through here too.
        """
        self._validate_params()
        check_aliases(self)
        self._check_params()
        if incremental and self.early_stopping:
            # scikit-learn's message: one epoch holds out no validation split.
            raise ValueError(
                "partial_fit does not support early_stopping=True: each call trains one "
                "epoch on the rows it gets, with no validation split to stop on. Set "
                "early_stopping=False to use partial_fit, or call fit."
            )
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

    # -- 2. the device --------------------------------------------------------------

    def _take_placement(self, placement):
        """Record where this fit trains (a :class:`~skbatch.devices.pool.Placement`)."""
        self.device_ = placement.device
        self.device_uuid_ = placement.uuid
        self.device_slot_ = placement.slot

    # -- 3. the validation split ----------------------------------------------------

    def _hold_out_validation(self, start):
        """Split ``early_stopping``'s validation rows off ``start``'s data: a :class:`HeldOut`."""
        X, y, weights = start.X, start.y, start.sample_weight
        # scikit-learn's lbfgs holds out no validation data either.
        if not self.early_stopping or start.incremental or self.solver == "lbfgs":
            return HeldOut(X, y, weights)
        # The weights are split with the rows, as scikit-learn does.
        arrays = (X, y) if weights is None else (X, y, weights)
        split = train_test_split(
            *arrays,
            test_size=self.validation_fraction,
            stratify=y if self._stratify_validation and y.ndim == 1 else None,
            random_state=start.seed,
        )
        X_train, X_valid, y_train, y_valid = split[:4]
        w_train, w_valid = split[4:] or (None, None)
        if n_rows(X_valid) < 2:
            # One row makes R² NaN and accuracy a coin; scikit-learn refuses too.
            raise ValueError(
                f"The validation set is too small: validation_fraction={self.validation_fraction} "
                f"of {n_rows(X)} samples holds out {n_rows(X_valid)}, and early_stopping needs at "
                "least 2. Increase 'validation_fraction' or the size of your dataset, or set "
                "early_stopping=False."
            )
        return HeldOut(X_train, y_train, w_train, X_valid, y_valid, w_valid)

    # -- 4. the network ---------------------------------------------------------------

    def _init_network(self, start, rows, plan):
        """Build the network from the seed (or move a continued one to the device) and give it ``plan``.

        ``rows`` is the :class:`HeldOut` of this fit; its validation rows
        go to the net as skorch's ``train_split``.
        """
        if start.resume:
            move_net(self.net_, self.device_)
        else:
            # A warm start keeps the rate its optimizer already has.
            self.lr_ = plan.lr
        valid = None
        if rows.has_validation:
            valid = Dataset(self._to_device(rows.X_valid), self._device_targets(rows.y_valid, rows.w_valid))
        # The fit's own generator builds the network (see training/seeding.py);
        # the built-in dropout layers keep their stream across partial_fit
        # calls, and a custom module's global stream is seeded anew for each
        # call, from the epochs done, so no call replays another's masks.
        with fit_randomness(start.seed + self._epochs_done(start), self.device_, global_rng=draws_from_global_rng(self)):
            if not start.resume:
                self.net_ = self._make_net(self.n_features_in_, self._n_module_outputs(), start.seed, scheduled=plan.scheduled)
                self._check_module_output(rows.X)
            else:
                self._check_schedule(plan)
            self._set_data_settings(plan, valid)

    def _epochs_done(self, start):
        return len(self.net_.history) if start.resume else 0

    # -- the ordinary engine: skorch's loop -----------------------------------------

    def _train_on_device(self, start):
        # A method of its own so that the training tensors, its locals, are
        # gone before the device memory is released.
        rows = self._hold_out_validation(start)
        plan = self._plan_batches(rows.X, rows.y, resume=start.resume, seed=start.seed)
        self._init_network(start, rows, plan)
        X_train, y_train = self._to_device(rows.X), self._device_targets(rows.y, rows.sample_weight)
        # A custom forward that draws from torch's global generator trains
        # with it seeded, under the process-wide lock; any other trains freely.
        seeded = draws_from_global_rng(self) and forward_draws_from_global_rng(self.net_.module_, self._probe_rows(X_train), self.device_)
        # A stream of its own, not the one that drew the initial weights.
        forward_seed = int(np.random.SeedSequence([start.seed, self._epochs_done(start)]).generate_state(1)[0])
        with seeded_torch(forward_seed, self.device_) if seeded else contextlib.nullcontext():
            epochs = 1 if start.incremental else resolve_alias(self, "max_epochs")
            self._train(X_train, y_train, epochs=epochs, incremental=start.incremental)

    def _train(self, X, y, *, epochs, incremental=False):
        # skorch's partial_fit, minus its catch of KeyboardInterrupt.
        net = self.net_
        first_epoch = self._begin_training(X, y)
        try:
            if self.solver == "lbfgs":
                net.lbfgs_run = fit_lbfgs(self, X, y, max_iter=epochs)
            else:
                net.fit_loop(X, y, epochs=epochs)
        except ConvergenceReached:
            pass
        except Exception as error:
            explained = explain_training_error(self, error, first_epoch=first_epoch, recorded_sizes=lambda: recorded_batch_sizes(self))
            if explained is None:
                raise
            raise explained from error
        else:
            # lbfgs warns as scikit-learn's does, from scipy's own result.
            if not incremental and self.solver != "lbfgs":
                warn_not_converged(self, epochs)
        self._end_training(X, y, first_epoch=first_epoch)

    # -- 5. the start and end of the epochs -------------------------------------------

    def _begin_training(self, X, y):
        """Start the callbacks (the stopping rule, the schedules) for this call's epochs; return its first epoch."""
        net = self.net_
        if self.solver != "lbfgs" and isinstance(net.optimizer_, torch.optim.LBFGS):
            raise ValueError(
                f"This {type(self).__name__} was fitted with solver='lbfgs', whose network has no "
                f"state for solver={self.solver!r} to continue from. Set warm_start=False to "
                "train from scratch."
            )
        first_epoch = len(net.history)
        # n_iter_ counts the epochs of this call, as scikit-learn's does.
        net.call_first_epoch = first_epoch
        # The stopping rule and lr schedule follow the params as they are now, as scikit-learn's do.
        dict(net.callbacks_)["stopping"].configure(self)
        net.notify("on_train_begin", X=X, y=y)
        return first_epoch

    def _end_training(self, X, y, *, first_epoch):
        """End the callbacks (the best weights of ``early_stopping`` come back); note the sizes that fitted."""
        self.net_.notify("on_train_end", X=X, y=y)
        remember_fitted_batch_size(self, first_epoch=first_epoch)

    # -- 6. the end -----------------------------------------------------------------------

    def _finish_fit(self, *, fit_time, peak_memory, to_cpu):
        """Set the fitted attributes of the training just ended, and let go of what only training needs."""
        self.fit_time_ = fit_time
        self.peak_memory_ = peak_memory
        self._release_training_state(to_cpu=to_cpu)
        self._record_training()

    def _release_training_state(self, *, to_cpu):
        # The held-out split and the best weights kept for early stopping live
        # on the device; the net needs them only while training, and the best
        # weights are already loaded back.
        self.net_.train_split = None
        dict(self.net_.callbacks_)["stopping"].best_model_weights_ = None
        if to_cpu:
            move_net(self.net_, torch.device("cpu"))

    def _record_training(self):
        if self.solver == "lbfgs":
            record_lbfgs(self, self.net_.lbfgs_run)
            return
        history = self.net_.history
        # scikit-learn's meanings: n_iter_ counts the epochs of the last
        # call; loss_curve_ and t_ (samples seen) run since the weights
        # were initialised.
        self.n_iter_ = len(history) - getattr(self.net_, "call_first_epoch", 0)
        self.loss_curve_ = [row["train_loss"] for row in history]
        self.loss_ = self.loss_curve_[-1]
        self.t_ = sum(batch.get("train_batch_size", 0) for row in history for batch in row["batches"])
        self.best_loss_ = None if self.early_stopping else min(self.loss_curve_)
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
