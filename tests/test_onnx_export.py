"""skbatch.to_onnx: the exported graph, run by onnxruntime, answers as the estimator does."""

import warnings

import numpy as np
import pytest
import torch
from scipy import sparse
from sklearn.datasets import load_digits, make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from skbatch import ConvNetClassifier, MLPClassifier, MLPRegressor, TorchClassifier, TorchRegressor, to_onnx

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")

TOLERANCE = 1e-5  # the bar: predict_proba within 1e-5


class TwoLayers(nn.Module):
    def __init__(self, n_features_in, n_classes=None, n_outputs=None):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(n_features_in, 8), nn.Tanh(), nn.Linear(8, n_classes or n_outputs))

    def forward(self, X):
        return self.layers(X)


class Cholesky(nn.Module):
    """A forward torch's ONNX exporter has no operator for."""

    def __init__(self, n_features_in, n_classes):
        super().__init__()
        self.linear = nn.Linear(n_features_in, n_classes)

    def forward(self, X):
        gram = torch.eye(2) + X[:, :2, None] * X[:, None, :2]
        return self.linear(X) + torch.linalg.cholesky(gram).sum()


class ReadsANumber(nn.Module):
    """Reads a value into Python: the tracer freezes it as a constant of the traced rows."""

    def __init__(self, n_features_in, n_classes):
        super().__init__()
        self.linear = nn.Linear(n_features_in, n_classes)

    def forward(self, X):
        return self.linear(X) * float(X.abs().sum())


@pytest.fixture(autouse=True)
def _few_epochs():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _served(model, X):
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"X": np.asarray(X, dtype=np.float32)})[0]


Xc, yc = make_classification(n_samples=150, n_features=6, n_informative=4, n_classes=3, random_state=0)
Xr, yr = make_regression(n_samples=150, n_features=6, n_targets=2, random_state=0)
digits_X, digits_y = load_digits(return_X_y=True)
digits_X = digits_X[:300] / 16
digits_y = digits_y[:300]
SMALL = {"max_epochs": 3, "random_state": 0}

CLASSIFIERS = {
    "mlp": (MLPClassifier(hidden_layer_sizes=(16,), **SMALL), Xc, yc),
    "mlp-binary": (MLPClassifier(hidden_layer_sizes=(16,), **SMALL), Xc, yc == 0),
    "mlp-multilabel": (MLPClassifier(hidden_layer_sizes=(16,), **SMALL), Xc, np.c_[yc == 0, yc == 1].astype(int)),
    "convnet-rows": (ConvNetClassifier(image_shape=(1, 8, 8), **SMALL), digits_X, digits_y),
    "convnet-images": (ConvNetClassifier(**SMALL), digits_X.reshape(-1, 1, 8, 8), digits_y),
    "custom": (TorchClassifier(module=TwoLayers, **SMALL), Xc, yc),
}
REGRESSORS = {
    "mlp": (MLPRegressor(hidden_layer_sizes=(16,), **SMALL), Xr, yr[:, 0]),
    "mlp-two-outputs": (MLPRegressor(hidden_layer_sizes=(16,), **SMALL), Xr, yr),
    "mlp-poisson": (MLPRegressor(hidden_layer_sizes=(16,), loss="poisson", **SMALL), Xc, np.abs(yc) + 1.0),
    "custom": (TorchRegressor(module=TwoLayers, **SMALL), Xr, yr[:, 0]),
}


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_the_exported_classifier_gives_predict_proba(name):
    clf, X, y = CLASSIFIERS[name]
    clf.fit(X, y)
    model = to_onnx(clf, X[:10])
    onnx.checker.check_model(model)
    # All the rows, not the 10 it was traced on: the batch axis is free.
    served = _served(model, X)
    np.testing.assert_allclose(served, clf.predict_proba(X), atol=TOLERANCE, rtol=0)
    assert [o.name for o in model.graph.output] == ["probabilities"]


@pytest.mark.parametrize("name", REGRESSORS)
def test_the_exported_regressor_gives_predict(name):
    reg, X, y = REGRESSORS[name]
    reg.fit(X, y)
    served = _served(to_onnx(reg, X[:10]), X)
    expected = reg.predict(X)
    np.testing.assert_allclose(served, expected.reshape(len(X), -1), atol=TOLERANCE, rtol=1e-6)


def test_sparse_rows_trace_as_dense_ones():
    clf = MLPClassifier(hidden_layer_sizes=(8,), **SMALL).fit(sparse.csr_matrix(Xc), yc)
    model = to_onnx(clf, sparse.csr_matrix(Xc[:6]))
    np.testing.assert_allclose(_served(model, Xc), clf.predict_proba(Xc), atol=TOLERANCE, rtol=0)


def test_the_file_is_written_whole_and_the_estimator_is_untouched(tmp_path):
    clf = MLPClassifier(hidden_layer_sizes=(8,), **SMALL).fit(Xc, yc)
    before = clf.predict_proba(Xc)
    path = tmp_path / "model.onnx"
    to_onnx(clf, Xc[:4], path=path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"X": Xc.astype(np.float32)})[0], before, atol=TOLERANCE, rtol=0)
    np.testing.assert_array_equal(clf.predict_proba(Xc), before)
    clf.partial_fit(Xc, yc)  # still trains: its network was not moved or frozen


def test_a_pipeline_is_refused_with_the_fix():
    pipe = make_pipeline(StandardScaler(), MLPClassifier(**SMALL)).fit(Xc, yc)
    with pytest.raises(TypeError, match=r"Pipeline ending in MLPClassifier.*to_onnx\(pipe\[-1\], pipe\[:-1\]\.transform"):
        to_onnx(pipe, Xc[:4])


def test_other_estimators_are_refused():
    with pytest.raises(TypeError, match="got LogisticRegression.*skl2onnx"):
        to_onnx(LogisticRegression().fit(Xc, yc), Xc[:4])


def test_an_unfitted_estimator_is_refused():
    with pytest.raises(NotFittedError):
        to_onnx(MLPClassifier(), Xc[:4])


def test_one_row_is_not_enough_to_check_the_export():
    clf = MLPClassifier(hidden_layer_sizes=(8,), **SMALL).fit(Xc, yc)
    with pytest.raises(ValueError, match="at least 2 rows in X_sample, got 1"):
        to_onnx(clf, Xc[:1])


def test_a_module_torch_cannot_export_is_refused_by_name():
    clf = TorchClassifier(module=Cholesky, **SMALL).fit(Xc, yc)
    with pytest.raises(ValueError, match=r"could not export the module of this TorchClassifier \(Cholesky\).*linalg_cholesky"):
        to_onnx(clf, Xc[:4])


def test_an_export_that_answers_differently_is_refused(tmp_path):
    clf = TorchClassifier(module=ReadsANumber, **SMALL).fit(Xc, yc)
    path = tmp_path / "model.onnx"
    with pytest.raises(ValueError, match="ONNX model's outputs differ from the estimator's by up to"):
        to_onnx(clf, Xc[:6], path=path)
    assert not path.exists()
