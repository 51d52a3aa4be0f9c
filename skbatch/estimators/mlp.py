"""MLPClassifier: scikit-learn's multilayer perceptron params, trained by PyTorch."""

import os
from numbers import Integral, Real
from typing import ClassVar

from .._compat import Interval, InvalidParameterError, StrOptions
from ..training.modules import ACTIVATIONS, MLPModule
from ..training.seeding import fit_generator, own_generator
from ._docs import fill_doc
from .base import estimator_params
from .mlp_attributes import MLPClassifierAttributes, MLPRegressorAttributes
from .targets import BaseTorchClassifier, BaseTorchRegressor

__all__ = ["MLPClassifier", "MLPRegressor", "parse_hidden_layer_sizes"]


def parse_hidden_layer_sizes(value, owner="MLPClassifier", *, param="hidden_layer_sizes", allow_empty=False):
    """Return ``hidden_layer_sizes`` (or another list of layer sizes) as a tuple of positive ints.

    Parameters
    ----------
    value : int, str or sequence of int
        ``(128, 64)``, ``[128, 64]``, ``128`` (one layer) or ``'128-64'``.
        The string form exists for scikit-optimize, whose ``Categorical``
        cannot hold tuples: ``Categorical(['64', '128-64'])`` works.
    owner : str, default='MLPClassifier'
        Estimator name for the error message.
    param : str, default='hidden_layer_sizes'
        Param name for the error message.
    allow_empty : bool, default=False
        Accept ``()``, ``[]`` and ``''`` as no layers at all.

    Returns
    -------
    tuple of int

    Raises
    ------
    InvalidParameterError
        If the value is empty (unless allowed) or holds anything but positive ints.
    """
    if allow_empty and isinstance(value, (str, tuple, list)) and len(value) == 0:
        return ()
    if isinstance(value, str):
        parts = value.split("-")
        sizes = tuple(int(p) if p.strip().isdigit() else None for p in parts) if value else ()
    elif isinstance(value, Integral) and not isinstance(value, bool):
        sizes = (value,)
    else:
        try:
            sizes = tuple(value)
        except TypeError:
            sizes = (None,)
    valid = sizes and all(isinstance(s, Integral) and not isinstance(s, bool) and s >= 1 for s in sizes)
    if not valid:
        raise InvalidParameterError(
            f"The {param!r} parameter of {owner} must be a non-empty "
            "tuple of positive ints such as (128, 64), an int, or a string such "
            f"as '128-64'. Got {value!r} instead."
        )
    return tuple(int(s) for s in sizes)


# What training holds per weight at the least: the weight, its gradient and
# Adam's two moments, as float32.
_TRAINING_BYTES_PER_WEIGHT = 4 * 4


