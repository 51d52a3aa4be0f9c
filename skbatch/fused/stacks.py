"""Stacked networks: the weights of K models as rows of one tensor per parameter, run as one forward pass.

MLPs run as one batched matrix product per layer (``baddbmm``), with each
model's own dropout rate; any other module runs its own forward pass under
``torch.func.vmap``.
"""

import copy
import fnmatch

import torch
import torch.nn.functional as F
from torch import nn

from ..training.modules import GeneratorDropout
from .rows import runs

__all__ = ["FunctionalStack", "MLPStack", "column", "copy_into"]

_ACTIVATIONS = {
    "identity": None,
    "logistic": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "gelu": F.gelu,
}

# Each activation's derivative from its output, applied in place to the
# gradient flowing back (MLPStack.backward): autograd's own kernels, so the
# gradient is the one autograd would give. GELU's needs its input and is left
# to autograd.
_DERIVATIVES = {
    "identity": lambda delta, activated: None,
    "logistic": lambda delta, activated: torch.ops.aten.sigmoid_backward.grad_input(delta, activated, grad_input=delta),
    "tanh": lambda delta, activated: torch.ops.aten.tanh_backward.grad_input(delta, activated, grad_input=delta),
    "relu": lambda delta, activated: torch.ops.aten.threshold_backward.grad_input(delta, activated, 0, grad_input=delta),
}

# The activations of _DERIVATIVES, in place on a slice of a layer's output.
_IN_PLACE = {"logistic": torch.sigmoid_, "tanh": torch.tanh_, "relu": torch.relu_}


