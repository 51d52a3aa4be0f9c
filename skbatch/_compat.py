"""Every private scikit-learn, skorch and joblib name skbatch relies on, behind one door.

These names carry no promise of stability upstream, so each is imported
here and nowhere else: an upgrade that moves or changes one breaks this
module alone, and the pins in ``pyproject.toml`` bound the versions tested.
Public equivalents are used wherever they exist (``net.module_``,
``net.optimizer_``, ``sklearn.utils.validation.validate_data``).

What is reached here, and why:

- ``sklearn.utils._param_validation``: the constraint objects
  (``Interval``, ``StrOptions``, ``Options``) and ``InvalidParameterError``,
  so skbatch's params validate and fail exactly as scikit-learn's do;
- ``sklearn.utils.metaestimators._safe_split``: the rows of one fold as
  scikit-learn's own ``_fit_and_score`` cuts them (pairwise kernels too);
- ``sklearn.utils._safe_indexing``: rows of arrays, frames and lists alike;
- ``sklearn.model_selection._validation._fit_and_score``: recognising a
  search's fit tasks, which the progress bar counts;
- skorch's ``_get_predict_nonlinearity``: the function ``predict_proba``
  applies to the module's output, which :func:`skbatch.to_onnx` exports;
- skorch's ``_modules``, ``_criteria`` and ``_optimizers``: the names of a
  net's parts, to move them between devices together;
- ``sklearn.utils.optimize._check_optimize_result``: ``solver='lbfgs'``
  counts iterations and warns as scikit-learn's MLP;
- ``sklearn.callback`` (scikit-learn >= 1.9): ``CallbackSupportMixin`` and
  ``with_callbacks`` are public, but what an estimator calls to take part
  (``_init_callback_context``) and where ``set_callbacks`` keeps the
  callbacks (``_skl_callbacks``) are not; before 1.9 the mixin is empty and
  fits open no callback task;
- joblib's ``Parallel.__call__`` and ``Parallel.print_progress`` (patched
  by :mod:`skbatch.inspection.progress`), with ``n_completed_tasks`` and
  ``return_generator``;
- ``joblib.parallel.get_active_backend``: a fused search's own ``Parallel``,
  nested in the one its parent search holds open, gets a backend of its own
  (:func:`own_parallel_backend`).
"""

import copy
import functools

import scipy
from sklearn.model_selection._validation import _fit_and_score as fit_and_score
from sklearn.utils import _safe_indexing as safe_indexing
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.metaestimators import _safe_split as safe_split
from sklearn.utils.optimize import _check_optimize_result as check_optimize_result
from sklearn.utils.validation import _check_sample_weight as check_sample_weight

try:
    from sklearn.callback import CallbackSupportMixin, with_callbacks
except ImportError:  # scikit-learn < 1.9: no callback API to support

    class CallbackSupportMixin:
        pass

    def with_callbacks(method):
        return method


__all__ = [
    "CallbackSupportMixin",
    "Interval",
    "InvalidParameterError",
    "Options",
    "StrOptions",
    "dask_backend_without_scatter",
    "check_sample_weight",
    "check_optimize_result",
    "fit_and_score",
    "has_sklearn_callbacks",
    "lbfgs_verbosity",
    "net_part_names",
    "own_parallel_backend",
    "predict_nonlinearity",
    "safe_indexing",
    "safe_split",
    "validate_parameter_constraints",
]


def has_sklearn_callbacks(estimator):
    """Whether ``estimator`` holds scikit-learn callbacks, its own (``set_callbacks``) or a meta-estimator's."""
    return bool(getattr(estimator, "_skl_callbacks", None))


def net_part_names(net):
    """Names of an initialized skorch net's modules, criteria and optimizers, as ``(modules, optimizers)``.

    The modules list includes the criteria, which hold tensors too. Each
    name ``n`` is reached as ``getattr(net, n + '_')``.
    """
    return [*net._modules, *net._criteria], list(net._optimizers)


def own_parallel_backend():
    """A copy of the joblib backend active here (``parallel_config``'s, or the default), for a nested ``Parallel``.

    Under ``parallel_config(backend=...)`` every ``Parallel`` shares the one
    backend object the config holds. A ``Parallel`` that ends shuts that
    object's workers down (``terminate`` forgets the executor or pool); if a
    search's own ``with parallel:`` block still holds it, its next call finds
    no workers (``'NoneType' object has no attribute 'submit'``). A copy
    starts and ends workers of its own (loky's reusable executor is still
    reused), with the same settings.
    """
    from joblib.parallel import get_active_backend

    backend, _ = get_active_backend()
    return copy.copy(backend)


def predict_nonlinearity(net):
    """The function an initialized skorch net applies to its module's output in ``predict_proba``."""
    return net._get_predict_nonlinearity()


@functools.cache
def dask_backend_without_scatter():
    """joblib's Dask backend, less its scattering of each call's large arguments.

    joblib scatters every argument over 1 kB to one worker (``hash=False``,
    no replica). Scattered data has no task to recompute it, so when that
    worker dies the scheduler forgets it and cancels every task that needs
    it ("already forgotten"). Sent inline instead, the arguments are part of
    each task, which the scheduler reruns elsewhere. joblib reads the table
    only while it is not None; the data futures given by ``scatter=`` are
    kept. Imports dask, so it is built on first use.
    """
    from joblib._dask import DaskDistributedBackend

    class InlineDataDaskBackend(DaskDistributedBackend):
        def start_call(self):
            super().start_call()
            self.call_data_futures = None

        def stop_call(self):
            self.call_data_futures = {}  # the parent clears it
            super().stop_call()

    return InlineDataDaskBackend


def lbfgs_verbosity(verbose):
    """scipy L-BFGS-B's ``iprint`` option for ``verbose``, as scikit-learn's MLP sets it (none on scipy >= 1.15)."""
    # scipy 1.15 deprecated ``iprint`` for L-BFGS-B (scikit-learn's
    # ``_get_additional_lbfgs_options_dict``, which scikit-learn 1.6.0 lacks).
    if tuple(int(part) for part in scipy.__version__.split(".")[:2]) >= (1, 15):
        return {}
    return {"iprint": 1 if verbose is True or verbose >= 1 else -1}