def _physical_memory():
    """Bytes of memory this machine has; None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _check_fits_in_memory(estimator, widths):
    """Raise InvalidParameterError, before any tensor is made, if no machine this size could train the network.

    ``widths`` are the layer widths from input to output. The bound is the
    whole memory of the machine, so a network refused here could not have
    been built, and one that passes is for the training to size (batch
    sizes, the device's own memory).
    """
    weights = sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(widths[:-1], widths[1:]))
    total = _physical_memory()
    if total is None or weights * _TRAINING_BYTES_PER_WEIGHT <= total:
        return
    raise InvalidParameterError(
        f"The 'hidden_layer_sizes' parameter of {type(estimator).__name__} gives a network of {weights:.3g} "
        f"weights, which needs at least {weights * _TRAINING_BYTES_PER_WEIGHT / 2**30:.3g} GiB to train "
        f"(weights, gradients and the optimizer's state as float32): more than the {total / 2**30:.3g} GiB "
        f"of memory of this machine. Got {estimator.hidden_layer_sizes!r} instead. Pass smaller layers."
    )


class _MLPNetwork:
    """The network of MLPClassifier and MLPRegressor, built from the params of ``_MLPParams``."""

    def _check_params(self):
        parse_hidden_layer_sizes(self.hidden_layer_sizes, type(self).__name__)

    @own_generator
    def _build_module(self, n_features_in, n_outputs):
        sizes = parse_hidden_layer_sizes(self.hidden_layer_sizes, type(self).__name__)
        _check_fits_in_memory(self, (n_features_in, *sizes, n_outputs))
        return MLPModule(
            n_features_in,
            n_outputs,
            hidden_layer_sizes=sizes,
            activation=self.activation,
            dropout=self.dropout,
            generator=fit_generator(),
        )

    def _net_params(self):
        params = super()._net_params()
        # MLPModule multiplies a sparse batch as it is (training/sparse.py).
        # On the CPU that is several times faster than densifying it; on an
        # accelerator the batch is densified there, whose dense product is
        # cheap next to the sparse kernels (docs: "Sparse input").
        if self.device_.type == "cpu":
            params.update(iterator_train__keep_sparse=True, iterator_valid__keep_sparse=True)
        return params


@estimator_params
class _MLPParams:
    """The params MLPClassifier and MLPRegressor add.

    The last base, so that these fields lead the signature, as in scikit-learn's
    MLPClassifier: a dataclass lists the fields of later bases first.
    """

    hidden_layer_sizes: tuple[int, ...] | int | str = (100,)
    activation: str = "relu"
    dropout: float = 0.0

    _parameter_constraints: ClassVar[dict] = {
        "hidden_layer_sizes": ["array-like", str, Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }


@estimator_params
class _MLPRegressorParams(_MLPParams):
    """The param MLPRegressor adds to the MLP's: its loss, as in scikit-learn's MLPRegressor."""

    loss: str = "squared_error"

    _parameter_constraints: ClassVar[dict] = {
        **_MLPParams._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
    }


@fill_doc
@estimator_params
class MLPClassifier(MLPClassifierAttributes, _MLPNetwork, BaseTorchClassifier, _MLPParams):
    """Multilayer perceptron classifier in PyTorch, with scikit-learn's param names.

    A grid written for :class:`sklearn.neural_network.MLPClassifier` over
    ``hidden_layer_sizes``, ``activation``, ``solver``, ``alpha``,
    ``learning_rate``, ``momentum``, ``batch_size`` and friends runs
    unchanged; the learning rate is ``lr`` and the epoch budget
    ``max_epochs``, as in skorch.

    Parameters
    ----------
    {hidden_layer_sizes}
    {activation}
    {dropout}
    {training_params}

    Attributes
    ----------
    {fitted_attributes}
    {mlp_attributes}

    See Also
    --------
    TorchClassifier : The same training around a torch module of your own.
    MLPRegressor : The same network for regression targets.
    sklearn.neural_network.MLPClassifier : scikit-learn's NumPy implementation.

    Notes
    -----
    Inputs are converted to float32 and labels to class indices. Training
    batches are slices of tensors moved to the device once per ``fit``,
    which keeps the cost per step close to a hand-written PyTorch loop.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skbatch import MLPClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(64,), batch_size=32, max_epochs=5,
    ...                     random_state=0, device="cpu").fit(X / 16, y)
    >>> clf.batch_size_, clf.n_updates_per_epoch_
    (32, 57)
    """

    _parameter_constraints: ClassVar[dict] = {
        **BaseTorchClassifier._parameter_constraints,
        **_MLPParams._parameter_constraints,
    }


@fill_doc
@estimator_params
class MLPRegressor(MLPRegressorAttributes, _MLPNetwork, BaseTorchRegressor, _MLPRegressorParams):
    """Multilayer perceptron regressor in PyTorch, with scikit-learn's param names.

    The twin of :class:`MLPClassifier` for real-valued targets, one or
    several: the same params, a squared-error loss (or ``loss='poisson'``), and scikit-learn's
    regressor conventions (``score`` is R², a 1-D ``y`` gives 1-D
    predictions). A grid written for
    :class:`sklearn.neural_network.MLPRegressor` over
    ``hidden_layer_sizes``, ``activation``, ``solver``, ``alpha``,
    ``learning_rate``, ``momentum``, ``batch_size`` and friends runs
    unchanged; the learning rate is ``lr`` and the epoch budget
    ``max_epochs``, as in skorch.

    Parameters
    ----------
    {hidden_layer_sizes}
    {activation}
    {dropout}
    {loss}
    {training_params}

    Attributes
    ----------
    {fitted_attributes}
    {mlp_attributes}

    See Also
    --------
    TorchRegressor : The same training around a torch module of your own.
    MLPClassifier : The same network for class labels.
    sklearn.neural_network.MLPRegressor : scikit-learn's NumPy implementation.

    Notes
    -----
    Inputs and targets are converted to float32. Scale the targets (for
    instance with :class:`sklearn.compose.TransformedTargetRegressor`):
    the output layer is linear and starts near zero. Training
    batches are slices of tensors moved to the device once per ``fit``,
    which keeps the cost per step close to a hand-written PyTorch loop.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from skbatch import MLPRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = MLPRegressor(hidden_layer_sizes=(64,), batch_size=32, max_epochs=5,
    ...                    random_state=0, device="cpu").fit(X, y / 100)
    >>> reg.batch_size_, reg.n_updates_per_epoch_, reg.predict(X[:2]).shape
    (32, 14, (2,))
    """

    _parameter_constraints: ClassVar[dict] = {
        **BaseTorchRegressor._parameter_constraints,
        **_MLPRegressorParams._parameter_constraints,
    }
