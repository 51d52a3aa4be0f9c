"""The torch modules behind skbatch's built-in estimators."""

import math

from torch import nn

__all__ = ["ACTIVATIONS", "POOLINGS", "ConvNetModule", "MLPModule"]

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

    Notes
    -----
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
    ):
        super().__init__()
        widths = [n_features_in, *hidden_layer_sizes]
        layers = []
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            layers.append(_glorot_linear(fan_in, fan_out, activation))
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        layers.append(_glorot_linear(widths[-1], n_outputs, activation))
        self.layers = nn.Sequential(*layers)

    def forward(self, X):
        return self.layers(X)


def _glorot_linear(fan_in, fan_out, activation):
    layer = nn.Linear(fan_in, fan_out)
    factor = 2.0 if activation == "logistic" else 6.0
    bound = math.sqrt(factor / (fan_in + fan_out))
    nn.init.uniform_(layer.weight, -bound, bound)
    nn.init.uniform_(layer.bias, -bound, bound)
    return layer


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
    ):
        super().__init__()
        in_channels, height, width = input_shape
        blocks = []
        for out_channels in channels:
            blocks.append(nn.Conv2d(in_channels, out_channels, kernel_size, padding="same"))
            blocks.append(ACTIVATIONS[activation]())
            if pooling is not None:
                # Pool only the sides long enough, so narrow inputs keep at least one pixel.
                window = (min(_POOL_SIZE, height), min(_POOL_SIZE, width))
                blocks.append(POOLINGS[pooling](window))
                height, width = height // window[0], width // window[1]
            in_channels = out_channels
        blocks.append(nn.Flatten())
        if dropout > 0:
            blocks.append(nn.Dropout(dropout))
        self.features = nn.Sequential(*blocks)
        self.head = MLPModule(
            in_channels * height * width,
            n_outputs,
            hidden_layer_sizes=tuple(dense_layer_sizes),
            activation=activation,
            dropout=dropout,
        )

    def forward(self, X):
        return self.head(self.features(X))
