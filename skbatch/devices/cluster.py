"""Running a search's fits on a Dask cluster that may lose workers.

scikit-learn hands a search's fits to joblib, and joblib's ``dask``
backend hands them to the cluster. That backend scatters every large
argument (the data, each fold's row indices) to a single worker, and data
scattered to a worker that dies is gone for good: Dask cannot recompute it,
so it cancels every fit that needs it and the whole search fails with
``FutureCancelledError: ... already forgotten``. :func:`dask_parallel` is
the same backend with the arguments sent inside each task instead, so that
the scheduler, which keeps every task until it is done, reruns the fits of
a lost worker on the others.
"""

import contextlib

import joblib

from .._compat import dask_backend_without_scatter

__all__ = ["dask_parallel"]

_BACKEND = "skbatch-dask"


@contextlib.contextmanager
def dask_parallel(client=None, *, wait_for_workers_timeout=10):
    """Run the searches fitted inside the ``with`` block on a Dask cluster, surviving lost workers.

    Like ``joblib.parallel_config(backend='dask')``, but no input of a fit
    is held by one worker alone: the data travels inside each task, so when
    a worker dies (preempted, out of memory, killed) the scheduler runs its
    unfinished fits on the workers left, and the search's ``cv_results_``
    are those of a run that lost nothing. Fits that had finished on the lost
    worker are restored, not trained again, when the estimator has a
    ``cache_dir`` that every worker can reach.

    Parameters
    ----------
    client : distributed.Client, default=None
        The cluster's client. None takes the current one
        (``distributed.get_client()``), such as the last ``Client``
        created in this process.
    wait_for_workers_timeout : float, default=10
        Seconds to wait for a first worker when the cluster has none.

    Yields
    ------
    None
        Inside the block, a search with ``n_jobs=-1`` (or ``None``) runs
        one fit per worker thread of the cluster.

    Notes
    -----
    The price is bandwidth: every batch of fits carries a copy of ``X``
    and ``y`` from this process through the scheduler, where the ``dask``
    backend sends it once per worker. That is little for the data a
    neural network search usually fits on one node (tens of MB; above
    10 MB Dask warns "Sending large graph"), but for data of several GB,
    read it from shared storage inside a custom estimator instead. A worker that dies three times while running the
    same fit makes Dask give up on it (``KilledWorker``, see
    ``distributed.scheduler.allowed-failures``): that is a fit that kills
    its worker, not a preempted one.

    Examples
    --------
    .. code-block:: python

       from distributed import Client
       from skbatch import dask_parallel

       client = Client("tcp://scheduler:8786")
       with dask_parallel(client):
           search.fit(X, y)
    """
    # Registered on first use: the backend imports dask, an optional dependency.
    joblib.register_parallel_backend(_BACKEND, dask_backend_without_scatter())
    with joblib.parallel_config(backend=_BACKEND, client=client, wait_for_workers_timeout=wait_for_workers_timeout):
        yield
