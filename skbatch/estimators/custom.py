"""Estimators around any ``torch.nn.Module`` class of the user's, and the contract ``fit`` builds it by."""

from typing import ClassVar

import torch

from .._compat import InvalidParameterError
from ._docs import fill_doc
from .base import estimator_params
from .input_shapes import IMAGE_SHAPE_CONSTRAINT, ShapedInputMixin
from .targets import BaseTorchClassifier, BaseTorchRegressor

__all__ = ["TorchClassifier", "TorchRegressor"]

# The module contract of TorchClassifier and TorchRegressor.
_INPUT_ARGS = ("n_features_in", "input_shape")


def _check_user_module(estimator, *, output_arg):
    owner = type(estimator).__name__
    if not issubclass(estimator.module, torch.nn.Module):
        raise InvalidParameterError(
            f"The 'module' parameter of {owner} must be a subclass of "
            f"torch.nn.Module (the class, not an instance). Got {estimator.module!r} instead."
        )
    filled = sorted(set(estimator.module_kwargs or {}) & {*_INPUT_ARGS, output_arg})
    if filled:
        raise InvalidParameterError(
            f"The 'module_kwargs' parameter of {owner} must not set {filled}: fit fills "
            f"in {', '.join(_INPUT_ARGS)} and {output_arg} from the data. Remove "
            f"{filled} from module_kwargs."
        )


def _build_user_module(estimator, n_features_in, **outputs):
    """Build ``estimator.module`` with the arguments its contract promises."""
    input_shape = estimator._module_input_shape(n_features_in)
    if len(input_shape) == 1:
        inputs = {"n_features_in": n_features_in}
    else:
        inputs = {"input_shape": input_shape}
    kwargs = {**inputs, **outputs, **(estimator.module_kwargs or {})}
    try:
        return estimator.module(**kwargs)
    except TypeError as error:
        filled = ", ".join(f"{name}={value!r}" for name, value in {**inputs, **outputs}.items())
        raise TypeError(
            f"{type(estimator).__name__} could not build {estimator.module.__name__}({filled}, "
            f"**module_kwargs): {error}. Samples that are vectors (2-D X, image_shape=None) "
            "fill in n_features_in; samples with more dimensions (X of 3+ dimensions, or "
            "image_shape set) fill in input_shape instead."
        ) from error


@estimator_params
class _UserModuleParams:
    """The params TorchClassifier and TorchRegressor add.

    The last base, so that these fields lead the signature: a dataclass lists
    the fields of later bases first.
    """

    module: type[torch.nn.Module] | None = None
    module_kwargs: dict | None = None
    image_shape: tuple[int, ...] | None = None

    _parameter_constraints: ClassVar[dict] = {
        "module": [type],
        "module_kwargs": [dict, None],
        "image_shape": IMAGE_SHAPE_CONSTRAINT,
    }


@fill_doc
@estimator_params
class TorchClassifier(ShapedInputMixin, BaseTorchClassifier, _UserModuleParams):
    """Classifier around any ``torch.nn.Module`` class, trained by skorch.

    The module gets the same treatment as the built-in networks: it is
    built in ``fit``, with its input size and number of classes taken from
    the data, trained on slices of tensors held on the device, and searched
    like any scikit-learn estimator.

    **The module contract.** ``fit`` builds the module with keyword arguments:

    {module_inputs}
    - ``n_classes`` (int), the number of classes in ``y``;
    - everything in ``module_kwargs``.

    So it is ``module(n_features_in=..., n_classes=..., **module_kwargs)``
    for tabular data. ``forward`` takes float32 batches and returns
    unnormalised scores (logits) of shape ``(batch, n_classes)``; the loss
    is ``torch.nn.CrossEntropyLoss``.

    Parameters
    ----------
    {module}
    {module_kwargs}
    {image_shape}
    {training_params}

    Attributes
    ----------
    {fitted_attributes}

    See Also
    --------
    MLPClassifier : The same estimator with a built-in multilayer perceptron.
    ConvNetClassifier : The same estimator with a built-in convolutional network.
    TorchRegressor : The same contract for regression targets.

    Examples
    --------
    >>> from torch import nn
    >>> from sklearn.datasets import load_iris
    >>> from skbatch import TorchClassifier
    >>> class Net(nn.Module):
    ...     def __init__(self, n_features_in, n_classes, hidden=16):
    ...         super().__init__()
    ...         self.layers = nn.Sequential(
    ...             nn.Linear(n_features_in, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))
    ...     def forward(self, X):
    ...         return self.layers(X)
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = TorchClassifier(module=Net, module_kwargs={"hidden": 32}, max_epochs=5,
    ...                       random_state=0, device="cpu").fit(X, y)
    >>> clf.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints: ClassVar[dict] = {
        **BaseTorchClassifier._parameter_constraints,
        **_UserModuleParams._parameter_constraints,
    }

    def _check_params(self):
        _check_user_module(self, output_arg="n_classes")

    def _build_module(self, n_features_in, n_classes):
        return _build_user_module(self, n_features_in, n_classes=n_classes)


@fill_doc
@estimator_params
class TorchRegressor(ShapedInputMixin, BaseTorchRegressor, _UserModuleParams):
    """Regressor around any ``torch.nn.Module`` class, trained by skorch.

    The module gets the same treatment as the built-in networks: it is
    built in ``fit``, with its input size and number of outputs taken from
    the data, trained on slices of tensors held on the device, and searched
    like any scikit-learn estimator.

    **The module contract.** ``fit`` builds the module with keyword arguments:

    {module_inputs}
    - ``n_outputs`` (int), the number of targets: 1 for a 1-D ``y``, else
      ``y.shape[1]``;
    - everything in ``module_kwargs``.

    So it is ``module(n_features_in=..., n_outputs=..., **module_kwargs)``
    for tabular data. ``forward`` takes float32 batches and returns
    predictions of shape ``(batch, n_outputs)``; the loss is
    ``torch.nn.MSELoss``.

    Parameters
    ----------
    {module}
    {module_kwargs}
    {image_shape}
    {training_params}

    Attributes
    ----------
    {fitted_attributes}

    See Also
    --------
    MLPRegressor : The same estimator with a built-in multilayer perceptron.
    TorchClassifier : The same contract for class labels.

    Examples
    --------
    >>> from torch import nn
    >>> from sklearn.datasets import load_diabetes
    >>> from skbatch import TorchRegressor
    >>> class Net(nn.Module):
    ...     def __init__(self, n_features_in, n_outputs, hidden=16):
    ...         super().__init__()
    ...         self.layers = nn.Sequential(
    ...             nn.Linear(n_features_in, hidden), nn.ReLU(), nn.Linear(hidden, n_outputs))
    ...     def forward(self, X):
    ...         return self.layers(X)
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = TorchRegressor(module=Net, module_kwargs={"hidden": 32}, max_epochs=5,
    ...                      random_state=0, device="cpu").fit(X, y / 100)
    >>> reg.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints: ClassVar[dict] = {
        **BaseTorchRegressor._parameter_constraints,
        **_UserModuleParams._parameter_constraints,
    }

    def _check_params(self):
        _check_user_module(self, output_arg="n_outputs")

    def _build_module(self, n_features_in, n_outputs):
        return _build_user_module(self, n_features_in, n_outputs=n_outputs)
