"""The torch modules behind skbatch's built-in estimators."""

import math

import torch
import torch.nn.functional as F
from torch import nn

from .sparse import sparse_linear

__all__ = ["ACTIVATIONS", "POOLINGS", "ConvNetModule", "GeneratorDropout", "MLPModule"]

ACTIVATIONS = {
    "identity": nn.Identity,
    "logistic": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "gelu": nn.GELU,
}


class MLPModule(nn.Module):
    """A multilayer perceptron: linear layers with an activation and dropout between them.

    The output layer returns raw scores (logits for classification); the
    loss applies the link function.

    Parameters
    ----------
    n_features_in : int
        Width of the input.
    n_outputs : int
        Width of the output, e.g. the number of classes.
    hidden_layer_sizes : tuple of int, default=(100,)
        Width of each hidden layer.
    activation : {'identity', 'logistic', 'tanh', 'relu', 'gelu'}, default='relu'
        Nonlinearity after each hidden layer.
    dropout : float, default=0.0
        Probability of zeroing a hidden unit during training.
    generator : torch.Generator or None, default=None
        Source of the initial weights and of the dropout masks; None draws
        from torch's global generator. A fit passes its own, so that fits
        in threads never share a stream.

    Notes
    -----
    ``forward`` takes a dense batch or a sparse COO one
    (:func:`skbatch.training.sparse.sparse_rows`), which the first layer
    multiplies without densifying it.

    Weights and biases start from the Glorot-uniform scheme scikit-learn's
    MLP uses (with its wider bound for the logistic activation), so that a
    configuration tuned on scikit-learn starts from the same kind of point.
    """

    def __init__(
        self,
        n_features_in,
        n_outputs,
        *,
        hidden_layer_sizes=(100,),
        activation="relu",
        dropout=0.0,
        generator=None,
    ):
        super().__init__()
        widths = [n_features_in, *hidden_layer_sizes]
        layers = []
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            layers.append(_glorot_linear(fan_in, fan_out, activation, generator))
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(GeneratorDropout(dropout, generator))
        layers.append(_glorot_linear(widths[-1], n_outputs, activation, generator))
        self.layers = nn.Sequential(*layers)

    def forward(self, X):
        if not X.is_sparse:
            return self.layers(X)
        # A sparse COO batch: the first layer multiplies it as it is, at a
        # cost that follows its non-zeros; every later layer is dense.
        first, *rest = self.layers
        hidden = sparse_linear(X, first.weight, first.bias)
        for layer in rest:
            hidden = layer(hidden)
        return hidden


def _empty_linear(fan_in, fan_out):
    """An ``nn.Linear`` whose weights are not yet drawn: what ``nn.utils.skip_init`` makes, in a tenth of its time.

    nn.Linear's own initialisation would draw from the global generator, and
    skip_init's round trip through the meta device took half a millisecond
    a layer, a third of building a small network, which every fit, stacked
    model and restore does. ``nn.Linear.__init__`` sets these attributes and
    nothing else (a test compares the two).
    """
    layer = nn.Linear.__new__(nn.Linear)
    nn.Module.__init__(layer)
    layer.in_features, layer.out_features = fan_in, fan_out
    layer.weight = nn.Parameter(torch.empty(fan_out, fan_in))
    layer.bias = nn.Parameter(torch.empty(fan_out))
    return layer


def _glorot_linear(fan_in, fan_out, activation, generator):
    layer = _empty_linear(fan_in, fan_out)
    factor = 2.0 if activation == "logistic" else 6.0
    bound = math.sqrt(factor / (fan_in + fan_out))
    nn.init.uniform_(layer.weight, -bound, bound, generator=generator)
    nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    return layer


def _default_conv2d(in_channels, out_channels, kernel_size, generator):
    """``nn.Conv2d`` with torch's default initialisation, drawn from ``generator``."""
    layer = nn.utils.skip_init(nn.Conv2d, in_channels, out_channels, kernel_size, padding="same")
    nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
    fan_in = in_channels * kernel_size * kernel_size
    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
    nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    return layer


