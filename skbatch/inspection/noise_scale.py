"""The gradient noise scale of a fitted network: the batch size beyond which larger batches stop paying off.

McCandlish et al. (2018), "An Empirical Model of Large-Batch Training":
the simple noise scale ``B_simple = tr(Sigma) / |G|^2`` (``Sigma`` the
covariance of per-example gradients, ``G`` their mean) predicts the
critical batch size. :func:`gradient_noise_scale` computes it exactly from
per-example gradients (``torch.func``), or, for modules that cannot give
them, with the paper's two-batch estimator.
"""

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..estimators.network_step import network_step
from ..training.iterator import to_tensor
from ..training.noise_tracking import two_batch_estimates

__all__ = ["NoiseScale", "gradient_noise_scale", "statistical_efficiency"]


@dataclass(frozen=True)
class NoiseScale:
    """The gradient noise scale of a network on some rows, and its parts.

    Attributes
    ----------
    b_simple : float
        ``trace_covariance / grad_norm_squared``: McCandlish et al.'s
        simple noise scale, an estimate of the critical batch size. NaN
        when the two-batch estimate of ``|G|^2`` is not positive.
    trace_covariance : float
        ``tr(Sigma)``: the summed variance, over all parameters, of the
        per-example gradients of the training loss, the population variance
        over the given rows (divided by their number).
    grad_norm_squared : float
        ``|G|^2``: squared norm of the mean gradient over the given rows.
    method : {'exact', 'two-batch'}
        ``'exact'``: from every row's own gradient; ``'two-batch'``: from
        mean-gradient norms at two batch sizes (appendix A.1 of the paper).
    n_samples : int
        Rows the gradients were taken on.
    """

    b_simple: float
    trace_covariance: float
    grad_norm_squared: float
    method: str
    n_samples: int


def gradient_noise_scale(estimator, X, y, *, chunk_size=256, method="auto", b_small=None, n_draws=32, random_state=None):
    """Gradient noise scale ``B_simple = tr(Sigma) / |G|^2`` of a fitted network on ``X, y``.

    The loss is the training loss (cross-entropy, squared error), without
    the ``alpha`` penalty, at the estimator's current weights, with the
    module in training mode (dropout active, as during training). ``G`` is
    the mean gradient over the given rows and ``Sigma`` the population
    covariance of their per-example gradients (divided by ``n_samples``):
    the rows are the distribution, so the result is exact for them; pass
    the training rows to get the noise of training. Batches of ``B`` rows
    drawn from them have gradient noise ``tr(Sigma) / B``.

    Parameters
    ----------
    estimator : BaseTorchEstimator or Pipeline
        A fitted skbatch estimator, or a Pipeline ending in one (``X`` is
        transformed through the earlier steps).
    X : array-like of shape (n_samples, n_features)
        Rows, as for ``fit``.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets, as for ``fit``.
    chunk_size : int, default=256
        Rows whose per-example gradients are held at once; lower it if the
        device runs out of memory.
    method : {'auto', 'exact', 'two-batch'}, default='auto'
        ``'auto'`` computes per-example gradients with ``torch.func`` and
        falls back to ``'two-batch'``, with a warning naming the reason,
        when the module cannot give them (batch normalization in training
        mode mixes the rows of a batch; a forward pass that branches on
        the data cannot be vectorized).
    b_small : int or None, default=None
        Two-batch estimator: the small batch size; None takes
        ``min(32, n_samples // 4)``. The big batch is all the rows.
    n_draws : int, default=32
        Two-batch estimator: random small batches averaged.
    random_state : int, RandomState or None, default=None
        Dropout masks and the two-batch estimator's draws.

    Returns
    -------
    NoiseScale

    References
    ----------
    McCandlish, Kaplan, Amodei and the OpenAI Dota Team (2018), "An
    Empirical Model of Large-Batch Training", arXiv:1812.06162.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skbatch import MLPClassifier, gradient_noise_scale
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MLPClassifier(max_epochs=3, device="cpu", random_state=0).fit(X / 16, y)
    >>> gradient_noise_scale(clf, X / 16, y).method
    'exact'
    """
    if method not in ("auto", "exact", "two-batch"):
        raise ValueError(f"method must be 'auto', 'exact' or 'two-batch'; got {method!r}.")
    network, _ = network_step(estimator)
    if network is None:
        raise TypeError(f"gradient_noise_scale needs an skbatch estimator or a Pipeline ending in one; got {type(estimator).__name__}.")
    check_is_fitted(network)
    if isinstance(estimator, Pipeline):
        X = estimator[:-1].transform(X)
    X = network._validate_X(X)
    y = network._encode_targets(y, classes=None, resume=True, incremental=False)
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}; pass matching X and y.")
    if len(X) < 2:
        raise ValueError(f"gradient_noise_scale needs at least 2 rows to measure a variance; got {len(X)}.")
    net = network.net_
    device = torch.device(net.device)
    X, y = to_tensor(X, device=device), to_tensor(y, device=device)
    rng = check_random_state(random_state)
    module = net.module_
    was_training = module.training
    # Training-mode forward passes update batch-norm statistics: the estimator must not change.
    buffers = {name: b.detach().clone() for name, b in module.named_buffers()}
    devices = [device] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(int(rng.randint(np.iinfo(np.int32).max)))
            module.train()
            reason = None if method == "two-batch" else _per_example_obstacle(module)
            if reason is None and method != "two-batch":
                try:
                    return _exact(net, X, y, chunk_size)
                except torch.OutOfMemoryError:
                    raise  # not a property of the module: a smaller chunk_size fits
                except (RuntimeError, ValueError, NotImplementedError) as error:
                    # torch.func refuses data-dependent control flow and in-place batch statistics.
                    reason = f"torch.func could not vectorize its forward pass ({type(error).__name__}: {error})"
            if method == "exact":
                raise ValueError(f"{type(module).__name__} cannot give per-example gradients: {reason}. Use method='two-batch'.")
            if reason is not None:
                warnings.warn(
                    f"{type(module).__name__} cannot give per-example gradients: {reason}. "
                    "gradient_noise_scale falls back to the two-batch estimator (McCandlish et al. "
                    "2018, appendix A.1), which is unbiased but noisy; raise n_draws to lower its variance.",
                    UserWarning,
                    stacklevel=2,
                )
            return _two_batch(net, X, y, b_small=b_small, n_draws=n_draws, chunk_size=chunk_size, rng=rng)
    finally:
        module.train(was_training)
        with torch.no_grad():
            for name, b in module.named_buffers():
                b.copy_(buffers[name])
        module.zero_grad(set_to_none=True)


