"""The training loop of one stack: its steps, and each model's epoch ends through its own callbacks.

:func:`skbatch.fused.train.train_fused` prepares the members of a stack as
their own fits would; :class:`StackTraining` then takes the steps they
share (each on its own rows, with its own weights, loss and update rule)
and ends each model's epochs as its own fit's loop would.
"""

import contextlib

import numpy as np
import torch
import torch.nn.functional as F

from ..estimators.aliases import resolve_alias
from ..training.callbacks import ConvergenceReached, set_lr, warn_not_converged
from ..training.iterator import to_tensor
from ..training.net import record_batches
from ..training.seeding import seeded_torch
from ..training.sparse import is_sparse, n_rows
from .blocks import StackBlocks, block_order
from .sparse_rows import SparseRows
from .stacks import column

__all__ = ["StackTraining", "fail_member"]


def fail_member(member, error):
    """Record ``error`` as ``member``'s; what preparing began (the network) goes, so the estimator reads as unfitted."""
    member.error = error
    member.estimator.__dict__.pop("net_", None)


class StackTraining:
    """The training loop of one stack: epochs of steps, then each model's epoch-end rules.

    ``active`` lists the members still training, in the order of the
    stack's rows; a member that stops or fails leaves it, and the stack
    shrinks to the rest.
    """

    def __init__(self, members, device, *, mlp):
        # Like-shaped networks in consecutive rows (a block each), and within
        # a block each solver's and activation's models together: one update
        # rule, one activation per run of rows.
        members = sorted(members, key=lambda m: block_order(m.estimator, m.estimator.net_.module_, mlp=mlp))
        self.members, self.device = members, device
        estimators = [member.estimator for member in members]
        first = estimators[0]
        self.batch_size = members[0].batch_size
        self.max_epochs = [resolve_alias(e, "max_epochs") for e in estimators]
        self.classifier = first._criterion is torch.nn.CrossEntropyLoss
        self.X, self.y, self.offsets = _stack_data(members, device)
        modules = [e.net_.module_ for e in estimators]
        self.stack = StackBlocks(estimators, modules, device, mlp=mlp, sparse_rows=isinstance(self.X, SparseRows))
        # Dense rows through MLPs of activations with a written derivative:
        # the gradient by hand, not by autograd (MLPStack.backward).
        self.differentiable = self.stack.differentiable
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
                index, weights, counts = _epoch_index([member], [self.offsets[i]], self.batch_size, self.n_batches[i])
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
            penalty = self.stack.step(None, rows, gradients=self.stack.backward(d_output, rows))
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
        output = self.stack.forward(_take(self.X, batch), keep, self.dropout_generator)
        if self.classifier:
            # Classes on dim 1, (K, n_classes, B): on the CPU, several times
            # faster than the same loss over (K * B, n_classes) rows.
            per_row = F.cross_entropy(output.transpose(1, 2), _take(self.y, batch), reduction="none")
        else:
            per_row = (output - _take(self.y, batch)).square().mean(dim=2)
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
        output = self.stack.forward_saving(_take(self.X, batch), keep, self.dropout_generator)
        target = _take(self.y, batch)
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
                fail_member(member, error)
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


def _take(data, batch):
    """``data[batch]``: the rows at ``batch``'s ``(K, B)`` positions, shaped ``(K, B, ...)``.

    On a dense tensor by ``index_select``, which gathers a step's rows in a
    quarter of the time advanced indexing takes on the CPU (50 against
    215 microseconds for 120 models' batches of 32 rows of 64 features).
    """
    if not isinstance(data, torch.Tensor):  # SparseRows
        return data[batch]
    return torch.index_select(data, 0, batch.reshape(-1)).view(*batch.shape, *data.shape[1:])


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
