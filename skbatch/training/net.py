"""The skorch net skbatch trains with: skorch's, minus per-batch work that changes nothing.

For a small network most of a training step is Python. skorch sets train mode
on every module at every batch, calls every callback's batch hooks (nearly
all skorch's no-ops), wraps each step in an optimizer closure that only
LBFGS needs, records each batch through ``History``'s general indexing,
which parses its index on every call, and passes every batch through
``to_tensor``'s dispatch on data types although it is a tensor already.
Each is skipped or shortened here,
with the same history and results, which brings a fit close to a
hand-written loop. The overrides follow skorch 1.x's internals; the tests
compare their history with skorch's own.

The overrides live in one mixin, ``LeanNetMixin``, placed before skorch's
classifier or regressor, so both nets share the same per-batch path.
"""

import math

import torch
from skorch import NeuralNetClassifier, NeuralNetRegressor
from skorch.callbacks import Callback
from skorch.dataset import get_len, unpack_data
from skorch.utils import TeeGenerator

from .._compat import net_part_names
from .losses import split_weights, weighted_loss
from .penalty import add_penalty_gradient, module_penalty
from .sparse import take_rows

_BATCH_EVENTS = ("on_batch_begin", "on_grad_computed", "on_batch_end")


def _overrides(callback, event):
    return getattr(type(callback), event) is not getattr(Callback, event)


class LeanNetMixin:
    """Leaner per-batch path for a skorch net; put it before the skorch class in the bases.

    ``accumulation_steps`` (a plain attribute, 1 unless the estimator sets
    it) computes each training batch in that many slices and sums their
    gradients before one optimizer step: the update of the whole batch, in
    the memory of one slice.
    """

    accumulation_steps = 1
    # scikit-learn's alpha as a loss penalty (skbatch.training.penalty); 0 for none.
    penalty_alpha = 0.0

    def initialize_callbacks(self):
        super().initialize_callbacks()
        self.batch_callbacks_ = {event: [cb for _, cb in self.callbacks_ if _overrides(cb, event)] for event in _BATCH_EVENTS}
        return self

    def notify(self, method_name, **cb_kwargs):
        callbacks = getattr(self, "batch_callbacks_", {}).get(method_name)
        if callbacks is None:
            return super().notify(method_name, **cb_kwargs)
        getattr(self, method_name)(self, **cb_kwargs)
        for cb in callbacks:
            getattr(cb, method_name)(self, **cb_kwargs)
        return None

    def _set_training(self, training=True):
        if self.module_.training != training or self.criterion_.training != training:
            super()._set_training(training)

    def infer(self, x, **fit_params):
        if isinstance(x, torch.Tensor) and self.device is not None:
            return self.module_(x.to(self.device), **fit_params)
        return super().infer(x, **fit_params)

    def check_data(self, X, y):
        # skorch's classifier reads the classes from y: the targets, not their weights.
        super().check_data(X, split_weights(y)[0])

    def get_loss(self, y_pred, y_true, X=None, training=False):
        # Differentiable, for callers that need the whole objective in one
        # graph (the noise-scale estimate); the training step applies the
        # penalty outside autograd (_add_penalty).
        loss = self._data_loss(y_pred, y_true, X=X, training=training)
        if training and self.penalty_alpha:
            # The training loss is scikit-learn's: data loss plus the
            # penalty over this batch's rows; validation loss has none.
            loss = loss + module_penalty(self.module_, self.penalty_alpha, _penalty_rows(y_true))
        return loss

    def _add_penalty(self, loss, y_true):
        """``loss`` plus alpha's penalty over the batch ``y_true``, whose gradient goes straight into ``.grad``."""
        if not self.penalty_alpha:
            return loss
        return add_penalty_gradient(self.module_, loss, self.penalty_alpha, _penalty_rows(y_true))

    def _data_loss(self, y_pred, y_true, X=None, training=False):
        if isinstance(y_true, tuple):  # (targets, sample_weight)
            y_true, weight = y_true
            return weighted_loss(self.criterion_, y_pred, y_true.to(y_pred.device), weight.to(y_pred.device))
        # NLLLoss gets skorch's log-of-probabilities treatment; the rest is the plain criterion.
        if isinstance(y_true, torch.Tensor) and self.device is not None and not isinstance(self.criterion_, torch.nn.NLLLoss):
            return self.criterion_(y_pred, y_true.to(self.device))
        return super().get_loss(y_pred, y_true, X=X, training=training)

    def train_step(self, batch, **fit_params):
        # No closure: skbatch's solvers (Adam, AdamW, SGD) never re-evaluate the loss.
        self._zero_grad_optimizer()
        if self.accumulation_steps > 1:
            step = self._accumulate_gradients(batch, **fit_params)
        else:
            step = self.train_step_single(batch, **fit_params)
        if self.batch_callbacks_["on_grad_computed"]:
            self.notify(
                "on_grad_computed",
                named_parameters=TeeGenerator(self.get_all_learnable_params()),
                batch=batch,
                training=True,
            )
        self._step_optimizer(None)
        return step

    def train_step_single(self, batch, **fit_params):
        # skorch's, with the data loss differentiated alone and the penalty
        # added to the gradients as scikit-learn's _backprop does.
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        y_pred = self.infer(Xi, **fit_params)
        loss = self._data_loss(y_pred, yi, X=Xi, training=True)
        loss.backward()
        return {"loss": self._add_penalty(loss.detach(), yi), "y_pred": y_pred}

    def _accumulate_gradients(self, batch, **fit_params):
        """Gradients of the batch's mean loss, summed over slices of it.

        Each slice's mean loss is weighted by its share of the batch, so the
        summed gradient is the gradient of the whole batch's mean loss.
        """
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        y_all, weight = split_weights(yi)
        n_samples = get_len(Xi)
        # A slice's share of the batch: its rows, or its weights' sum when weighted.
        total = n_samples if weight is None else weight.sum()
        slice_size = math.ceil(n_samples / self.accumulation_steps)
        loss, y_preds = 0.0, []
        for start in range(0, n_samples, slice_size):
            rows = slice(start, start + slice_size)
            X_slice = take_rows(Xi, rows)
            if weight is None:
                y_slice, share = y_all[rows], get_len(X_slice) / total
            else:
                y_slice, share = (y_all[rows], weight[rows]), weight[rows].sum() / total
            y_pred = self.infer(X_slice, **fit_params)
            slice_loss = self._data_loss(y_pred, y_slice, X=X_slice, training=True) * share
            slice_loss.backward()
            loss = loss + slice_loss.detach()
            y_preds.append(y_pred.detach())
        # Once per batch, over the whole batch's rows, as without slices.
        return {"loss": self._add_penalty(loss, yi), "y_pred": torch.cat(y_preds)}

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        _current_epoch(self.history)["batches"].append({})

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        if iterator is None:
            return
        batches = _current_epoch(self.history)["batches"]
        loss_key, size_key = prefix + "_loss", prefix + "_batch_size"
        batch_count = 0
        for batch in iterator:
            self.notify("on_batch_begin", batch=batch, training=training)
            step = step_fn(batch, **fit_params)
            row = batches[-1]
            row[loss_key] = step["loss"].item()
            row[size_key] = _batch_len(batch[0] if isinstance(batch, (tuple, list)) else batch)
            self.notify("on_batch_end", batch=batch, training=training, **step)
            batch_count += 1
        self.history.record(prefix + "_batch_count", batch_count)


