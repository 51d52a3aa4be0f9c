"""Continued fits: a longer fit starts from a shorter one's checkpoint in the fit cache.

A fit of 18 epochs whose params match a cached fit of 6 epochs in all but
``max_epochs`` (their cache entries share a ``continuation_key``) passes
through exactly that fit's state, so a fused search restores the 6-epoch
fit and trains the 12 epochs left. A fit whose shorter twin stopped early
(the plateau rule, before its own ``max_epochs``) would stop at the same
epoch: it is that fit, stored again under its own key.
"""

from dataclasses import dataclass

from sklearn.base import clone

from ..cache.store import longest_shorter
from .train import continuation_reason, replay_rules

__all__ = ["ResumePoint", "resume_point"]


@dataclass(frozen=True)
class ResumePoint:
    """Where one fit starts: ``epochs`` already trained (0: from scratch), and whether it is ``done``.

    ``reason`` says why a shorter fit in the cache was not continued.
    """

    epochs: int = 0
    done: bool = False
    reason: str = None


def resume_point(cache, shorter, estimator, key):
    """Restore into ``estimator`` the cached fit it continues, if any; return its :class:`ResumePoint`.

    Parameters
    ----------
    cache : FitCache
    shorter : dict
        :meth:`FitCache.shorter_fits` of ``cache``, read once by the caller.
    estimator : BaseTorchEstimator
        Unfitted, with the fit's params. Left unfitted unless a fit is restored.
    key : dict
        The fit's cache key.
    """
    found = longest_shorter(shorter, key, estimator.max_epochs)
    if found is None:
        return ResumePoint()
    epochs, n_iter, shorter_key = found
    probe = clone(estimator)
    if not cache.restore_copy(probe, shorter_key):
        return ResumePoint()
    reason = continuation_reason(probe)
    if reason is not None:
        return ResumePoint(reason=reason)
    stopped = n_iter < epochs or replay_rules(probe)[2]
    params = probe.get_params(deep=False)
    for name, value in vars(probe).items():
        if name not in params:  # the fitted state, as the cache stores it
            setattr(estimator, name, value)
    return ResumePoint(epochs=n_iter, done=stopped or n_iter == estimator.max_epochs)
