"""skbatch.save and skbatch.load: one file for a fitted network and the steps around it, loaded without running code."""

import io
import json
import sys
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_iris
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

import skbatch
from skbatch import ConvNetClassifier, MLPClassifier, MLPRegressor, TorchClassifier
from skbatch.cache.entry import pack_entry, unpack_entry
from skbatch.cache.store import FitCache
from skbatch.cli_data import make_preprocessing

sio = pytest.importorskip("skops.io")

X_IRIS, Y_IRIS = load_iris(return_X_y=True)


def _quiet(fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not converged in a few epochs
        return fit()


def _classifier(**params):
    defaults = dict(hidden_layer_sizes=(8,), max_epochs=3, lr=0.02, batch_size=32, random_state=0, device="cpu")
    return MLPClassifier(**{**defaults, **params})


@pytest.fixture(scope="module")
def iris_with_text():
    X, y = load_iris(return_X_y=True, as_frame=True)
    X = X.assign(color=np.where(X["sepal length (cm)"] > 5.8, "red", "blue"))
    return X, y.map({0: "setosa", 1: "versicolor", 2: "virginica"})


# --- round trips -------------------------------------------------------------


def test_a_fitted_pipeline_round_trips_and_predicts_the_same(iris_with_text, tmp_path):
    X, y = iris_with_text
    model = make_pipeline(make_preprocessing(X), _classifier(hidden_layer_sizes="16-8"))
    _quiet(lambda: model.fit(X, y))
    skbatch.save(model, tmp_path / "model.skbatch")
    assert skbatch.saving.get_untrusted_types(tmp_path / "model.skbatch") == []
    loaded = skbatch.load(tmp_path / "model.skbatch")
    assert list(loaded.named_steps) == list(model.named_steps)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    network = loaded[-1]
    assert network.get_params() == model[-1].get_params()
    np.testing.assert_array_equal(network.classes_, model[-1].classes_)
    assert network.n_iter_ == 3 and network.loss_curve_ == model[-1].loss_curve_
    assert network.device_ == torch.device("cpu")
    # Columns are checked by name, as in the model that was saved.
    with pytest.raises(ValueError, match="color"):
        loaded.predict(X.drop(columns="color"))


def test_a_file_whose_optimizer_ran_other_kernels_loads_and_continues_on_this_versions(tmp_path, monkeypatch):
    # Files written when fits ran torch's multi-tensor kernels (foreach) load:
    # the kernels are this version's choice, not a setting of the model.
    import skbatch.estimators.base as base

    real = base.optimizer_params
    monkeypatch.setattr(base, "optimizer_params", lambda estimator, fused=True: real(estimator, fused=False))
    earlier = _quiet(lambda: _classifier(warm_start=True).fit(X_IRIS, Y_IRIS))
    assert earlier.net_.optimizer_.param_groups[0]["foreach"] is True
    skbatch.save(earlier, tmp_path / "earlier.skbatch")
    monkeypatch.setattr(base, "optimizer_params", real)
    loaded = skbatch.load(tmp_path / "earlier.skbatch")
    group = loaded.net_.optimizer_.param_groups[0]
    assert group["fused"] is True and not group["foreach"]
    np.testing.assert_array_equal(loaded.predict_proba(X_IRIS), earlier.predict_proba(X_IRIS))
    _quiet(lambda: loaded.fit(X_IRIS, Y_IRIS))
    _quiet(lambda: earlier.fit(X_IRIS, Y_IRIS))
    np.testing.assert_allclose(loaded.predict_proba(X_IRIS), earlier.predict_proba(X_IRIS), atol=1e-5)


def test_a_search_best_estimator_round_trips(tmp_path):
    search = GridSearchCV(make_pipeline(StandardScaler(), _classifier()), {"mlpclassifier__lr": [0.01, 0.05]}, cv=2)
    _quiet(lambda: search.fit(X_IRIS, Y_IRIS))
    with pytest.raises(TypeError, match=r"not a GridSearchCV: pass its best_estimator_, skbatch.save\(search.best"):
        skbatch.save(search, tmp_path / "search.skbatch")
    skbatch.save(search.best_estimator_, tmp_path / "best.skbatch")
    loaded = skbatch.load(tmp_path / "best.skbatch")
    np.testing.assert_array_equal(loaded.predict_proba(X_IRIS), search.predict_proba(X_IRIS))
    assert loaded[-1].lr == search.best_params_["mlpclassifier__lr"]


def test_a_regressor_alone_round_trips_without_its_cache_folder(tmp_path):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 3)).astype(np.float32)
    y = X @ np.array([1.0, -2.0, 0.5])
    model = _quiet(lambda: MLPRegressor(hidden_layer_sizes=(8,), max_epochs=3, random_state=0, cache_dir=str(tmp_path / "cache")).fit(X, y))
    skbatch.save(model, tmp_path / "reg.skbatch")
    loaded = skbatch.load(tmp_path / "reg.skbatch")
    assert loaded.cache_dir is None, "the training machine's cache folder does not travel"
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_a_target_scaler_around_a_pipeline_round_trips(tmp_path):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 4))
    y = 1000 + 300 * X[:, 0] - 200 * X[:, 1]
    regressor = make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(8,), max_epochs=2, random_state=0))
    model = TransformedTargetRegressor(regressor=regressor, transformer=StandardScaler())
    _quiet(lambda: model.fit(X, y))
    skbatch.save(model, tmp_path / "target.skbatch")
    loaded = skbatch.load(tmp_path / "target.skbatch")
    assert type(loaded) is TransformedTargetRegressor
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.transformer_.scale_, model.transformer_.scale_)
    # The unfitted regressor param, as the search set it: what a refit clones.
    assert repr(loaded.regressor) == repr(model.regressor)
    assert loaded.regressor[-1].get_params() == model.regressor[-1].get_params()
    assert not hasattr(loaded.regressor[-1], "net_")


