"""Export a fitted skbatch estimator's network to ONNX, for serving without Python, torch or skbatch.

The exported graph takes ``X`` as the estimator's ``predict`` does (float32,
one row per sample; images as rows or as arrays, as in ``fit``) and returns
what ``predict_proba`` returns for a classifier, ``predict`` for a regressor.
Before it is returned, the graph is run with onnxruntime on the sample and
compared with the estimator: an export that would serve different answers
is refused, not handed out.
"""

import copy
import io
import warnings

import numpy as np
import torch
from sklearn.base import is_classifier
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ._compat import predict_nonlinearity
from ._optional import import_optional
from .cache.atomic import atomic_write
from .estimators.base import BaseTorchEstimator

__all__ = ["ONNX_OPSET", "TOLERANCE", "to_onnx"]

# ONNX operator set of the exported graphs: 17 is read by every onnxruntime since 1.14.
ONNX_OPSET = 17
# Largest difference allowed between the exported graph's outputs and the estimator's.
TOLERANCE = 1e-5


class _Served(torch.nn.Module):
    """The estimator's prediction as one module: reshape the rows, run the network, apply the output nonlinearity."""

    def __init__(self, module, input_shape, nonlinearity):
        super().__init__()
        self.module = module
        self.input_shape = tuple(input_shape)
        self.nonlinearity = nonlinearity

    def forward(self, X):
        return self.nonlinearity(self.module(X.reshape(-1, *self.input_shape)))


