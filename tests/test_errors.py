"""Every bad input gets a clear error raised in fit (or predict), naming the param and the value."""

import numpy as np
import pytest
from torch import nn

from skbatch import MLPClassifier, TorchClassifier
from skbatch.devices import resolve as devices


@pytest.mark.parametrize(
    "params, message",
    [
        ({"batch_size": 0}, r"'batch_size' parameter of MLPClassifier must be .*Got 0 instead"),
        ({"batch_size": -2}, r"'batch_size' parameter of MLPClassifier must be .*Got -2 instead"),
        ({"batch_size": 2.5}, r"'batch_size' parameter of MLPClassifier must be .*Got 2.5 instead"),
        ({"batch_size": "big"}, r"'batch_size' parameter of MLPClassifier must be .*Got 'big' instead"),
        ({"hidden_layer_sizes": ()}, r"'hidden_layer_sizes' parameter of MLPClassifier must be a non-empty .*Got \(\) instead"),
        ({"hidden_layer_sizes": (0,)}, r"'hidden_layer_sizes' .*Got \(0,\) instead"),
        ({"hidden_layer_sizes": (64, -5)}, r"'hidden_layer_sizes' .*Got \(64, -5\) instead"),
        ({"hidden_layer_sizes": "128-x"}, r"'hidden_layer_sizes' .*Got '128-x' instead"),
        ({"hidden_layer_sizes": ""}, r"'hidden_layer_sizes' .*Got '' instead"),
        ({"hidden_layer_sizes": -3}, r"'hidden_layer_sizes' parameter of MLPClassifier must be"),
        ({"hidden_layer_sizes": (2.5,)}, r"'hidden_layer_sizes' .*Got \(2.5,\) instead"),
        ({"activation": "softmax"}, r"'activation' parameter of MLPClassifier must be a str among .*Got 'softmax'"),
        ({"solver": "newton"}, r"'solver' parameter of MLPClassifier must be a str among .*Got 'newton'"),
        ({"learning_rate": "cosine"}, r"'learning_rate' parameter of MLPClassifier .*Got 'cosine'"),
        ({"lr": -0.1}, r"'lr' parameter of MLPClassifier must be a float in the range \(0.0, inf\). Got -0.1"),
        ({"lr": 0}, r"'lr' parameter of MLPClassifier must be a float in the range \(0.0, inf\). Got 0"),
        ({"alpha": -1.0}, r"'alpha' parameter of MLPClassifier must be a float in the range \[0.0, inf\). Got -1.0"),
        ({"dropout": 1.0}, r"'dropout' parameter of MLPClassifier must be a float in the range \[0.0, 1.0\)"),
        ({"max_epochs": 0}, r"'max_epochs' parameter of MLPClassifier must be an int in the range \[1, inf\)"),
        ({"validation_fraction": 1.0}, r"'validation_fraction' parameter of MLPClassifier"),
        ({"momentum": 1.5}, r"'momentum' parameter of MLPClassifier"),
        ({"device": "tpu"}, r"'device' parameter must be 'auto', 'cpu', 'cuda' or 'cuda:N'. Got 'tpu'"),
    ],
)
def test_bad_params_raise_in_fit(small_digits, params, message):
    clf = MLPClassifier(**{"max_epochs": 1, **params})  # the constructor never validates
    with pytest.raises(ValueError, match=message):
        clf.fit(*small_digits)


def test_cuda_without_cuda(monkeypatch, small_digits):
    monkeypatch.setattr(devices, "_cuda_device_count", lambda: 0)
    with pytest.raises(ValueError, match=r"device='cuda:0' asks for CUDA, but"):
        MLPClassifier(device="cuda:0", max_epochs=1).fit(*small_digits)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs(small_digits, bad):
    X, y = small_digits
    X = X.copy()
    X[3, 5] = bad
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        MLPClassifier(max_epochs=1).fit(X, y)


def test_wrong_number_of_features_at_predict(small_digits):
    X, y = small_digits
    clf = MLPClassifier(max_epochs=1, hidden_layer_sizes=(8,)).fit(X, y)
    with pytest.raises(ValueError, match="X has 10 features, but MLPClassifier is expecting 64 features"):
        clf.predict(X[:, :10])


def test_single_class(small_digits):
    X, _ = small_digits
    with pytest.raises(ValueError, match=r"only one class is present: y holds the single class 'a'"):
        MLPClassifier(max_epochs=1).fit(X, ["a"] * len(X))


