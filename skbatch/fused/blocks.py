"""A stack as consecutive blocks of rows: each block one stacked network and its optimizer.

Every model of a stack takes a step at every step of the stack, on batches
of one size, so the stack's loop, batches and losses are shared. Within
that, models whose networks are shaped alike form a block: one
:class:`~skbatch.fused.stacks.MLPStack` (or
:class:`~skbatch.fused.stacks.FunctionalStack`) and one
:class:`~skbatch.fused.optim.MixedOptimizer` over its rows. MLPs of one
depth and close widths share a block, padded to its widest model (see
:class:`~skbatch.fused.stacks.MLPStack`); MLPs of another depth, or much
wider or narrower, get a block of their own, so no model pays for padding
more than :data:`MAX_PADDING` times its own size, and the number of layers
does not split the stack.
"""

import torch

from .optim import MixedOptimizer
from .rows import join_rows, kept_runs, rows_of
from .stacks import FunctionalStack, MLPStack, copy_into

__all__ = ["MAX_PADDING", "StackBlocks", "block_order"]

# The most a padded model may cost (in weights) against its own size before
# it gets a block of its own: a block costs a few operations per step more.
MAX_PADDING = 1.3


def _layer_sizes(module):
    return tuple((layer.in_features, layer.out_features) for layer in module.layers if isinstance(layer, torch.nn.Linear))


def _n_weights(sizes):
    return sum((fan_in + 1) * fan_out for fan_in, fan_out in sizes)


def block_order(estimator, module, *, mlp):
    """Sort key of a model among its stack's rows: its block's shape, its solver, its activation, its learning rate.

    Rows that share a learning rate are updated by one call of the optimizer's kernel.
    """
    shape = (len(_layer_sizes(module)), _n_weights(_layer_sizes(module))) if mlp else ()
    return (shape, estimator.solver, getattr(estimator, "activation", ""), estimator.lr_)


def _bounds(modules, mlp):
    """``[(start, stop), ...]``: the blocks of consecutive rows (already in :func:`block_order`)."""
    if not mlp:
        return [(0, len(modules))]
    bounds, start = [], 0
    sizes = [_layer_sizes(module) for module in modules]
    for row in range(1, len(modules) + 1):
        if row == len(modules):
            bounds.append((start, row))
            break
        same_depth = len(sizes[row]) == len(sizes[start])
        widest = [tuple(max(pair) for pair in zip(*layers)) for layers in zip(*sizes[start : row + 1])] if same_depth else None
        if not same_depth or _n_weights(widest) > MAX_PADDING * _n_weights(sizes[start]):
            bounds.append((start, row))
            start = row
    return bounds


class _Block:
    def __init__(self, start, stop, stack, optimizer):
        self.start, self.stop, self.stack, self.optimizer = start, stop, stack, optimizer