class MLPStack:
    """The weights of K MLPs of one depth, one ``(K, ...)`` tensor per layer's weight and per bias: ``params``.

    Row k of each tensor is model k's, so the optimizer updates every model
    with a handful of operations whatever the depth, and the hand-written
    backward writes each gradient straight into a tensor of its own. Layers
    are batched matrix products, and dropout takes each model's own rate.

    Models may differ in their hidden layers' widths and in their
    activation. Each layer is as wide as its widest model; a narrower
    model's weights fill the top-left block of the layer, and the rest is
    padding held at exactly zero: a padded unit's weights in are zero, so
    its pre-activation is zero, and its weights out are zero, so it adds
    nothing to any output. Its gradients are masked to zero (a logistic
    unit outputs 0.5 at zero), so the optimizer's moments and the penalty
    never see it, and each model trains exactly as its own network would.
    Models of one activation are consecutive rows (the trainer orders them
    so); each run of rows gets its own activation.

    Parameters
    ----------
    modules : list of MLPModule
        The models' networks, each built from its own seed at its own widths.
    activations : list of str
        Each model's ``activation``.
    device : torch.device
    sparse_rows : bool, default=False
        Whether the inputs are sparse batches (:mod:`skbatch.fused.sparse_rows`).
    """

    per_model_dropout = True

    def __init__(self, modules, activations, device, *, sparse_rows=False):
        # One contiguous tensor per weight and per bias, not column blocks
        # of one (K, n_params) tensor: the backward's batched products
        # write each weight's gradient where it stays (``out=``), where
        # writing it into a column block took a strided copy of 100 to
        # 450 us per layer and step for 120 models; and a run of rows of
        # each tensor is contiguous, as torch's fused optimizer kernels
        # need. A weight is laid out as nn.Linear's, (K, fan_out, fan_in):
        # the batched products with a narrow output layer (10 classes, say)
        # and its gradient run several times faster on the CPU than with
        # (fan_in, fan_out). A sparse batch's first layer is the exception:
        # its product with a sparse batch, and autograd's gradient of it,
        # want (fan_in, fan_out). A bias is (K, 1, fan_out), to broadcast
        # over a batch's rows.
        self.sparse_rows = sparse_rows
        n_models, linears = len(modules), [_linears(module) for module in modules]
        self.params = []
        for depth in range(len(linears[0])):
            fan_in = max(model[depth].in_features for model in linears)
            fan_out = max(model[depth].out_features for model in linears)
            shape = (fan_in, fan_out) if self._in_out(depth) else (fan_out, fan_in)
            self.params += [torch.zeros(n_models, *shape, device=device), torch.zeros(n_models, 1, fan_out, device=device)]
        for row, module in enumerate(modules):
            for param, value in self.unstack(self.params, row, module):
                value.copy_(param.detach())
        # Where models differ in width: per tensor, 1 on each model's own
        # weights and 0 on its padding, or None where no model is padded.
        self.real = None
        if len({tuple((layer.in_features, layer.out_features) for layer in model) for model in linears}) > 1:
            masks = [torch.zeros_like(param) for param in self.params]
            for row, module in enumerate(modules):
                for _, value in self.unstack(masks, row, module):
                    value.fill_(1.0)
            self.real = [None if bool(mask.all()) else mask for mask in masks]
        # The L2 penalty applies to weights only, as in the unfused optimizer's param groups.
        self.decays = [True, False] * len(linears[0])
        self.activations = list(activations)
        self._make_runs()
        self._make_leaves()

    def _make_runs(self):
        # Runs of consecutive rows with one activation: [(start, stop, function), ...].
        self.named_runs = runs(self.activations)
        self.runs = [(start, stop, _ACTIVATIONS[name]) for name, start, stop in self.named_runs]

    def _make_leaves(self):
        # What autograd differentiates: ``params`` themselves, under another
        # name, so that the optimizer, which updates ``params`` in place
        # outside autograd, never touches a tensor that requires a gradient.
        self.leaves = [param.detach().requires_grad_() for param in self.params]
        self._gradients = None  # see backward

    def _in_out(self, depth):
        """Whether layer ``depth``'s weight is laid out (fan_in, fan_out), not nn.Linear's (fan_out, fan_in)."""
        return depth == 0 and self.sparse_rows

    def _activate(self, X):
        if len(self.runs) == 1:
            function = self.runs[0][2]
            return X if function is None else function(X)
        parts = [X[start:stop] if function is None else function(X[start:stop]) for start, stop, function in self.runs]
        return torch.cat(parts)

    def forward(self, X, keep=None, generator=None):
        """Outputs ``(K, B, n_outputs)`` for inputs ``(K, B, n_features)``.

        ``keep`` is the ``(K, 1, 1)`` probability of keeping a hidden unit, or
        None without dropout.
        """
        last = len(self.leaves) // 2 - 1
        for depth in range(last + 1):
            weight = self.leaves[2 * depth] if self._in_out(depth) else self.leaves[2 * depth].transpose(1, 2)
            if depth == 0 and getattr(X, "is_sparse", False):
                # A sparse batch (fused/sparse_rows.py): multiplied as it is, at the cost of its non-zeros.
                X = torch.bmm(X.tensor(self.params[0].device), weight) + self.leaves[1]
            else:
                X = torch.baddbmm(self.leaves[2 * depth + 1], X, weight)
            if depth < last:
                X = self._activate(X)
                if keep is not None:
                    mask = torch.rand(X.shape, generator=generator, device=X.device) < keep
                    X = X * mask / keep
        return X

    @property
    def differentiable(self):
        """Whether :meth:`forward_saving` and :meth:`backward` can stand in for autograd: every activation's derivative is written here."""
        return not self.sparse_rows and all(name in _DERIVATIVES for name in self.activations)

    @torch.no_grad()
    def forward_saving(self, X, keep=None, generator=None):
        """:meth:`forward` on a dense batch, outside autograd, keeping what :meth:`backward` needs.

        The same operations as :meth:`forward`, in the same order, so the
        outputs are the same; the gradient is then written by hand, as
        scikit-learn's MLP writes it, which spares autograd's graph and
        bookkeeping at every step and puts each gradient straight into a
        tensor shaped as its parameter's.
        """
        # Laid out as nn.Linear's: a dense batch's stack has no (fan_in, fan_out) layer.
        self._inputs, self._activated, self._masks, self._keep = [], [], [], keep
        last = len(self.params) // 2 - 1
        for depth in range(last + 1):
            self._inputs.append(X)
            X = torch.baddbmm(self.params[2 * depth + 1], X, self.params[2 * depth].transpose(1, 2))
            if depth < last:
                for name, start, stop in self.named_runs:
                    if name != "identity":
                        _IN_PLACE[name](X[start:stop])
                self._activated.append(X)
                if keep is not None:
                    mask = torch.rand(X.shape, generator=generator, device=X.device) < keep
                    self._masks.append(mask)
                    X = X * mask / keep
        return X

    @torch.no_grad()
    def backward(self, d_output, penalty_scale=None):
        """The gradient with respect to ``params`` of a loss whose gradient at the last :meth:`forward_saving`'s output is ``d_output``.

        Returns a list of tensors shaped as ``params``, zero on padding, as
        :meth:`gradient` would; the next call overwrites them.
        ``penalty_scale`` (a float, or a ``(K, 1, 1)`` column) adds the L2
        penalty's gradient, ``penalty_scale * W``, to each weight's as it
        is written, as a model's own fit adds it after its backward pass
        (:func:`skbatch.training.penalty.add_penalty_gradient`): one pass
        over the weights where the optimizer's own would take another.
        """
        if self._gradients is None:
            # Kept from step to step, as the optimizer reads them before the
            # next backward: a fresh set at each step made a stack's
            # training about 2% slower (scikit-learn's tutorial grid).
            self._gradients = [torch.empty_like(param) for param in self.params]
        gradients = self._gradients
        delta = d_output
        for depth in range(len(self.params) // 2 - 1, -1, -1):
            weight, into, into_bias = self.params[2 * depth], gradients[2 * depth], gradients[2 * depth + 1]
            torch.bmm(delta.transpose(1, 2), self._inputs[depth], out=into)
            if isinstance(penalty_scale, float):
                into.add_(weight, alpha=penalty_scale)
            elif penalty_scale is not None:
                into.addcmul_(weight, penalty_scale)
            torch.sum(delta, dim=1, keepdim=True, out=into_bias)
            if depth == 0:
                break
            delta = torch.bmm(delta, weight)
            if self._masks:
                # as autograd differentiates X * mask / keep
                delta = delta / self._keep * self._masks[depth - 1]
            activated = self._activated[depth - 1]
            for name, start, stop in self.named_runs:
                _DERIVATIVES[name](delta[start:stop], activated[start:stop])
        self._inputs = self._activated = self._masks = self._keep = None
        return self._masked(gradients)

    def _masked(self, gradients):
        """``gradients`` (contiguous, shaped as ``params``), zeroed in place on padding."""
        if self.real is not None:
            for gradient, mask in zip(gradients, self.real):
                if mask is not None:
                    gradient.mul_(mask)
        return gradients

    def leaf_list(self):
        """The tensors autograd differentiates, in the order :meth:`param_gradients` takes their gradients."""
        return self.leaves

    def param_gradients(self, grads):
        """The gradients of :meth:`leaf_list` as contiguous tensors shaped as ``params``, zero on padding.

        Contiguous because torch's fused optimizer kernels update wrongly
        through other strides, and autograd gives a transposed weight's
        gradient transposed.
        """
        return self._masked([grad.contiguous() for grad in grads])

    def gradient(self, loss):
        """Gradient of ``loss`` with respect to ``params``, as tensors of their shapes (zero on padding)."""
        return self.param_gradients(torch.autograd.grad(loss, self.leaf_list()))

    def select(self, index):
        self.params = [param[index] for param in self.params]
        if self.real is not None:
            self.real = [None if mask is None else mask[index] for mask in self.real]
        self.activations = [self.activations[row] for row in index.tolist()]
        self._make_runs()
        self._make_leaves()

    def unstack(self, tensors, row, module):
        """Pairs of (parameter of ``module``, model ``row``'s part of ``tensors``, shaped like it).

        ``tensors`` are laid out as ``params`` (the stack's, its gradients,
        or an optimizer's state), and ``module`` is the model's own network:
        its widths say which block of each padded layer is its own.
        """
        for depth, layer in enumerate(_linears(module)):
            weight, bias = tensors[2 * depth][row], tensors[2 * depth + 1][row, 0]
            rows_in, cols_out = layer.in_features, layer.out_features
            if self._in_out(depth):
                yield layer.weight, weight[:rows_in, :cols_out].T
            else:
                yield layer.weight, weight[:cols_out, :rows_in]
            yield layer.bias, bias[:cols_out]


class FunctionalStack:
    """K copies of any module without buffers, stacked with ``torch.func``.

    One ``(K, *shape)`` tensor per trainable parameter, as :class:`MLPStack`
    has per weight and bias; the forward pass is the module's own, run once
    per model under ``vmap`` (``randomness='different'``, so each model
    draws its own dropout masks at the rate its module has).
    """

    per_model_dropout = False

    def __init__(self, modules, device):
        self.module = _with_global_dropout(copy.deepcopy(modules[0])).to(device).train()
        self.names = []  # of the trainable parameters, in the order of ``params``
        frozen = []
        for name, param in modules[0].named_parameters():
            # A frozen parameter (a pretrained backbone's, say) is none of
            # ``params``: the optimizer never sees it, nor the penalty, as in
            # the model's own fit, whose optimizer gets no gradient for it.
            (self.names if param.requires_grad else frozen).append(name)
        named = [dict(module.named_parameters()) for module in modules]
        self.params = [torch.stack([params[name].detach() for params in named]).to(device) for name in self.names]
        # Each model's own frozen values, stacked, constant through training.
        self.frozen = {name: torch.stack([params[name].detach() for params in named]).to(device) for name in frozen}
        # skorch's param group ("*bias", no weight decay) of the unfused optimizer.
        self.decays = [not fnmatch.fnmatch(name, "*bias") for name in self.names]
        self._call = torch.func.vmap(self._functional, randomness="different")
        self._make_leaves()

    def _functional(self, params, X):
        return torch.func.functional_call(self.module, params, (X,))

    def _make_leaves(self):
        # ``params`` under another name, as MLPStack's leaves are.
        self.leaves = {name: param.detach().requires_grad_() for name, param in zip(self.names, self.params)}

    def forward(self, X, keep=None, generator=None):
        """Outputs ``(K, B, ...)`` for inputs ``(K, B, ...)``; dropout is the module's own."""
        return self._call({**self.frozen, **self.leaves}, X)

    def leaf_list(self):
        """The tensors autograd differentiates, in the order :meth:`param_gradients` takes their gradients."""
        return list(self.leaves.values())

    def param_gradients(self, grads):
        """The gradients of :meth:`leaf_list` as contiguous tensors shaped as ``params`` (see :meth:`MLPStack.param_gradients`)."""
        return [grad.contiguous() for grad in grads]

    def gradient(self, loss):
        """Gradient of ``loss`` with respect to ``params``, as tensors of their shapes."""
        return self.param_gradients(torch.autograd.grad(loss, self.leaf_list()))

    def select(self, index):
        self.params = [param[index] for param in self.params]
        self.frozen = {name: value[index] for name, value in self.frozen.items()}
        self._make_leaves()

    def unstack(self, tensors, row, module):
        """Pairs of (trainable parameter of ``module``, model ``row``'s part of ``tensors``, laid out as ``params``)."""
        params = dict(module.named_parameters())
        for name, tensor in zip(self.names, tensors):
            yield params[name], tensor[row]


def _with_global_dropout(module):
    """``module`` with each GeneratorDropout replaced by ``nn.Dropout``: under ``vmap``, masks come from its stream."""
    for name, child in module.named_children():
        if isinstance(child, GeneratorDropout):
            setattr(module, name, nn.Dropout(child.p))
        else:
            _with_global_dropout(child)
    return module


def _linears(module):
    return [layer for layer in module.layers if isinstance(layer, nn.Linear)]


def copy_into(stack, row, module):
    """Write model ``row``'s weights into ``module``."""
    with torch.no_grad():
        for param, value in stack.unstack(stack.params, row, module):
            param.copy_(value)


def column(values, device):
    return torch.tensor(values, dtype=torch.float32, device=device).unsqueeze(1)