class GeneratorDropout(nn.Module):
    """``nn.Dropout`` whose masks come from a generator of its own, not torch's global one.

    Parameters
    ----------
    p : float
        Probability of zeroing an element during training.
    generator : torch.Generator or None
        Seeds this layer's stream (one draw, at construction); None behaves
        as ``nn.Dropout``, drawing from torch's global generator.

    Notes
    -----
    The stream lives on the layer, one generator per device it has run on,
    so successive epochs and ``partial_fit`` calls continue it; pickling and
    copying keep its position.
    """

    def __init__(self, p, generator=None):
        super().__init__()
        self.p = p
        self.seed = None if generator is None else int(torch.randint(2**62, (1,), generator=generator))
        self._generators = {}

    def extra_repr(self):
        return f"p={self.p}"

    def _generator(self, device):
        key = str(device)
        if key not in self._generators:
            self._generators[key] = torch.Generator(device=device).manual_seed(self.seed)
        return self._generators[key]

    def forward(self, X):
        if not self.training or self.p == 0:
            return X
        if self.seed is None:
            return F.dropout(X, self.p, training=True)
        keep = 1.0 - self.p
        mask = torch.rand(X.shape, generator=self._generator(X.device), device=X.device, dtype=X.dtype) < keep
        return X * mask / keep

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_generators"] = {device: generator.get_state() for device, generator in self._generators.items()}
        return state

    def __setstate__(self, state):
        states = state.pop("_generators")
        super().__setstate__(state)
        self._generators = {}
        for device, value in states.items():
            self._generator(torch.device(device)).set_state(value)


POOLINGS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}

_POOL_SIZE = 2


class ConvNetModule(nn.Module):
    """A small convolutional network: convolution blocks, then dense layers.

    Each block is a ``kernel_size`` convolution with ``'same'`` padding, the
    activation, and a 2x2 pooling that halves height and width (a side
    shorter than 2 is left as it is, so a row of features works too). The
    blocks feed dense layers with the activation and dropout between them,
    and a linear output layer returns raw scores.

    Parameters
    ----------
    input_shape : tuple of int
        ``(channels, height, width)`` of one sample.
    n_outputs : int
        Width of the output, e.g. the number of classes.
    channels : tuple of int, default=(16, 32)
        Output channels of each convolution block.
    kernel_size : int, default=3
        Side of the square convolution kernels.
    pooling : {'max', 'avg'} or None, default='max'
        Pooling after each convolution; None keeps the full resolution.
    dense_layer_sizes : tuple of int, default=(64,)
        Width of each dense hidden layer after the convolutions; ``()`` for
        none.
    activation : {'identity', 'logistic', 'tanh', 'relu', 'gelu'}, default='relu'
        Nonlinearity after each convolution and dense hidden layer.
    dropout : float, default=0.0
        Probability of zeroing a dense unit (and the flattened convolution
        output) during training.
    generator : torch.Generator or None, default=None
        Source of the initial weights and of the dropout masks; None draws
        from torch's global generator.
    """

    def __init__(
        self,
        input_shape,
        n_outputs,
        *,
        channels=(16, 32),
        kernel_size=3,
        pooling="max",
        dense_layer_sizes=(64,),
        activation="relu",
        dropout=0.0,
        generator=None,
    ):
        super().__init__()
        in_channels, height, width = input_shape
        blocks = []
        for out_channels in channels:
            blocks.append(_default_conv2d(in_channels, out_channels, kernel_size, generator))
            blocks.append(ACTIVATIONS[activation]())
            if pooling is not None:
                # Pool only the sides long enough, so narrow inputs keep at least one pixel.
                window = (min(_POOL_SIZE, height), min(_POOL_SIZE, width))
                blocks.append(POOLINGS[pooling](window))
                height, width = height // window[0], width // window[1]
            in_channels = out_channels
        blocks.append(nn.Flatten())
        if dropout > 0:
            blocks.append(GeneratorDropout(dropout, generator))
        self.features = nn.Sequential(*blocks)
        self.head = MLPModule(
            in_channels * height * width,
            n_outputs,
            hidden_layer_sizes=tuple(dense_layer_sizes),
            activation=activation,
            dropout=dropout,
            generator=generator,
        )

    def forward(self, X):
        return self.head(self.features(X))


def check_module_output(module, rows, expected, owner, kind=("class", "n_classes")):
    """Raise ValueError unless ``module(rows)`` has shape ``(len(rows), expected)``.

    Runs in eval mode (no dropout draw, no update of running statistics)
    and without gradients. ``kind`` names a column and the constructor
    argument that sets the width, for the message.
    """
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            output = module(rows)
    finally:
        module.train(was_training)
    shape = tuple(getattr(output, "shape", ()))
    if shape != (len(rows), expected):
        name = getattr(type(module), "__qualname__", type(module).__name__)
        column, argument = kind
        raise ValueError(
            f"{owner}'s module {name} returned output of shape {shape} for a batch of {len(rows)} "
            f"samples; expected ({len(rows)}, {expected}), one column per {column}. Make its forward "
            f"return {expected} columns: the module is built with {argument}={expected}, its width."
        )