def test_a_multilabel_model_loads_as_multilabel(tmp_path):
    Y = np.eye(3, dtype=int)[Y_IRIS]
    Y[::4, 0] = 1
    model = _quiet(lambda: _classifier().fit(X_IRIS, Y))
    skbatch.save(model, tmp_path / "multi.skbatch")
    loaded = skbatch.load(tmp_path / "multi.skbatch")
    assert loaded.predict(X_IRIS[:2]).shape == model.predict(X_IRIS[:2]).shape == (2, 3)
    np.testing.assert_array_equal(loaded.predict_proba(X_IRIS), model.predict_proba(X_IRIS))


def test_a_convnet_round_trips(small_digits, tmp_path):
    X, y = small_digits
    model = _quiet(
        lambda: ConvNetClassifier(
            image_shape=(8, 8), channels=(4,), dense_layer_sizes=(8,), max_epochs=1, random_state=0, device="cpu"
        ).fit(X, y)
    )
    skbatch.save(model, tmp_path / "cnn.skbatch")
    loaded = skbatch.load(tmp_path / "cnn.skbatch")
    assert loaded.input_shape_ == (1, 8, 8)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_a_loaded_model_keeps_training_as_the_original_would(tmp_path):
    # The optimizer state and the shuffling generator travel: a warm start continues, not restarts.
    model = _quiet(lambda: _classifier(warm_start=True, learning_rate="invscaling").fit(X_IRIS, Y_IRIS))
    skbatch.save(model, tmp_path / "model.skbatch")
    loaded = skbatch.load(tmp_path / "model.skbatch")
    _quiet(lambda: model.fit(X_IRIS, Y_IRIS))
    _quiet(lambda: loaded.fit(X_IRIS, Y_IRIS))
    assert len(loaded.loss_curve_) == 6 and loaded.loss_curve_ == model.loss_curve_
    np.testing.assert_array_equal(loaded.predict_proba(X_IRIS), model.predict_proba(X_IRIS))


