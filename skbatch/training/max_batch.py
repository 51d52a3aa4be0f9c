"""Find the largest training batch that fits device memory, by real training steps.

The search doubles a starting size until a step runs out of memory (or the
batch holds every sample), then bisects between the last size that fitted
and the first that did not. Each probe is one forward pass, one backward
pass and one optimizer step on the estimator's own network, with the whole
training set already on the device as ``fit`` keeps it, so the answer
accounts for the data, the activations, the gradients and the optimizer state.
"""

import math
from dataclasses import dataclass, field
from numbers import Integral, Real

import torch
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from .._compat import Interval, validate_parameter_constraints
from ..devices.memory import is_out_of_memory, release_device_memory
from ..devices.pool import place_fit
from ..devices.resolve import resolve_device
from .iterator import to_tensor
from .optim import SOLVERS
from .sparse import densify_rows, is_sparse, n_rows

__all__ = ["find_max_batch_size", "MaxBatchSearch"]

# Where doubling starts. Lightning's tuner starts at 2 and accelerate at 128;
# 256 skips seven probes of sizes that nearly every network fits, and a start
# that does not fit is halved, so nothing is lost when it is too large.
DEFAULT_START = 256
# Bisection stops once the bracket is this small a share of the size that
# fits: 1/32 is five probes after the first failure, at most 3% below the
# exact limit, and leaves the allocator a little slack.
DEFAULT_RTOL = 1 / 32


@dataclass
class MaxBatchSearch:
    """Outcome of a search: the size found and every size probed, in order.

    Attributes
    ----------
    batch_size : int
        Largest size whose step fitted.
    probes : list of tuple (int, bool)
        ``(size, fitted)`` for each probe, in the order run.
    """

    batch_size: int
    probes: list = field(default_factory=list)

    @property
    def n_probes(self):
        """Number of training steps the search ran."""
        return len(self.probes)


def _search(fits, n_samples, *, start, rtol):
    """Double, then bisect, over ``fits(size) -> bool``; sizes never exceed ``n_samples``.

    Kept free of torch so the search logic is tested with any threshold.
    """
    probes = []

    def probe(size):
        ok = fits(size)
        probes.append((size, ok))
        return ok

    size = min(start, n_samples)
    if probe(size):
        lo, hi = size, None
        while hi is None and lo < n_samples:
            size = min(2 * lo, n_samples)
            if probe(size):
                lo = size
            else:
                hi = size
    else:
        lo, hi = 0, size
        while lo == 0 and hi > 1:
            size = hi // 2
            if probe(size):
                lo = size
            else:
                hi = size
        if lo == 0:
            raise MemoryError(
                "A training step with batch_size=1 does not fit device memory: no "
                "batch size can. Use a smaller network or a device with more memory."
            )
    while hi is not None and hi - lo > max(1, math.floor(rtol * lo)):
        size = (lo + hi) // 2
        if probe(size):
            lo = size
        else:
            hi = size
    return MaxBatchSearch(batch_size=lo, probes=probes)


class _TrainStepProbe:
    """One real training step of ``module`` on the first ``size`` rows; False when out of memory."""

    def __init__(self, module, optimizer, X, y, device, loss_fn=None):
        self.module = module
        self.optimizer = optimizer
        self.X = X
        self.y = y
        self.device = device
        self.loss_fn = torch.nn.CrossEntropyLoss() if loss_fn is None else loss_fn

    def __call__(self, size):
        try:
            self._step(size)
            fitted = True
        except Exception as error:
            if not is_out_of_memory(error):
                raise
            fitted = False
        # Outside the except block, where the traceback and the tensors its
        # frames hold are gone, so the memory can really be handed back.
        self.optimizer.zero_grad(set_to_none=True)
        if not fitted:
            release_device_memory(self.device)
        return fitted

    def _step(self, size):
        self.optimizer.zero_grad(set_to_none=True)
        # Sparse X stays on the host; a probe densifies its rows, as training does.
        X = densify_rows(self.X, slice(0, size), self.device) if is_sparse(self.X) else self.X[:size]
        loss = self.loss_fn(self.module(X), self.y[:size])
        loss.backward()
        self.optimizer.step()
        if self.device.type == "cuda":
            # CUDA reports allocation failures when the kernels run.
            torch.cuda.synchronize(self.device)


def _search_estimator(estimator, X, y, n_outputs, device, *, start, rtol):
    """Search with the estimator's network and optimizer.

    ``X`` and ``y`` are as the estimator's fit prepares them
    (``_prepare_data``): ``X`` shaped as the module takes it, ``y`` encoded
    for its loss (class indices, or float targets of shape ``(n, n_outputs)``),
    and the estimator holds what that learned (``n_features_in_``,
    ``input_shape_``).
    """
    module = estimator._build_module(estimator.n_features_in_, n_outputs).to(device)
    optimizer = SOLVERS[estimator.solver](module.parameters(), lr=estimator.lr)
    # The same tensors fit trains on: no dtype or shape chosen here.
    X_dev = X if is_sparse(X) else to_tensor(X, device=device)
    y_dev = to_tensor(y, device=device)
    probe = _TrainStepProbe(module, optimizer, X_dev, y_dev, device, loss_fn=estimator._criterion())
    module.train()
    try:
        return _search(probe, n_rows(X), start=start, rtol=rtol)
    finally:
        del probe, module, optimizer, X_dev, y_dev
        # The fit that follows needs the card empty. On the CPU the
        # references just dropped free everything, and a collection costs
        # more than a probe.
        if device.type == "cuda":
            release_device_memory(device)


