"""Each fit's own random streams, and the one lock around torch's process-wide generator.

A fit draws its initial weights, shuffling and the built-in modules' dropout
masks from generators seeded by its ``random_state``, never from torch's
global generator: fits running in threads of one process (joblib's
threading backend, a multi-threaded Dask worker) would otherwise draw from
one shared stream and corrupt each other's results.

A module that skbatch did not build (a custom ``module``) draws from torch's
global generator as it likes, at construction and perhaps in ``forward``.
Its fit seeds that generator and holds :data:`_GLOBAL_RNG_LOCK` while it
builds the module; it holds it through training only if a trial forward
pass shows that ``forward`` draws from the global generator (dropout, say).
So such fits in threads take turns only where they must; fits of the
built-in networks never take the lock.
"""

import contextlib
import contextvars
import threading

import torch

__all__ = ["fit_generator", "fit_randomness", "forward_draws_from_global_rng", "own_generator", "seeded_torch"]

# Held by whatever seeds or forks torch's global generator: between one
# thread's seeding and its last draw, no other thread may draw or reseed.
_GLOBAL_RNG_LOCK = threading.RLock()

# The generator of the fit running in this thread (or context), for the
# built-in modules' initial weights and dropout masks.
_FIT_GENERATOR = contextvars.ContextVar("skbatch_fit_generator", default=None)


def fit_generator():
    """The current fit's ``torch.Generator``; None outside a fit (torch's global one is used then)."""
    return _FIT_GENERATOR.get()


def own_generator(build_module):
    """Mark an estimator's ``_build_module`` as drawing from :func:`fit_generator` only.

    Estimators whose builder is not marked (a custom module, or a subclass
    that overrides the builder) train with torch's global generator seeded,
    under the process-wide lock.
    """
    build_module._skbatch_own_generator = True
    return build_module


def draws_from_global_rng(estimator):
    """Whether ``estimator``'s network may draw from torch's global generator."""
    return not getattr(type(estimator)._build_module, "_skbatch_own_generator", False)


@contextlib.contextmanager
def seeded_torch(seed, device):
    """Seed torch's global generator for the block, holding the process-wide lock; restore it after."""
    cuda_devices = [device.index or 0] if device.type == "cuda" else []
    with _GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=cuda_devices):
        if device.type == "cpu":
            # The one generator fork_rng puts back. torch.manual_seed would
            # also seed (or queue seeds for) every accelerator, left seeded
            # after the block, and takes 0.2 ms doing so.
            torch.default_generator.manual_seed(int(seed))
        else:
            torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def fit_randomness(seed, device, *, global_rng):
    """The random streams of one fit: its own generator, and the global one seeded where needed.

    Parameters
    ----------
    seed : int
    device : torch.device
    global_rng : bool
        Whether the network may draw from torch's global generator (see
        :func:`draws_from_global_rng`): then the block also runs under
        :func:`seeded_torch`.

    Yields
    ------
    torch.Generator
        The fit's generator, also returned by :func:`fit_generator` in the block.
    """
    generator = torch.Generator().manual_seed(int(seed))
    token = _FIT_GENERATOR.set(generator)
    try:
        with seeded_torch(seed, device) if global_rng else contextlib.nullcontext():
            yield generator
    finally:
        _FIT_GENERATOR.reset(token)


def _global_states(device):
    states = [torch.get_rng_state()]
    if device.type == "cuda":
        states.append(torch.cuda.get_rng_state(device))
    return states


def forward_draws_from_global_rng(module, X, device):
    """Whether a training-mode forward pass of ``module`` on ``X`` draws from torch's global generator.

    The pass runs without gradients, under the lock, with the generator
    restored after, and the module's buffers (running statistics) put back.
    """
    buffers = [(buffer, buffer.clone()) for buffer in module.buffers()]
    was_training = module.training
    with seeded_torch(0, device):
        before = _global_states(device)
        try:
            module.train()
            with torch.no_grad():
                module(X)
        finally:
            module.train(was_training)
            with torch.no_grad():
                for buffer, saved in buffers:
                    buffer.copy_(saved)
        after = _global_states(device)
    return any(not torch.equal(a, b) for a, b in zip(before, after))