def test_loading_a_model_leaves_torchs_global_generator_alone(tmp_path):
    # The network is built before its weights are loaded: those throwaway
    # weights come from a generator of the load's own, not the user's stream.
    model = _quiet(lambda: _classifier().fit(X_IRIS, Y_IRIS))
    skbatch.save(model, tmp_path / "model.skbatch")
    torch.manual_seed(3)
    skbatch.load(tmp_path / "model.skbatch")
    drawn = torch.rand(3)
    torch.manual_seed(3)
    assert torch.equal(drawn, torch.rand(3))


@pytest.mark.gpu
def test_a_model_trained_on_cuda_loads_on_the_cpu(tmp_path):
    model = _quiet(lambda: _classifier(device="cuda").fit(X_IRIS, Y_IRIS))
    skbatch.save(model, tmp_path / "cuda.skbatch")
    loaded = skbatch.load(tmp_path / "cuda.skbatch")
    assert loaded.device_ == torch.device("cpu") and loaded.device_uuid_ is None
    assert not next(loaded.net_.module_.parameters()).is_cuda
    assert loaded.device == "cuda", "the device of a later fit"
    for name, tensor in model.net_.module_.state_dict().items():
        assert torch.equal(loaded.net_.module_.state_dict()[name], tensor.cpu()), name
    # The same weights; the CPU's float32 arithmetic rounds differently from the GPU's.
    np.testing.assert_allclose(loaded.predict_proba(X_IRIS), model.predict_proba(X_IRIS), atol=1e-5)


def test_the_network_is_stored_as_the_fit_cache_stores_it(tmp_path):
    model = _quiet(lambda: _classifier(cache_dir=tmp_path / "cache").fit(X_IRIS, Y_IRIS))
    cache = FitCache(tmp_path / "cache")
    cached, _ = unpack_entry(cache.fit_path(cache.key(model, X_IRIS, Y_IRIS)["key"]).read_bytes())
    skbatch.save(model, tmp_path / "model.skbatch")
    saved, _ = unpack_entry(zipfile.ZipFile(tmp_path / "model.skbatch").read("networks/0.safetensors"))
    assert set(saved) == set(cached)
    for name, tensor in cached.items():
        assert torch.equal(saved[name], tensor), name


def test_a_network_alone_needs_no_skops_and_a_pipeline_names_the_extra(tmp_path, monkeypatch):
    model = _quiet(lambda: make_pipeline(StandardScaler(), _classifier()).fit(X_IRIS, Y_IRIS))
    monkeypatch.setitem(sys.modules, "skops", None)  # as if not installed
    skbatch.save(model[-1], tmp_path / "network.skbatch")
    np.testing.assert_array_equal(skbatch.load(tmp_path / "network.skbatch").predict_proba(X_IRIS), model[-1].predict_proba(X_IRIS))
    with pytest.raises(
        ModuleNotFoundError,
        match=r"skbatch.save and skbatch.load of the steps around a network "
        r"needs skops, which is not installed.*pip install 'skbatch\[cli\]'",
    ):
        skbatch.save(model, tmp_path / "pipeline.skbatch")
    assert not (tmp_path / "pipeline.skbatch").exists()


# --- what save refuses --------------------------------------------------------


def test_save_refuses_what_it_cannot_store_and_writes_nothing(tmp_path):
    path = tmp_path / "model.skbatch"
    with pytest.raises(TypeError, match="skbatch.save saves MLPClassifier, .*got LogisticRegression"):
        skbatch.save(LogisticRegression().fit(X_IRIS, Y_IRIS), path)
    with pytest.raises(NotFittedError):
        skbatch.save(_classifier(), path)
    assert not path.exists()
    model = _quiet(lambda: _classifier().fit(X_IRIS, Y_IRIS))
    skbatch.save(model, path)
    before = path.read_bytes()
    model.set_params(random_state=np.random.RandomState(0))
    with pytest.raises(
        TypeError,
        match="MLPClassifier's param random_state is a RandomState, which skbatch does not "
        "store: set it to a plain value with set_params before saving",
    ):
        skbatch.save(model, path)
    assert path.read_bytes() == before, "a refused save leaves the file as it was"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.skbatch"], "and no temporary file"