def _per_example_obstacle(module):
    for name, sub in module.named_modules():
        if isinstance(sub, torch.nn.modules.batchnorm._BatchNorm) and sub.training:
            return f"its layer {name or type(sub).__name__} is batch normalization in training mode, which mixes the rows of a batch"
    return None


def _exact(net, X, y, chunk_size):
    from torch.func import functional_call, grad, vmap

    module = net.module_
    params = {name: p.detach() for name, p in module.named_parameters() if p.requires_grad}
    buffers = {name: b.detach() for name, b in module.named_buffers()}

    def loss_of_one(p, x, t):
        y_pred = functional_call(module, (p, buffers), (x.unsqueeze(0),))
        return net.get_loss(y_pred, t.unsqueeze(0), training=True)

    per_example = vmap(grad(loss_of_one), in_dims=(None, 0, 0), randomness="different")
    # float64 sums: tr(Sigma) is a difference of two sums that may be close.
    total = {name: torch.zeros_like(p, dtype=torch.float64) for name, p in params.items()}
    total_sq = torch.zeros((), dtype=torch.float64, device=X.device)
    n = len(X)
    for start in range(0, n, chunk_size):
        grads = per_example(params, X[start : start + chunk_size], y[start : start + chunk_size])
        for name, g in grads.items():
            g = g.double()
            total[name] += g.sum(dim=0)
            total_sq += (g * g).sum()
    grad_sq = sum(float(((t / n) ** 2).sum()) for t in total.values())
    trace = float(total_sq) / n - grad_sq
    return _result(trace, grad_sq, "exact", n)


def _mean_gradient(net, X, y, chunk_size):
    """The gradient of the mean loss over ``X``, computed in chunks, as one flat float64 vector."""
    module = net.module_
    module.zero_grad(set_to_none=True)
    n = len(X)
    for start in range(0, n, chunk_size):
        X_chunk, y_chunk = X[start : start + chunk_size], y[start : start + chunk_size]
        loss = net.get_loss(module(X_chunk), y_chunk, training=True) * (len(X_chunk) / n)
        loss.backward()
    return torch.cat([p.grad.double().ravel() for p in module.parameters() if p.grad is not None])


def _two_batch(net, X, y, *, b_small, n_draws, chunk_size, rng):
    n = len(X)
    if b_small is None:
        b_small = max(1, min(32, n // 4))
    if not 1 <= b_small < n:
        raise ValueError(f"b_small must be between 1 and n_samples - 1 = {n - 1}; got {b_small}.")
    # The big batch is every row: its norm is |G|^2 itself, with no sampling error.
    grad_sq_big = float((_mean_gradient(net, X, y, chunk_size) ** 2).sum())
    small = []
    for _ in range(n_draws):
        rows = torch.as_tensor(rng.choice(n, size=b_small, replace=False), device=X.device)
        small.append(float((_mean_gradient(net, X[rows], y[rows], chunk_size) ** 2).sum()))
    grad_sq, trace = two_batch_estimates(float(np.mean(small)), grad_sq_big, b_small, n, n_samples=n)
    return _result(trace, grad_sq, "two-batch", n)


def _result(trace, grad_sq, method, n):
    b_simple = trace / grad_sq if grad_sq > 0 else math.nan
    return NoiseScale(
        b_simple=float(b_simple), trace_covariance=float(trace), grad_norm_squared=float(grad_sq), method=method, n_samples=int(n)
    )


def statistical_efficiency(batch_size, noise_scale, base_batch_size):
    """Progress per example at ``batch_size`` relative to ``base_batch_size``, given the noise scale.

    Pollux (Qiao et al., OSDI 2021), after McCandlish et al. (2018): a step
    of ``B`` rows makes ``1 / (1 + B_noise / B)`` of the progress of a
    noise-free step, so per example, relative to batches of ``B0`` rows,
    the efficiency is ``(B_noise + B0) / (B_noise + B)``: 1 at ``B0``,
    falling once ``B`` passes the noise scale. Goodput, the useful
    examples per second, is throughput times this.

    Parameters
    ----------
    batch_size : float or array-like
        ``B``.
    noise_scale : float or array-like
        ``B_noise`` (e.g. ``b_simple``); NaN gives NaN.
    base_batch_size : float
        ``B0``.

    Returns
    -------
    float or ndarray
    """
    noise_scale = np.asarray(noise_scale, dtype=float)
    return (noise_scale + base_batch_size) / (noise_scale + np.asarray(batch_size, dtype=float))