class StackBlocks:
    """The networks and optimizers of one stack's models, in blocks of consecutive rows.

    Parameters
    ----------
    estimators : list of BaseTorchEstimator
        The models, in row order (sorted by :func:`block_order`).
    modules : list of torch.nn.Module
        Their networks, built from their own seeds.
    device : torch.device
    mlp : bool
        Whether the networks are skbatch's MLPs (batched matrix products,
        blocks by shape) or other modules (one ``torch.func`` block, which
        all must share a shape).
    sparse_rows : bool, default=False
        Whether the inputs are sparse batches, which MLP blocks then multiply as they are.
    """

    def __init__(self, estimators, modules, device, *, mlp, sparse_rows=False):
        self.blocks = []
        for start, stop in _bounds(modules, mlp):
            if mlp:
                stack = MLPStack(modules[start:stop], [e.activation for e in estimators[start:stop]], device, sparse_rows=sparse_rows)
            else:
                stack = FunctionalStack(modules[start:stop], device)
            optimizer = MixedOptimizer(estimators[start:stop], stack.decays, device)
            self.blocks.append(_Block(start, stop, stack, optimizer))
        self.per_model_dropout = self.blocks[0].stack.per_model_dropout

    def __len__(self):
        return self.blocks[-1].stop

    def forward(self, X, keep=None, generator=None):
        """Outputs ``(K, B, ...)`` of every model for inputs ``(K, B, ...)``."""
        return self._each_block("forward", X, keep, generator)

    @property
    def differentiable(self):
        """Whether every block writes its own gradient (:meth:`forward_saving`, :meth:`backward`) instead of autograd."""
        return all(isinstance(block.stack, MLPStack) and block.stack.differentiable for block in self.blocks)

    def forward_saving(self, X, keep=None, generator=None):
        """:meth:`forward` on a dense batch, each block keeping what :meth:`backward` needs (see :meth:`MLPStack.forward_saving`)."""
        return self._each_block("forward_saving", X, keep, generator)

    def _each_block(self, method, X, keep, generator):
        """Each block's ``method`` on its rows of ``X`` and ``keep``, joined in row order."""
        if len(self.blocks) == 1:
            return getattr(self.blocks[0].stack, method)(X, keep, generator)
        outputs = []
        for block in self.blocks:
            rows = slice(block.start, block.stop)
            outputs.append(getattr(block.stack, method)(X[rows], None if keep is None else keep[rows], generator))
        return torch.cat(outputs)

    def backward(self, d_output, rows):
        """Each block's gradient, for ``d_output``, the loss's gradient at the last :meth:`forward_saving`'s output.

        Returns ``[(gradients, penalty_added), ...]``, one pair per block,
        its gradients shaped as its stack's ``params``: where every model
        of a block has an L2 penalty, its gradient for a batch of ``rows``
        rows (see :meth:`step`) is written with the weights' own, and
        :meth:`step` leaves it out.
        """
        gradients = []
        for block in self.blocks:
            scale = block.optimizer.penalty_scale(rows_of(rows, block.start, block.stop))
            gradients.append((block.stack.backward(d_output[block.start : block.stop], scale), scale is not None))
        return gradients

    def step(self, loss, rows, gradients=None):
        """Take one optimizer step of every model on ``loss``'s gradient; return each model's penalty before it.

        ``rows`` is the batch's row count (a float, or a ``(K, 1)`` column
        where the models' last batches differ), by which the penalty is
        divided. ``gradients``, each block's pair from :meth:`backward`,
        stand in for autograd's (``loss`` is then None).
        """
        if gradients is None:
            leaves = [leaf for block in self.blocks for leaf in block.stack.leaf_list()]
            grads = iter(torch.autograd.grad(loss, leaves))
            gradients = [(block.stack.param_gradients([next(grads) for _ in block.stack.leaf_list()]), False) for block in self.blocks]
        penalties = []
        for block, (gradient, penalty_added) in zip(self.blocks, gradients):
            block_rows = rows_of(rows, block.start, block.stop)
            penalties.append((block.start, block.stop, block.optimizer.penalty(block.stack.params, block_rows)))
            block.optimizer.step(block.stack.params, gradient, block_rows, penalty_added=penalty_added)
        return join_rows(penalties, len(self), self.blocks[0].stack.params[0].device)

    def _block_of(self, row):
        for block in self.blocks:
            if block.start <= row < block.stop:
                return block, row - block.start
        raise IndexError(f"no model at row {row} of the stack")

    def select(self, index):
        """Keep the models at ``index`` (rows, ascending), in that order."""
        kept = []
        for position, local, start, stop in kept_runs(index, [(block.start, block.stop) for block in self.blocks]):
            block = self.blocks[position]
            block.stack.select(local)
            block.optimizer.select(local)
            block.start, block.stop = start, stop
            kept.append(block)
        self.blocks = kept

    def set_lr(self, lrs):
        """Each model's learning rate from now on, in row order."""
        for block in self.blocks:
            block.optimizer.set_lr(lrs[block.start : block.stop])

    def load(self, estimators, step_counts):
        """Take each model's optimizer state from its estimator's own optimizer (models that continue a fit)."""
        for block in self.blocks:
            block.optimizer.load(estimators[block.start : block.stop], block.stack, step_counts[block.start : block.stop])

    def copy_into(self, row, module):
        """Write model ``row``'s weights into ``module``."""
        block, local = self._block_of(row)
        copy_into(block.stack, local, module)

    def state_into(self, row, estimator, lr):
        """Give ``estimator``'s own optimizer the state of model ``row``, as if it had trained alone."""
        block, local = self._block_of(row)
        block.optimizer.state_into(local, estimator, block.stack, lr)
