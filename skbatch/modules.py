"""The torch modules behind skbatch's built-in estimators."""

import math

from torch import nn

__all__ = ["MLPModule", "ACTIVATIONS"]

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
