"""Find the skbatch estimator that trains inside an estimator, a Pipeline or another meta-estimator."""

from sklearn.compose import TransformedTargetRegressor
from sklearn.pipeline import Pipeline

from .base import BaseTorchEstimator

__all__ = ["network_step", "target_step"]


def network_step(estimator, *, nested=False, through_target=False):
    """The skbatch estimator that trains in ``estimator``, and the prefix of its params.

    Every kind counts, classifiers and regressors alike: this is the one
    place that decides, so the search report and the fused searches cannot
    disagree about it.

    Parameters
    ----------
    estimator : estimator object
        An skbatch estimator, a Pipeline, or any other estimator.
    nested : bool, default=False
        Also look inside other meta-estimators (a Pipeline step that is not
        the last, a ``TransformedTargetRegressor``, a nested Pipeline) and
        return the first skbatch estimator among ``get_params(deep=True)``.
        Enough to read its params (``cache_dir``); not enough to train in
        its place, which is why the fused searches leave it False.
    through_target : bool, default=False
        Also find the regressor of a ``TransformedTargetRegressor`` that is
        ``estimator`` or its Pipeline's last step (:func:`target_step`),
        prefix ``'regressor__'``: trained in its place on the transformed
        target, as the fused searches train it.

    Returns
    -------
    network : BaseTorchEstimator or None
    prefix : str or None
        ``(estimator, '')`` for an skbatch estimator, ``(last step,
        'name__')`` for a Pipeline ending in one, ``(inner, 'path__')``
        with ``nested=True`` for one found deeper, ``(None, None)`` otherwise.
    """
    if isinstance(estimator, BaseTorchEstimator):
        return estimator, ""
    if isinstance(estimator, Pipeline) and estimator.steps:
        name, last = estimator.steps[-1]
        if isinstance(last, BaseTorchEstimator):
            return last, f"{name}__"
    if through_target:
        target, prefix = target_step(estimator)
        if target is not None and isinstance(target.regressor, BaseTorchEstimator):
            return target.regressor, f"{prefix}regressor__"
    if nested and hasattr(estimator, "get_params"):
        for name, value in estimator.get_params(deep=True).items():
            if isinstance(value, BaseTorchEstimator):
                return value, f"{name}__"
    return None, None


def target_step(estimator):
    """The ``TransformedTargetRegressor`` that is ``estimator`` or its Pipeline's last step, and the prefix of its params.

    Returns ``(estimator, '')``, ``(last step, 'name__')``, or ``(None, None)``.
    Exactly that class: a subclass may transform the target otherwise.
    """
    if type(estimator) is TransformedTargetRegressor:
        return estimator, ""
    if isinstance(estimator, Pipeline) and estimator.steps:
        name, last = estimator.steps[-1]
        if type(last) is TransformedTargetRegressor:
            return last, f"{name}__"
    return None, None
