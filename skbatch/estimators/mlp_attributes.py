"""scikit-learn's fitted MLP attributes (``coefs_``, ``intercepts_``, ``n_layers_``, ...), read from the trained module.

They are properties, not copies stored at the end of ``fit``: the weights
have one owner, the torch module in ``net_``, and these are views of it.
"""

import torch

__all__ = ["MLPAttributes", "MLPClassifierAttributes", "MLPRegressorAttributes"]


def _linears(estimator):
    if not hasattr(estimator, "net_"):
        # AttributeError, so hasattr() and scikit-learn's checks read "not fitted".
        raise AttributeError(f"{type(estimator).__name__} has no fitted weights yet: call fit first.")
    return [layer for layer in estimator.net_.module_.modules() if isinstance(layer, torch.nn.Linear)]


def _view(tensor):
    # A view of the weights (no copy) when they live on the CPU; a GPU's
    # weights must be copied to host memory to be read by NumPy.
    return tensor.detach().cpu().numpy()


class MLPAttributes:
    """Mixin for MLPClassifier and MLPRegressor: scikit-learn's MLP attributes over ``net_.module_``."""

    @property
    def coefs_(self):
        """Weights per layer, ``coefs_[i]`` of shape (fan_in, fan_out), float32; views of the module's."""
        # torch's Linear keeps (fan_out, fan_in); the transpose is a view too.
        return [_view(layer.weight).T for layer in _linears(self)]

    @property
    def intercepts_(self):
        """Biases per layer, ``intercepts_[i]`` of shape (fan_out,), float32; views of the module's."""
        return [_view(layer.bias) for layer in _linears(self)]

    @property
    def n_layers_(self):
        """Layers, input and output included: ``len(hidden_layer_sizes) + 2``."""
        return len(_linears(self)) + 1

    def _output_width(self):
        return _linears(self)[-1].out_features


class MLPClassifierAttributes(MLPAttributes):
    """The classifier's part: one output per class, through a softmax."""

    @property
    def n_outputs_(self):
        """Width of the output layer: one unit per class (2 for binary targets)."""
        return self._output_width()

    @property
    def out_activation_(self):
        """``'logistic'`` for multilabel targets (a sigmoid per label); else ``'softmax'``, binary targets too."""
        _linears(self)
        return "logistic" if self._multilabel else "softmax"


class MLPRegressorAttributes(MLPAttributes):
    """The regressor's part: a linear output layer."""

    @property
    def out_activation_(self):
        """``'identity'``: the output layer is linear."""
        _linears(self)
        return "identity"