_CONSTRAINTS = {
    "start": [Interval(Integral, 1, None, closed="left")],
    "rtol": [Interval(Real, 0, 1, closed="left")],
    "device": [str, torch.device, None],
}


def find_max_batch_size(estimator, X, y, *, start=DEFAULT_START, rtol=DEFAULT_RTOL, device=None):
    """Largest batch size whose training step fits device memory.

    Runs real training steps (forward, backward and optimizer step) of the
    estimator's network, with ``X`` on the device as ``fit`` holds it:
    doubling from ``start`` until a step runs out of memory or the batch
    holds every sample, then bisecting between the last size that fitted
    and the first that did not. Memory is released after each failed step.

    Parameters
    ----------
    estimator : BaseTorchEstimator or Pipeline
        An skbatch classifier or regressor, fitted or not, or a Pipeline
        whose last step is one; it is not modified. Its network,
        ``solver`` and ``device`` are used, and ``X`` and ``y`` are
        checked and encoded as its ``fit`` does. In a Pipeline, a clone
        of the steps before the network is fitted on ``X`` and transforms
        it first, so the network is probed on the features it would
        train on (a one-hot encoder's columns, say).
    X : array-like of shape (n_samples, n_features) or (n_samples, ...)
        Training data, as it would be passed to ``fit``: 3 or more
        dimensions where the estimator takes them (ConvNetClassifier,
        TorchClassifier), or a DataFrame for a Pipeline that takes one.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Class labels for a classifier, targets for a regressor.
    start : int, default=256
        First size tried. Halved while it does not fit.
    rtol : float, default=1/32
        Bisection stops once the sizes that fit and that do not are at most
        ``rtol`` times the fitting size apart; ``0`` bisects to the exact
        limit, at the cost of more probes.
    device : str, torch.device or None, default=None
        Device to probe; None uses the estimator's ``device`` param, placed
        as its ``fit`` would be: a :class:`~skbatch.DevicePool` (or
        ``'auto'``) lends the probes one of its slots for the search.

    Returns
    -------
    MaxBatchSearch
        ``batch_size`` (between 1 and ``n_samples``), and the probes run.

    Raises
    ------
    MemoryError
        If even a batch of one sample does not fit.
    ValueError
        If the estimator's ``solver`` is ``'lbfgs'``, which trains on the
        full batch.

    See Also
    --------
    BaseTorchClassifier : ``batch_size='max'`` runs this search inside ``fit``.

    Notes
    -----
    On the CPU, torch sets no memory limit, and a step fails only where the
    allocator cannot get memory from the system, so the answer is usually
    ``n_samples`` (full-batch training). The search runs the same real steps
    there: their sizes double, so together they cost about two passes over
    the data, less than one epoch's worth of steps at the largest size.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skbatch import MLPClassifier, find_max_batch_size
    >>> X, y = load_digits(return_X_y=True)
    >>> search = find_max_batch_size(MLPClassifier(device="cpu"), X, y)
    >>> search.batch_size, search.n_probes
    (1797, 4)
    """
    # Checked here rather than by sklearn's validate_params decorator, which
    # would rename the estimator's own param errors after this function.
    validate_parameter_constraints(_CONSTRAINTS, {"start": start, "rtol": rtol, "device": device}, caller_name="find_max_batch_size")
    X, estimator = _through_preprocessing(estimator, X, y)
    # X and y go through the estimator's own fit preparation (param checks,
    # input dimensions and shape, target encoding), on a clone so that the
    # estimator is not modified. Called by name rather than imported: the
    # estimators import this module.
    prepared = clone(estimator)
    X, y, _, _ = prepared._prepare_data(X, y, incremental=False)
    if prepared.solver == "lbfgs":
        # Refused rather than answered: any size found would not be the one
        # lbfgs trains with.
        raise ValueError(
            f"find_max_batch_size got a {type(estimator).__name__} with solver='lbfgs', which "
            "always trains on the full batch, so there is no batch size to find. Search "
            "with the solver you will train with (e.g. solver='adam'); for lbfgs, bound "
            "memory with accumulation_steps, which splits each full-batch pass."
        )
    if device is not None:
        return _search_estimator(prepared, X, y, prepared._n_module_outputs(), resolve_device(device), start=start, rtol=rtol)
    # The estimator's own device, placed as its fit would be: a DevicePool
    # (or 'auto') lends the probes a slot, so no fit shares the device meanwhile.
    with place_fit(estimator.device) as placement:
        return _search_estimator(prepared, X, y, prepared._n_module_outputs(), placement.device, start=start, rtol=rtol)


def _is_network(estimator):
    # Duck-typed: the estimators import this module, so it cannot import them.
    return hasattr(estimator, "_prepare_data") and hasattr(estimator, "_build_module")


def _through_preprocessing(estimator, X, y):
    """``(X, network)``: for a Pipeline, ``X`` transformed by a fitted clone of its earlier steps, and its last step."""
    if isinstance(estimator, Pipeline) and estimator.steps and _is_network(estimator.steps[-1][1]):
        # A clone: the Pipeline passed in stays as it was (unfitted, or fitted on other data).
        X = clone(estimator[:-1]).fit_transform(X, y)
        return X, estimator.steps[-1][1]
    if _is_network(estimator):
        return X, estimator
    raise TypeError(
        "find_max_batch_size needs an skbatch estimator, or a Pipeline whose last step is one; "
        f"got {type(estimator).__name__}. Put the network (e.g. MLPClassifier) last in the Pipeline."
    )
