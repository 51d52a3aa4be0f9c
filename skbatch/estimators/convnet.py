"""ConvNetClassifier: a small convolutional network for images, with flat params for searches."""

from numbers import Integral, Real
from typing import ClassVar

from .._compat import Interval, StrOptions
from ..training.modules import ACTIVATIONS, POOLINGS, ConvNetModule
from ..training.seeding import fit_generator, own_generator
from ._docs import fill_doc
from .base import estimator_params
from .input_shapes import IMAGE_SHAPE_CONSTRAINT, ShapedInputMixin
from .mlp import parse_hidden_layer_sizes
from .targets import BaseTorchClassifier

__all__ = ["ConvNetClassifier"]

_LAYER_SIZES = ["array-like", str, Interval(Integral, 1, None, closed="left")]


@estimator_params
class _ConvNetParams:
    """The params ConvNetClassifier adds.

    The last base, so that these fields lead the signature: a dataclass lists
    the fields of later bases first.
    """

    channels: tuple[int, ...] | int | str = (16, 32)
    kernel_size: int = 3
    pooling: str | None = "max"
    dense_layer_sizes: tuple[int, ...] | int | str = (64,)
    activation: str = "relu"
    dropout: float = 0.0
    image_shape: tuple[int, ...] | None = None

    _parameter_constraints: ClassVar[dict] = {
        "channels": _LAYER_SIZES,
        "kernel_size": [Interval(Integral, 1, None, closed="left")],
        "pooling": [StrOptions(set(POOLINGS)), None],
        "dense_layer_sizes": _LAYER_SIZES,
        "activation": [StrOptions(set(ACTIVATIONS))],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "image_shape": IMAGE_SHAPE_CONSTRAINT,
    }


@fill_doc
@estimator_params
class ConvNetClassifier(ShapedInputMixin, BaseTorchClassifier, _ConvNetParams):
    """Convolutional network classifier for small images, with flat params.

    The design is a handful of params a search can vary: ``channels`` per
    convolution block, ``kernel_size``, ``pooling``, ``dense_layer_sizes``
    and ``dropout``; training takes every param :class:`MLPClassifier`
    has. Each block is a convolution (``'same'`` padding), the activation
    and a 2x2 pooling; dense layers and a linear output follow.

    Images come as flat rows with ``image_shape`` (digits:
    ``image_shape=(8, 8)``), as a 3-D array ``(n_samples, height, width)``
    or as a 4-D array ``(n_samples, channels, height, width)``, channels
    first as in PyTorch. The number of channels and of classes come from
    the data. Flat rows without ``image_shape`` are read as images one
    pixel high, so the convolutions run along the features.

    Parameters
    ----------
    channels : tuple of int, int or str, default=(16, 32)
        Output channels of each convolution block: ``(16, 32)``, ``16``, or
        ``'16-32'`` (the form to use in scikit-optimize's ``Categorical``).
    kernel_size : int, default=3
        Side of the square convolution kernels.
    pooling : {'max', 'avg'} or None, default='max'
        2x2 pooling after each convolution, halving height and width (a
        side shorter than 2 is left alone); None keeps full resolution.
    dense_layer_sizes : tuple of int, int or str, default=(64,)
        Width of each dense hidden layer after the convolutions, in the
        same forms as ``channels``; ``()`` for none.
    activation : {'relu', 'tanh', 'logistic', 'identity', 'gelu'}, default='relu'
        Nonlinearity after each convolution and dense hidden layer.
    dropout : float, default=0.0
        Probability of zeroing a unit of the flattened convolution output
        and of each dense hidden layer during training, in [0, 1).
    image_shape : tuple of int, default=None
        Shape of one image when ``X`` holds flat rows: ``(height, width)``
        or ``(channels, height, width)``; ``(8, 8)`` for digits. None for
        3-D or 4-D ``X``, which carries its own shape.
    {training_params}

    Attributes
    ----------
    {fitted_attributes}

    See Also
    --------
    MLPClassifier : The same training with a multilayer perceptron.
    TorchClassifier : The same training around a torch module of your own.

    Notes
    -----
    Pixels are converted to float32; scale them (digits: divide by 16).
    ``net_.module_`` is a :class:`skbatch.training.modules.ConvNetModule`.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skbatch import ConvNetClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = ConvNetClassifier(image_shape=(8, 8), channels=(8, 16), max_epochs=3,
    ...                         random_state=0, device="cpu").fit(X / 16, y)
    >>> clf.input_shape_, clf.predict(X[:3] / 16).shape
    ((1, 8, 8), (3,))
    """

    _parameter_constraints: ClassVar[dict] = {
        **BaseTorchClassifier._parameter_constraints,
        **_ConvNetParams._parameter_constraints,
    }

    def _check_params(self):
        self._layer_sizes()

    def _layer_sizes(self):
        owner = type(self).__name__
        channels = parse_hidden_layer_sizes(self.channels, owner, param="channels")
        dense = parse_hidden_layer_sizes(self.dense_layer_sizes, owner, param="dense_layer_sizes", allow_empty=True)
        return channels, dense

    def _sample_shape(self, X):
        shape = tuple(super()._sample_shape(X))
        if len(shape) == 1:
            return (1, 1, shape[0])
        if len(shape) == 2:
            return (1, *shape)
        if len(shape) == 3:
            return shape
        raise ValueError(
            f"{type(self).__name__} takes images of shape (height, width) or (channels, "
            f"height, width), but X holds samples of shape {shape}. Pass a 3-D or 4-D X, "
            "or flat rows with image_shape."
        )

    @own_generator
    def _build_module(self, n_features_in, n_classes):
        channels, dense = self._layer_sizes()
        return ConvNetModule(
            self._module_input_shape(n_features_in),
            n_classes,
            channels=channels,
            kernel_size=self.kernel_size,
            pooling=self.pooling,
            dense_layer_sizes=dense,
            activation=self.activation,
            dropout=self.dropout,
            generator=fit_generator(),
        )
