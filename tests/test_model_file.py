"""save_model and load_model: a fitted model in a skops file that loads as data, without running code."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import InvalidParameterError

from skbatch import MLPClassifier, MLPRegressor, TorchClassifier
from skbatch.cli_data import make_preprocessing
from skbatch.model_file import load_model, save_model

sio = pytest.importorskip("skops.io")


@pytest.fixture(scope="module")
def iris_with_text():
    X, y = load_iris(return_X_y=True, as_frame=True)
    X = X.assign(color=np.where(X["sepal length (cm)"] > 5.8, "red", "blue"))
    return X, y.map({0: "setosa", 1: "versicolor", 2: "virginica"})


def test_a_pipeline_round_trips_and_predicts_the_same(iris_with_text, tmp_path):
    X, y = iris_with_text
    model = make_pipeline(make_preprocessing(X), MLPClassifier(hidden_layer_sizes="16-8", max_epochs=3, random_state=0))
    model.fit(X, y)
    path = tmp_path / "model.skops"
    save_model(model, path)
    assert sio.get_untrusted_types(file=path) == []
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    network = loaded[-1]
    np.testing.assert_array_equal(network.classes_, model[-1].classes_)
    assert network.get_params()["hidden_layer_sizes"] == "16-8" and network.n_iter_ == 3
    # Columns are checked by name, as in the model that was saved.
    with pytest.raises(ValueError, match="color"):
        loaded.predict(X.drop(columns="color"))


def test_a_regressor_alone_round_trips(tmp_path):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 3)).astype(np.float32)
    y = X @ np.array([1.0, -2.0, 0.5])
    model = MLPRegressor(hidden_layer_sizes=(8,), max_epochs=3, random_state=0, cache_dir=str(tmp_path)).fit(X, y)
    save_model(model, tmp_path / "reg.skops")
    loaded = load_model(tmp_path / "reg.skops")
    assert loaded.cache_dir is None, "the training machine's cache path does not travel"
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_a_file_with_other_types_is_refused_before_anything_runs(tmp_path):
    # A class skops does not trust: load refuses to build it, so none of its code runs.
    sio.dump({"format": "skbatch-model/1", "payload": pd.Timedelta(1)}, tmp_path / "evil.skops")
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        load_model(tmp_path / "evil.skops")
    sio.dump({"format": "something else"}, tmp_path / "other.skops")
    with pytest.raises(ValueError, match="is not a model file written by skbatch.model_file.save_model"):
        load_model(tmp_path / "other.skops")


def test_estimators_whose_network_is_user_code_are_refused(tmp_path):
    import torch

    model = TorchClassifier(module=torch.nn.Linear, max_epochs=1)
    with pytest.raises(TypeError, match="save_model saves MLPClassifier, MLPRegressor, ConvNetClassifier"):
        save_model(model, tmp_path / "custom.skops")


def _iris_model(tmp_path, y=None):
    X, labels = load_iris(return_X_y=True)
    model = MLPClassifier(hidden_layer_sizes=(8,), max_epochs=3, lr=0.02, batch_size=32, random_state=0, device="cpu")
    with pytest.warns(Warning):  # not converged in 3 epochs
        model.fit(X, labels if y is None else y)
    save_model(model, tmp_path / "model.skops")
    return X, model


def _rewrite(path, edit):
    content = sio.load(path)
    edit(content)
    sio.dump(content, path)


def test_a_multilabel_model_loads_as_multilabel(tmp_path):
    _, labels = load_iris(return_X_y=True)
    Y = np.eye(3, dtype=int)[labels]
    Y[::4, 0] = 1
    X, model = _iris_model(tmp_path, Y)
    loaded = load_model(tmp_path / "model.skops")
    assert loaded.predict(X[:2]).shape == model.predict(X[:2]).shape == (2, 3)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize("edit, error, match", [
    (lambda c: c["fitted"].update(predict=1), ValueError, "sets 'predict', which is not a fitted attribute"),
    (lambda c: c["fitted"].update(lr=1000.0), ValueError, "sets 'lr', which is not a fitted attribute"),
    (lambda c: c["fitted"].update(classes_=np.array([2, 1, 0])), ValueError, "fitted attribute classes_ holds"),
    (lambda c: c["params"].update(hidden_layer_sizes="1000000-1000000"), InvalidParameterError,
     "'hidden_layer_sizes' parameter of MLPClassifier gives a network of 1e\\+12 weights"),
    (lambda c: c["params"].update(hidden_layer_sizes="8-x"), InvalidParameterError, "'hidden_layer_sizes' parameter"),
    (lambda c: c["params"].update(lr=-1.0), InvalidParameterError, "'lr' parameter of MLPClassifier"),
    (lambda c: c["params"].update(not_a_param=1), ValueError, r"sets \['not_a_param'\], which are not params"),
    (lambda c: c["state_dict"]["layers.0.weight"].fill(np.nan), ValueError, "layers.0.weight holds NaN"),
    (lambda c: c["state_dict"].update({"layers.0.weight": c["state_dict"]["layers.0.weight"].astype(np.int8)}),
     ValueError, "layers.0.weight is torch.int8"),
    (lambda c: c["state_dict"].update({"layers.0.weight": c["state_dict"]["layers.0.weight"][:4]}),
     ValueError, "layers.0.weight is torch.float32 of shape \\(4, 4\\)"),
    (lambda c: c.update(format="skbatch-model/1"), ValueError, "format, skbatch-model/1, does not say whether"),
], ids=["method", "param-as-attribute", "classes", "huge-layers", "bad-layers", "bad-lr", "unknown-param", "nan",
        "int8", "shape", "format-1"])
def test_a_file_is_loaded_only_if_every_part_is_what_save_model_wrote(tmp_path, edit, error, match):
    _iris_model(tmp_path)
    _rewrite(tmp_path / "model.skops", edit)
    with pytest.raises(error, match=match):
        load_model(tmp_path / "model.skops")


def test_a_truncated_file_raises_value_error(tmp_path):
    _iris_model(tmp_path)
    data = (tmp_path / "model.skops").read_bytes()
    (tmp_path / "model.skops").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="is not a readable model file.*BadZipFile.*Save the model again"):
        load_model(tmp_path / "model.skops")
