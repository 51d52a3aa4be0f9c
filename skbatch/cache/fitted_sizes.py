"""Batch sizes that finished training, as a cache directory's records tell: advice for a fit that ran out of memory."""

from .keys import family_key
from .store import FitCache

__all__ = ["recorded_batch_sizes"]


def recorded_batch_sizes(estimator):
    """Batch sizes that trained ``estimator``'s family on its device type, from the records in its ``cache_dir``.

    Other processes and earlier runs of a search write their fits' records
    there; :func:`skbatch.training.faults.explain_training_error` adds
    these sizes to the ones this process saw.

    Parameters
    ----------
    estimator : BaseTorchEstimator
        Being fitted: ``n_features_in_`` and ``device_`` are set.

    Returns
    -------
    list of int
    """
    cache_dir = getattr(estimator, "cache_dir", None)
    if cache_dir is None:
        return []
    family = family_key(estimator, estimator.n_features_in_)
    device_type = estimator.device_.type
    return [
        record.get("batch_size")
        for record in FitCache(cache_dir).records()
        if record.get("status") == "ok" and record.get("family") == family and str(record.get("device", "")).split(":")[0] == device_type
    ]