class LeanNeuralNetClassifier(LeanNetMixin, NeuralNetClassifier):
    """``skorch.NeuralNetClassifier`` with a leaner per-batch path; same results."""


class LeanNeuralNetRegressor(LeanNetMixin, NeuralNetRegressor):
    """``skorch.NeuralNetRegressor`` with a leaner per-batch path; same results."""


def _penalty_rows(y_true):
    """What scikit-learn divides the penalty by: the batch's rows, or its ``sample_weight`` sum."""
    y, weight = split_weights(y_true)
    return len(y) if weight is None else weight.sum()


def record_batches(net, losses, sizes, prefix="train"):
    """Record a finished epoch's batches in ``net``'s history, as :meth:`LeanNetMixin.run_single_epoch` does.

    For a training loop other than skorch's (a fused stack) that reads its
    batch losses back once per epoch: the epoch's history row then looks
    exactly as if skorch's loop had run it.
    """
    batches = _current_epoch(net.history)["batches"]
    loss_key, size_key = prefix + "_loss", prefix + "_batch_size"
    batches.extend({loss_key: loss, size_key: size} for loss, size in zip(losses, sizes))
    net.history.record(prefix + "_batch_count", len(losses))


def _batch_len(X):
    # A tensor's len directly: skorch's get_len walks nested containers, at
    # a cost that shows next to a small network's step.
    return len(X) if isinstance(X, torch.Tensor) else get_len(X)


def _current_epoch(history):
    # list's own indexing: History.__getitem__ parses tuple indices on every call.
    return list.__getitem__(history, -1)


def move_net(net, device):
    """Move the modules, criteria and optimizer state of the skorch ``net`` to ``device``."""
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


def epoch_record(row):
    """One epoch of skorch's history as a plain dict: its keys but the per-batch list, plus the batch size."""
    record = {key: value for key, value in row.items() if key != "batches"}
    batches = row.get("batches")
    # The first training batch's size is the epoch's (the last may be smaller).
    record["batch_size"] = batches[0].get("train_batch_size") if batches else None
    return record