def test_continuous_target(small_digits):
    X, _ = small_digits
    with pytest.raises(ValueError, match="Unknown label type"):
        MLPClassifier(max_epochs=1).fit(X, np.linspace(0, 1, len(X)))


def test_partial_fit_needs_classes_first(small_digits):
    with pytest.raises(ValueError, match="classes must be passed on the first call to partial_fit"):
        MLPClassifier().partial_fit(*small_digits)


def test_partial_fit_with_other_classes(small_digits):
    X, y = small_digits
    clf = MLPClassifier(hidden_layer_sizes=(8,)).partial_fit(X, y, classes=np.arange(10))
    with pytest.raises(ValueError, match=r"classes=\[0, 1\] is not the same as on the first call to partial_fit, which was \[0, 1, 2"):
        clf.partial_fit(X, y, classes=[0, 1])


def test_partial_fit_with_unseen_labels(small_digits):
    X, y = small_digits
    clf = MLPClassifier(hidden_layer_sizes=(8,)).partial_fit(X, y % 2, classes=[0, 1])
    with pytest.raises(ValueError, match=r"y contains labels \[2, 3, .*\] that are not in classes_ \[0, 1\]"):
        clf.partial_fit(X, y)


def test_warm_start_with_other_classes(small_digits):
    X, y = small_digits
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_epochs=1, warm_start=True).fit(X, y)
    match = r"warm_start can only be used where `y` has the same classes .*Previously got \[0 1 .* 9\], `y` has \[0 1 2\]"
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y % 3)


def test_predict_before_fit():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        MLPClassifier().predict(np.zeros((2, 3)))


def test_torch_classifier_needs_a_module_class(small_digits):
    with pytest.raises(ValueError, match=r"'module' parameter of TorchClassifier must be an instance of 'type'"):
        TorchClassifier(module=nn.Linear(64, 10)).fit(*small_digits)
    with pytest.raises(ValueError, match=r"'module' parameter of TorchClassifier must be a subclass of torch.nn.Module"):
        TorchClassifier(module=dict).fit(*small_digits)


def _iris():
    from sklearn.datasets import load_iris
    from sklearn.preprocessing import StandardScaler

    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def test_lbfgs_with_noise_growth_names_lbfgs():
    X, y = _iris()
    net = MLPClassifier(solver="lbfgs", batch_size_growth="noise", max_epochs=3, device="cpu")
    with pytest.raises(
        ValueError,
        match="batch_size_growth='noise' of MLPClassifier grows the batch.*solver='lbfgs' "
        "trains on one full batch.*Use solver='adam' or 'sgd'",
    ):
        net.fit(X, y)


def test_lbfgs_with_track_noise_scale_has_the_documented_noise_scale_curve():
    X, y = _iris()
    net = MLPClassifier(solver="lbfgs", track_noise_scale=True, max_epochs=3, device="cpu", random_state=0).fit(X, y)
    # A full batch has no batch-to-batch noise: NaN where no estimate could be made, as documented.
    assert len(net.noise_scale_curve_) == len(net.history_) and np.isnan(net.noise_scale_curve_).all()
    assert MLPClassifier(solver="lbfgs", max_epochs=3, device="cpu").fit(X, y).noise_scale_curve_ is None


@pytest.mark.parametrize(
    "y, match",
    [
        (np.where(np.arange(150) % 2, 1.0, None), "y holds NaN, None or infinite values \\(the first at row 0\\)"),
        (np.array([None] * 150, dtype=object), "y holds NaN, None or infinite values"),
        (np.full(150, 1e39), "y holds values beyond float32's range \\(largest \\|y\\| is 1e\\+39"),
    ],
)
def test_a_regressor_target_it_cannot_train_on_is_refused_not_blamed_on_lr(y, match):
    from skbatch import MLPRegressor

    X, _ = _iris()
    with pytest.raises(ValueError, match=match):
        MLPRegressor(max_epochs=2, device="cpu").fit(X, y)


@pytest.mark.parametrize("sizes", [(10**7, 10**7), "1000000-1000000"])
def test_layers_no_machine_could_hold_are_refused_naming_the_param(sizes):
    X, y = _iris()
    with pytest.raises(
        ValueError,
        match="'hidden_layer_sizes' parameter of MLPClassifier gives a network of "
        ".* weights, which needs at least .* GiB to train.*Pass smaller layers",
    ):
        MLPClassifier(hidden_layer_sizes=sizes, max_epochs=1, device="cpu").fit(X, y)