def to_onnx(estimator, X_sample, path=None):
    """Export a fitted estimator's network, with its output nonlinearity, as an ONNX model.

    Parameters
    ----------
    estimator : fitted skbatch estimator
        :class:`MLPClassifier`, :class:`MLPRegressor`,
        :class:`ConvNetClassifier`, or a :class:`TorchClassifier` or
        :class:`TorchRegressor` whose module torch's ONNX exporter
        handles. A Pipeline is refused: export its last step (see Raises).
    X_sample : array-like of shape (n_samples, ...)
        A few rows (at least 2) shaped as for ``predict``: the first half
        traces the network, and all of them check the export. Sparse rows are made dense; the graph takes
        dense input.
    path : str or path-like, default=None
        Where to write the model (``.onnx``), in one atomic write. None
        writes nothing.

    Returns
    -------
    model : onnx.ModelProto
        One input, ``X`` (float32, any number of rows), and one output:
        ``probabilities`` (``predict_proba``) for a classifier,
        ``predictions`` for a regressor (2-D, one column per output, where
        ``predict`` returns 1-D for a single output).

    Raises
    ------
    TypeError
        If ``estimator`` is a Pipeline or not an skbatch estimator.
    ValueError
        If torch cannot export the module, or the exported graph's outputs
        on ``X_sample`` differ from the estimator's by more than
        :data:`TOLERANCE`.
    ModuleNotFoundError
        Without onnx and onnxruntime: ``pip install 'skbatch[onnx]'``.

    Notes
    -----
    The graph is traced by torch's TorchScript exporter
    (``torch.onnx.export(..., dynamo=False)``), which needs no package
    beyond torch; operator set :data:`ONNX_OPSET`. A classifier's columns
    follow ``classes_``: keep ``estimator.classes_`` next to the file to
    turn a column into a label.

    Examples
    --------
    >>> import numpy as np, onnxruntime
    >>> from sklearn.datasets import load_iris
    >>> from skbatch import MLPClassifier, to_onnx
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(8,), max_epochs=5, random_state=0).fit(X, y)  # doctest: +SKIP
    >>> model = to_onnx(clf, X[:5])  # doctest: +SKIP
    >>> session = onnxruntime.InferenceSession(model.SerializeToString())  # doctest: +SKIP
    >>> session.run(None, {"X": X.astype(np.float32)})[0].shape  # doctest: +SKIP
    (150, 3)
    """
    _check_exportable(estimator)
    check_is_fitted(estimator)
    onnx = import_optional("onnx", needed_by="to_onnx")
    onnxruntime = import_optional("onnxruntime", needed_by="to_onnx")
    X_module = estimator._validate_X(X_sample)  # the checks and the reshape of predict
    X_module = X_module.toarray() if hasattr(X_module, "toarray") else np.asarray(X_module)
    # The graph's input is X as predict takes it: the rows, before the reshape.
    flat_rows = len(getattr(X_sample, "shape", None) or np.shape(X_sample)) == 2
    X_in = np.ascontiguousarray(X_module.reshape(len(X_module), -1) if flat_rows else X_module, dtype=np.float32)
    if len(X_in) < 2:
        raise ValueError(
            f"to_onnx needs at least 2 rows in X_sample, got {len(X_in)}: it traces the network on "
            "the first half of them and checks the export on all of them. Pass a few more rows."
        )

    net = estimator.net_
    # A copy: the estimator's own network keeps its device and its mode.
    module = copy.deepcopy(net.module_).to("cpu")
    served = _Served(module, estimator.input_shape_, predict_nonlinearity(net)).eval()
    output = "probabilities" if is_classifier(estimator) else "predictions"
    buffer = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The legacy exporter says it is legacy; it is chosen on purpose (Notes).
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export")
            torch.onnx.export(
                served,
                # Traced on some rows, checked on all: a value the tracer froze
                # from the data (a number read in Python) shows as a mismatch.
                (torch.from_numpy(X_in[: len(X_in) // 2]),),
                buffer,
                dynamo=False,
                input_names=["X"],
                output_names=[output],
                dynamic_axes={"X": {0: "n_samples"}, output: {0: "n_samples"}},
                opset_version=ONNX_OPSET,
            )
    except Exception as error:
        raise ValueError(
            f"to_onnx could not export the module of this {type(estimator).__name__} "
            f"({type(net.module_).__name__}): torch's ONNX exporter said: {str(error).splitlines()[0]} "
            "Rewrite the module's forward with operations torch.onnx.export supports, or serve "
            "the estimator itself."
        ) from error

    model = onnx.load_from_string(buffer.getvalue())
    _check_matches(estimator, model, X_in, X_sample, onnxruntime)
    if path is not None:
        atomic_write(path, lambda handle: handle.write(model.SerializeToString()))
    return model


def _check_exportable(estimator):
    if isinstance(estimator, Pipeline):
        last = estimator.steps[-1][1] if estimator.steps else None
        raise TypeError(
            f"to_onnx exports a network, and got a Pipeline ending in {type(last).__name__}. "
            "Export the network step and run the steps before it as they are: "
            "to_onnx(pipe[-1], pipe[:-1].transform(X_sample)), then feed the ONNX model "
            "pipe[:-1].transform(X)."
        )
    if not isinstance(estimator, BaseTorchEstimator):
        raise TypeError(
            f"to_onnx exports skbatch estimators (MLPClassifier, MLPRegressor, ConvNetClassifier, "
            f"TorchClassifier, TorchRegressor), and got {type(estimator).__name__}. For other "
            "scikit-learn estimators, see skl2onnx."
        )


def _check_matches(estimator, model, X_in, X_sample, onnxruntime):
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    served = session.run(None, {"X": X_in})[0]
    expected = estimator.predict_proba(X_sample) if is_classifier(estimator) else estimator.predict(X_sample)
    expected = np.asarray(expected).reshape(served.shape)
    gap = float(np.max(np.abs(served - expected), initial=0.0))
    if not gap <= TOLERANCE:
        raise ValueError(
            f"to_onnx refuses this export of {type(estimator).__name__}: on X_sample the ONNX "
            f"model's outputs differ from the estimator's by up to {gap:.3g}, more than {TOLERANCE}. "
            "The module's forward may do something torch's tracer records as a constant (Python "
            "control flow on the data, say): make it tensor operations, or serve the estimator itself."
        )
