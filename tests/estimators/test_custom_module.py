"""A user's torch module in TorchClassifier and TorchRegressor: the constructor contract and the toolkit."""

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from torch import nn

from skbatch import (
    BaseTorchEstimator,
    TensorBatchIterator,
    TorchClassifier,
    TorchRegressor,
)
from skbatch.demo import results_table
from skbatch.saving import load, save


class TabularNet(nn.Module):
    """Records what fit filled in, so the tests can read the contract back."""

    def __init__(self, n_features_in, n_classes=None, n_outputs=None, hidden=8):
        super().__init__()
        self.filled = {"n_features_in": n_features_in, "n_classes": n_classes, "n_outputs": n_outputs}
        width = n_classes if n_outputs is None else n_outputs
        self.layers = nn.Sequential(nn.Linear(n_features_in, hidden), nn.ReLU(), nn.Linear(hidden, width))

    def forward(self, X):
        return self.layers(X)


class ImageNet(nn.Module):
    """An image module: takes input_shape, checks the batches it gets."""

    def __init__(self, input_shape, n_classes, channels=4):
        super().__init__()
        self.input_shape = input_shape
        in_channels, height, width = input_shape
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(channels * height * width, n_classes),
        )

    def forward(self, X):
        assert X.shape[1:] == self.input_shape
        return self.layers(X)


class TransposedNet(nn.Module):
    """A linear model whose weight is a transposed view: a parameter that is not contiguous."""

    def __init__(self, n_features_in, n_classes):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_classes, n_features_in).t() * 0.1)
        self.bias = nn.Parameter(torch.zeros(n_classes))

    def forward(self, X):
        return X @ self.weight + self.bias


def fast(estimator_class, **params):
    return estimator_class(**{"max_epochs": 2, "random_state": 0, "device": "cpu", **params})


def test_tabular_classifier_module_gets_n_features_in_and_n_classes(small_digits):
    X, y = small_digits
    clf = fast(TorchClassifier, module=TabularNet, module_kwargs={"hidden": 5}).fit(X, y)
    assert clf.net_.module_.filled == {"n_features_in": 64, "n_classes": 10, "n_outputs": None}
    assert clf.net_.module_.layers[0].out_features == 5
    assert clf.input_shape_ == (64,)


@pytest.mark.parametrize("n_targets, n_outputs", [(None, 1), (1, 1), (3, 3)])
def test_regressor_module_gets_n_outputs(small_digits, n_targets, n_outputs):
    X, y = small_digits
    Y = y.astype(np.float32) / 10 if n_targets is None else np.tile(y[:, None] / 10, (1, n_targets))
    reg = fast(TorchRegressor, module=TabularNet).fit(X, Y)
    assert reg.net_.module_.filled == {"n_features_in": 64, "n_classes": None, "n_outputs": n_outputs}
    assert reg.n_outputs_ == n_outputs
    assert reg.predict(X).shape == ((len(X),) if n_outputs == 1 else (len(X), n_outputs))


def test_image_module_gets_input_shape_from_image_shape(small_digits):
    X, y = small_digits
    clf = fast(TorchClassifier, module=ImageNet, image_shape=(1, 8, 8)).fit(X, y)
    assert clf.net_.module_.input_shape == (1, 8, 8)
    assert clf.predict(X).shape == (len(X),)


def test_image_module_gets_input_shape_from_four_dimensional_x(small_digits):
    X, y = small_digits
    X_images = X.reshape(-1, 1, 8, 8)
    clf = fast(TorchClassifier, module=ImageNet, max_epochs=4, lr=2e-2, batch_size=32).fit(X_images, y)
    assert clf.input_shape_ == (1, 8, 8)
    assert clf.n_features_in_ == 1
    assert clf.score(X_images, y) > 0.8


def test_image_module_on_flat_rows_says_which_argument_is_filled_in(small_digits):
    X, y = small_digits
    with pytest.raises(TypeError, match=r"could not build ImageNet\(n_features_in=64, n_classes=10, .*fill in input_shape"):
        fast(TorchClassifier, module=ImageNet).fit(X, y)


@pytest.mark.parametrize(
    "estimator_class, filled",
    [(TorchClassifier, "n_classes"), (TorchClassifier, "input_shape"), (TorchRegressor, "n_outputs")],
)
def test_module_kwargs_must_not_repeat_what_fit_fills_in(small_digits, estimator_class, filled):
    X, y = small_digits
    est = fast(estimator_class, module=TabularNet, module_kwargs={filled: 3})
    match = rf"'module_kwargs' parameter of {estimator_class.__name__} must not set \['{filled}'\]"
    with pytest.raises(InvalidParameterError, match=match):
        est.fit(X, y)


@pytest.mark.parametrize("estimator_class", [TorchClassifier, TorchRegressor])
def test_module_must_be_a_torch_module_class(small_digits, estimator_class):
    X, y = small_digits
    with pytest.raises(InvalidParameterError, match="must be a subclass of torch.nn.Module"):
        fast(estimator_class, module=dict).fit(X, y)


def test_custom_module_trains_on_tensor_slices_on_the_chosen_device(small_digits):
    X, y = small_digits
    clf = fast(TorchClassifier, module=TabularNet, batch_size=64).fit(X, y)
    assert clf.net_.iterator_train is TensorBatchIterator
    assert str(clf.device_) == "cpu"
    assert all(p.device.type == "cpu" for p in clf.net_.module_.parameters())
    assert (clf.batch_size_, clf.n_updates_per_epoch_) == (64, 7)


def test_custom_module_searches_and_reports_like_the_built_ins(small_digits):
    X, y = small_digits
    pipe = make_pipeline(StandardScaler(), fast(TorchClassifier, module=TabularNet))
    grid = {
        "torchclassifier__batch_size": [32, 128],
        "torchclassifier__module_kwargs": [{"hidden": 4}, {"hidden": 16}],
    }
    search = GridSearchCV(pipe, grid, cv=2).fit(X, y)
    table = results_table(search)
    assert len(table) == 4
    assert {"batch_size", "module_kwargs"} <= set(table.columns)


@pytest.mark.parametrize("estimator_class", [TorchClassifier, TorchRegressor])
def test_takes_every_training_param_of_the_base(estimator_class):
    training = set(BaseTorchEstimator().get_params())
    assert set(estimator_class().get_params()) == training | {"module", "module_kwargs", "image_shape"}


def test_a_parameter_that_is_not_contiguous_keeps_the_multi_tensor_kernels(small_digits, tmp_path):
    # torch's fused kernels walk each state tensor in memory order, and a
    # stored state is contiguous: continued from a model file, the transposed
    # weight would be updated from its state read in the other order.
    X, y = small_digits
    X = X / 16
    clf = fast(TorchClassifier, module=TransposedNet, solver="adam", lr=1e-2, warm_start=True).fit(X, y)
    assert not clf.net_.module_.weight.is_contiguous()
    assert clf.net_.optimizer_.defaults["foreach"] is True and not clf.net_.optimizer_.defaults.get("fused")
    save(clf, tmp_path / "model.skbatch")
    loaded = load(tmp_path / "model.skbatch", trusted=[f"{__name__}.TransposedNet"])
    assert not loaded.net_.optimizer_.defaults.get("fused")
    clf.fit(X, y)
    loaded.fit(X, y)
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), atol=1e-6)