class _Doubler(TransformerMixin, BaseEstimator):
    """A transformer skops does not know, so does not trust."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return 2 * X


def test_a_step_skops_does_not_trust_needs_trusting_by_name(tmp_path):
    model = make_pipeline(_Doubler(), _classifier())
    _quiet(lambda: model.fit(X_IRIS, Y_IRIS))
    skbatch.save(model, tmp_path / "model.skbatch")
    name = f"{__name__}._Doubler"
    assert skbatch.saving.get_untrusted_types(tmp_path / "model.skbatch") == [name]
    with pytest.raises(
        sio.exceptions.UntrustedTypesFoundException,
        match=rf"(?s)Untrusted types found in the file: \['{name}'\].*skbatch.load\(path, trusted=",
    ):
        skbatch.load(tmp_path / "model.skbatch")
    loaded = skbatch.load(tmp_path / "model.skbatch", trusted=[name])
    np.testing.assert_array_equal(loaded.predict_proba(X_IRIS), model.predict_proba(X_IRIS))
    with pytest.raises(TypeError, match="trusted must be a list of type names"):
        skbatch.load(tmp_path / "model.skbatch", trusted=name)


# --- a user's network class is imported only when trusted --------------------

_NET_SOURCE = """
import torch
IMPORTED = True

class Net(torch.nn.Module):
    def __init__(self, n_features_in, n_classes):
        super().__init__()
        self.linear = torch.nn.Linear(n_features_in, n_classes)

    def forward(self, X):
        return self.linear(X)
