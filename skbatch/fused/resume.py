"""Continued fits: a longer fit starts from a shorter one's checkpoint in the fit cache.

A fit of 18 epochs whose params match a cached fit of 6 epochs in all but
``max_epochs`` (their cache entries share a ``continuation_key``) passes
through exactly that fit's state, so a fused search restores the 6-epoch
fit and trains the 12 epochs left. A fit whose shorter twin stopped early
(the plateau rule, before its own ``max_epochs``) would stop at the same
epoch: it is that fit, stored again under its own key.
"""

import warnings
from dataclasses import dataclass

import torch
from sklearn.base import clone

from ..cache.store import longest_shorter
from ..training.epoch_rules import EpochRules
from ..training.modules import GeneratorDropout

__all__ = ["ResumePoint", "continuation_reason", "replay_rules", "resume_point"]


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
    # The record that named this fit is not checksummed as its entry is:
    # its key must be the one these params and data give, and its n_iter the entry's.
    probe = clone(estimator).set_params(max_epochs=epochs)
    own = cache.key(probe, None, None, fingerprints=(key["x_fingerprint"], key["y_fingerprint"]))
    if own["key"] != shorter_key["key"] or own["continuation_key"] != shorter_key["continuation_key"]:
        return _distrust(cache, shorter_key, "its key is not that of these params and data")
    if not cache.restore_copy(probe, shorter_key):
        return ResumePoint()
    if probe.n_iter_ != n_iter:
        return _distrust(cache, shorter_key, f"its n_iter {n_iter} is not the {probe.n_iter_} epochs its fit ran")
    reason = continuation_reason(probe)
    if reason is not None:
        return ResumePoint(reason=reason)
    stopped = n_iter < epochs or replay_rules(probe)[2]
    params = probe.get_params(deep=False)
    for name, value in vars(probe).items():
        if name not in params:  # the fitted state, as the cache stores it
            setattr(estimator, name, value)
    return ResumePoint(epochs=n_iter, done=stopped or n_iter == estimator.max_epochs)


def _distrust(cache, key, reason):
    warnings.warn(
        f"Ignoring the fit record {cache.record_path(key['key'])}: {reason}. Training this fit from scratch.",
        RuntimeWarning,
        stacklevel=3,
    )
    return ResumePoint()


def continuation_reason(estimator):
    """Why a fit restored into ``estimator`` cannot continue exactly in a stack; None if it can.

    Every rule of a stackable fit (the plateau stop, ``'invscaling'``,
    ``'adaptive'``) depends on the epochs run so far, never on
    ``max_epochs``, and each model's shuffling generator travels with its
    checkpoint, so a continued fit is the longer fit itself. Dropout masks
    are the exception: a stack draws them from one stream of its own,
    which a continued model cannot pick up where its first stack left it.
    """
    module = estimator.net_.module_
    if getattr(estimator, "dropout", 0) or any(
        isinstance(m, (torch.nn.modules.dropout._DropoutNd, GeneratorDropout)) for m in module.modules()
    ):
        return "dropout masks come from a stack's own random stream, which a continued fit cannot resume"
    optimizer = estimator.net_.optimizer_
    has_state = all(param in optimizer.state for group in optimizer.param_groups for param in group["params"])
    if not has_state and not (estimator.solver == "sgd" and estimator.momentum == 0):
        return "the checkpoint holds no optimizer state"
    return None


def replay_rules(estimator):
    """The epoch-end rules of ``estimator`` after the epochs in its history: ``(rules, lr, stopped)``.

    The rules read the training losses alone, so replaying the history
    gives the state the fit ended in (with no history: the starting state).
    """
    rules = EpochRules(estimator)
    lr, stopped = rules.replay(estimator.net_.history, estimator.lr_)
    return rules, lr, stopped