"""


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A module of the user's on the path, the way a package of their own would be."""
    (tmp_path / "skbatch_test_user_nets.py").write_text(_NET_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "skbatch_test_user_nets"
    sys.modules.pop("skbatch_test_user_nets", None)


def test_a_custom_network_loads_only_when_its_class_is_trusted(tmp_path, user_module):
    import importlib

    nets = importlib.import_module(user_module)
    model = _quiet(lambda: TorchClassifier(module=nets.Net, max_epochs=2, random_state=0, device="cpu").fit(X_IRIS, Y_IRIS))
    skbatch.save(model, tmp_path / "custom.skbatch")
    del sys.modules[user_module]  # a fresh process, which has not imported the user's code
    assert skbatch.saving.get_untrusted_types(tmp_path / "custom.skbatch") == [f"{user_module}.Net"]
    refusal = (
        rf"of class {user_module}.Net, user code that loading would import and run. "
        rf"If you trust it, pass skbatch.load\(path, trusted=\['{user_module}.Net'\]\)"
    )
    with pytest.raises(skbatch.saving.UntrustedModuleError, match=refusal):
        skbatch.load(tmp_path / "custom.skbatch")
    assert user_module not in sys.modules, "refused without importing it"
    before = torch.get_rng_state()
    loaded = skbatch.load(tmp_path / "custom.skbatch", trusted=[f"{user_module}.Net"])
    assert torch.equal(torch.get_rng_state(), before), "its module drew its throwaway weights from a seeded stream, put back"
    assert loaded.module.__module__ == user_module
    np.testing.assert_array_equal(loaded.predict_proba(X_IRIS), model.predict_proba(X_IRIS))


def test_a_network_class_defined_in_a_function_is_refused_at_save(tmp_path):
    class Local(torch.nn.Module):
        def __init__(self, n_features_in, n_classes):
            super().__init__()
            self.linear = torch.nn.Linear(n_features_in, n_classes)

        def forward(self, X):
            return self.linear(X)

    model = _quiet(lambda: TorchClassifier(module=Local, max_epochs=1, device="cpu").fit(X_IRIS, Y_IRIS))
    with pytest.raises(TypeError, match="cannot be found by it \\(it is defined inside a function\\). Define it at module"):
        skbatch.save(model, tmp_path / "local.skbatch")
    assert not (tmp_path / "local.skbatch").exists()


# --- tampered and foreign files ------------------------------------------------


@pytest.fixture(scope="module")
def saved_bytes(tmp_path_factory):
    """A Pipeline's file, as save writes it."""
    path = tmp_path_factory.mktemp("saved") / "model.skbatch"
    skbatch.save(_quiet(lambda: make_pipeline(StandardScaler(), _classifier()).fit(X_IRIS, Y_IRIS)), path)
    return path.read_bytes()


def _members(data):
    archive = zipfile.ZipFile(io.BytesIO(data))
    return {name: archive.read(name) for name in archive.namelist()}


def _write(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _edit_header(edit):
    def apply(members):
        header = json.loads(members["header.json"])
        edit(header)
        members["header.json"] = json.dumps(header).encode()

    return apply


def _edit_network(edit):
    """Edit the network's tensors and state, and reseal its checksum: a deliberate edit, not damage."""

    def apply(members):
        tensors, text = unpack_entry(members["networks/1.safetensors"])
        meta = json.loads(text)
        edit(tensors, meta)
        members["networks/1.safetensors"] = pack_entry(tensors, json.dumps(meta))

    return apply


def _network_params(header):
    return header["model"]["last"]["params"]


@pytest.mark.parametrize(
    "edit, error, match",
    [
        (
            _edit_header(lambda h: h["model"]["last"].update({"class": "sklearn.linear_model.LogisticRegression"})),
            ValueError,
            r"estimator of class 'sklearn.linear_model.LogisticRegression', which is not one skbatch loads",
        ),
        (_edit_header(lambda h: h["model"]["last"].update(kind="pickle")), ValueError, "part of kind 'pickle'"),
        (
            _edit_header(lambda h: h.update(format="skbatch-model/4")),
            ValueError,
            r"is a model file of format 'skbatch-model/4'; this skbatch reads format skbatch-model/3 only",
        ),
        (
            _edit_header(lambda h: _network_params(h).update(hidden_layer_sizes={"__tuple__": [1000000, 1000000]})),
            InvalidParameterError,
            r"'hidden_layer_sizes' parameter of MLPClassifier gives a network of 1e\+12 weights",
        ),
        (_edit_header(lambda h: _network_params(h).update(lr=-1.0)), InvalidParameterError, "'lr' parameter of MLPClassifier"),
        (
            _edit_header(lambda h: _network_params(h).update(not_a_param=1)),
            ValueError,
            r"params \['not_a_param'\] are not those of MLPClassifier",
        ),
        (
            _edit_header(lambda h: _network_params(h).update(lr={"__dataclass__": ["Popen", {}]})),
            ValueError,
            "'Popen', which is not one of skbatch's stored types",
        ),
        (_edit_network(lambda t, m: m["attributes"].update(predict=1)), ValueError, "sets 'predict', which is not a fitted attribute"),
        (_edit_network(lambda t, m: m["attributes"].update(lr=1000.0)), ValueError, "sets 'lr', which is not a fitted attribute"),
        (
            _edit_network(lambda t, m: m["attributes"]["classes_"]["__ndarray__"].__setitem__(2, [2, 1, 0])),
            ValueError,
            "fitted attribute classes_ holds",
        ),
        (_edit_network(lambda t, m: m["attributes"].update(n_iter_=1)), ValueError, "n_iter_ does not match its training history"),
        (
            _edit_network(lambda t, m: t["module/module/layers.0.weight"].fill_(float("nan"))),
            ValueError,
            "weights of module: layers.0.weight holds NaN",
        ),
        (
            _edit_network(lambda t, m: t.update({"module/module/layers.0.weight": t["module/module/layers.0.weight"][:4]})),
            ValueError,
            r"layers.0.weight is torch.float32 of shape \(4, 4\), where the network has torch.float32 of shape \(8, 4\)",
        ),
        (_edit_network(lambda t, m: m.update(estimator="MLPRegressor")), ValueError, "holds the state of a 'MLPRegressor'"),
        (
            lambda members: members.update({"networks/1.safetensors": members["networks/1.safetensors"][:-9] + b"\x01" * 9}),
            ValueError,
            "checksum does not match its content",
        ),
        (
            lambda members: members.update({"parts/0.skops": sio.dumps(LogisticRegression())}),
            ValueError,
            "parts/0.skops is not the Pipeline around a network that save writes",
        ),
        (
            lambda members: members.update({"extra.pkl": b"\x80\x04."}),
            ValueError,
            r"holds \['extra.pkl'\], which its outline does not name",
        ),
    ],
    ids=[
        "class",
        "kind",
        "version",
        "huge-layers",
        "bad-lr",
        "unknown-param",
        "unknown-tag",
        "method-as-attribute",
        "param-as-attribute",
        "unsorted-classes",
        "n_iter",
        "nan",
        "shape",
        "other-state",
        "flipped-bytes",
        "other-skops-part",
        "extra-member",
    ],
)
def test_a_tampered_file_is_refused_naming_what_is_wrong(saved_bytes, tmp_path, edit, error, match):
    members = _members(saved_bytes)
    edit(members)
    _write(tmp_path / "model.skbatch", members)
    with pytest.raises(error, match=match):
        skbatch.load(tmp_path / "model.skbatch")


def test_a_class_outside_the_allowlist_is_refused_without_importing_it(saved_bytes, tmp_path, user_module):
    members = _members(saved_bytes)
    _edit_header(lambda h: h["model"]["last"].update({"class": f"{user_module}.Net"}))(members)
    _write(tmp_path / "model.skbatch", members)
    with pytest.raises(ValueError, match=f"class '{user_module}.Net', which is not one skbatch loads"):
        skbatch.load(tmp_path / "model.skbatch")
    assert user_module not in sys.modules


def test_a_truncated_or_compressed_file_is_refused(saved_bytes, tmp_path):
    path = tmp_path / "model.skbatch"
    path.write_bytes(saved_bytes[: len(saved_bytes) // 2])
    with pytest.raises(ValueError, match="is not a readable skbatch model file .BadZipFile.*save the model again"):
        skbatch.load(path)
    _write(path, _members(saved_bytes), compression=zipfile.ZIP_DEFLATED)
    with pytest.raises(ValueError, match="is compressed, which skbatch.save never does"):
        skbatch.load(path)
    path.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="is not a readable skbatch model file"):
        skbatch.load(path)


def test_a_model_file_of_an_older_skbatch_is_refused_naming_its_format(tmp_path):
    # What skbatch.model_file.save_model wrote before: a skops file of a dict.
    sio.dump({"format": "skbatch-model/2", "estimator": "MLPClassifier", "params": {}}, tmp_path / "old.skops")
    with pytest.raises(ValueError, match="is a model file of format skbatch-model/2, written by an older skbatch"):
        skbatch.load(tmp_path / "old.skops")
    sio.dump({"something": "else"}, tmp_path / "other.skops")
    with pytest.raises(ValueError, match="is not a model file written by skbatch.save .it has no header.json."):
        skbatch.load(tmp_path / "other.skops")


# --- the names of skbatch 0.1 ---------------------------------------------------


def test_model_file_names_are_deprecated_aliases(tmp_path):
    from skbatch.model_file import load_model, save_model

    model = _quiet(lambda: _classifier().fit(X_IRIS, Y_IRIS))
    with pytest.warns(FutureWarning, match="save_model is deprecated and will be removed; use skbatch.save"):
        save_model(model, tmp_path / "model.skbatch")
    with pytest.warns(FutureWarning, match="load_model is deprecated and will be removed; use skbatch.load"):
        loaded = load_model(tmp_path / "model.skbatch")
    np.testing.assert_array_equal(loaded.predict_proba(X_IRIS), skbatch.load(tmp_path / "model.skbatch").predict_proba(X_IRIS))
    pd.testing.assert_series_equal(pd.Series(loaded.loss_curve_), pd.Series(model.loss_curve_))
