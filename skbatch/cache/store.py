"""Fit cache: each finished fit is kept on disk, so a rerun search restores it instead of retraining.

An estimator with ``cache_dir`` set (see :class:`skbatch.MLPClassifier`)
looks up its fit before training. The entry is keyed on the estimator's
class and params (all but ``cache_dir`` and ``verbose``, which change no
result) and on a fingerprint of the training data, so an interrupted
search, run again with the same directory, trains only the (candidate,
fold) fits it had not finished, while a changed dataset or grid never
reuses a stale fit. The location travels as a param because a search's
worker processes see nothing but the estimator.

Layout of a cache directory::

    fits/<key>.safetensors  the fitted state: weights and optimizer state as
                            tensors; the entry's key, fitted attributes and
                            history as JSON in its metadata
    records/<key>.json      what happened: params, data fingerprints, device,
                            fit time, peak memory, epochs, batch size,
                            status ('ok' or 'failed') and the error message

Loading an entry runs no code: it reads tensors and JSON (see
:mod:`skbatch.cache.entry`), rebuilds the estimator from its params, and
uses the entry only if it passes the checks listed there, and if the
attributes the data decide (``classes_``, ...) are what the training data
give. An entry that cannot be loaded or verified is ignored with a
warning, and the fit trains again. Since whoever may write the folder
could write an entry that passes, ``cache_dir`` must be this account's
own and not writable by others (the device slot folder's rule), checked
before each fit. A fit whose params cannot be fingerprinted exactly (a lambda,
a closure) is never cached: one warning says so and it trains.

Every file is written to a temporary name in the same folder and moved
into place with ``os.replace``, which is atomic: a fit interrupted at any
point (Ctrl-C, a killed worker, a dead kernel) leaves either a whole
entry or none, and the next write removes what a killed writer left. A fit
that was interrupted leaves no record; one that failed leaves a 'failed'
record (which :func:`skbatch.search_report` shows) and is trained again on
the next run, since failures such as out of memory may not recur. A write
that fails (a read-only folder, a full disk) is reported by a warning; the
trained estimator is returned all the same.

The key holds the network class's import path, not its source code: after
editing a network's code, use a new directory. Fingerprinting hashes the
training data once per fit (MD5 through ``joblib.hash``, some hundreds of
MB per second), a cost paid only when ``cache_dir`` is set.
"""

import contextlib
import copy
import datetime
import json
import os
import socket
import threading
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.base import clone

from .._compat import InvalidParameterError
from .._folders import tamper_risk
from ..batching.plan import running_batch_size
from ..estimators.fitted_state import same_value
from .atomic import atomic_write
from .entry import UnstorableStateError, decode_entry, decode_state, encode_entry, encode_state
from .keys import (
    _FORMAT,
    _UNKEYED_PARAMS,
    UnfingerprintableParamError,
    combined_key,
    data_fingerprint,
    family_key,
    key_fingerprints,
)
from .records import read_records, read_regular_file

__all__ = [
    "FitCache",
    "check_cache_dir",
    "fit_cached",
    "load_fit_records",
    "longest_shorter",
    "scratch_directory",
    "watch_restores",
]

# Fitted states stored by this process with ``handoff=True``, by (directory,
# key): the next restore of that entry in this process takes the state
# itself instead of reading the file back. A fused search stores fits that
# its own per-fold fits restore moments later; rebuilding each from its
# file would cost more than some of them took to train.
_handoffs = {}

# Directories that this process alone uses, and removes after (a fused
# search's temporary cache), by name: True where a later fit reads their
# entries back (the next rung of a halving search), False where none does.
# See :func:`scratch_directory`.
_scratch = {}

# The entries of scratch directories read again, by (directory, key): each
# a snapshot of the fitted state, as :func:`~skbatch.cache.entry.encode_state`
# gives it (tensors copied to the host, the rest as JSON-able values), kept
# instead of the file. A halving search's next rung continues its survivors
# from these: packing, checksumming and writing each entry, then reading and
# checking it back, cost more than a small fit's training. Up to
# _KEPT_BUDGET bytes of tensors in all; past that, entries go to files.
_kept = {}
_KEPT_BUDGET = 512 * 2**20
_kept_bytes = {}  # by directory: the bytes of tensors its snapshots hold

# Per thread: the lists that :func:`watch_restores` blocks opened in it. A
# thread, since a joblib worker runs each task in one, and threads sharing a
# process (the threading backend) must not see each other's restores.
_watchers = threading.local()


@contextlib.contextmanager
def watch_restores():
    """Collect, while the block runs in this thread, the fits it restores from cache files.

    Yields a list that gets the modification time (``time.time()`` scale) of
    each fit file restored from disk. A state handed off in memory
    (``store(..., handoff=True)``) was trained by this very run and is not
    listed. :mod:`skbatch.inspection.progress` uses this to tell a resumed
    search's restored fits from the ones it trains.
    """
    watched = []
    stack = _watchers.__dict__.setdefault("stack", [])
    stack.append(watched)
    try:
        yield watched
    finally:
        stack.remove(watched)


@contextlib.contextmanager
def scratch_directory(directory, *, read_again):
    """While the block runs, entries this process stores in ``directory`` are not flushed to disk.

    For a directory removed after the block, which no other process reads.
    With ``read_again=False`` nothing is written there at all: a fit stored
    with ``handoff=True`` is kept in memory for its one restore, any other
    is not kept (nothing would read it). With ``read_again=True`` each
    entry is kept in memory as a snapshot (up to a budget, past which it
    is written to a file) and its record written. The directory must be
    used by this process alone: a worker process does not see the setting.
    Its snapshots are forgotten when the block ends.
    """
    _scratch[str(directory)] = read_again
    try:
        yield
    finally:
        _scratch.pop(str(directory), None)
        for entry in [entry for entry in _kept if entry[0] == str(directory)]:
            del _kept[entry]
        _kept_bytes.pop(str(directory), None)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    return repr(value)


class FitCache:
    """A cache directory of finished fits and their records.

    Parameters
    ----------
    directory : str or path-like
        Created on first write. Safe to share between the processes of
        one search, and between searches: entries never collide unless
        they describe the same fit.
    """

    def __init__(self, directory):
        self.directory = Path(directory)

    def key(self, estimator, X, y, *, fingerprints=None, sample_weight=None):
        """Entry key and fingerprints for fitting ``estimator`` on ``X``, ``y``.

        ``fingerprints``, the ``(X, y)`` pair from :func:`data_fingerprint`
        when the caller has them already, saves hashing the data again.
        ``sample_weight`` is part of the targets' fingerprint: a weighted fit
        is another fit.
        """
        params_fp, continuation_fp = key_fingerprints(estimator)
        x_fp, y_fp = fingerprints if fingerprints is not None else (data_fingerprint(X), data_fingerprint(y))
        if sample_weight is not None:
            y_fp = combined_key(y_fp, data_fingerprint(sample_weight))
        return {
            "key": combined_key(params_fp, x_fp, y_fp),
            "params_fingerprint": params_fp,
            "x_fingerprint": x_fp,
            "y_fingerprint": y_fp,
            # Equal for fits that differ in max_epochs alone: one can continue the other.
            "continuation_key": combined_key(continuation_fp, x_fp, y_fp),
        }

    def shorter_fits(self):
        """Finished fits by continuation key: ``{continuation_key: [(max_epochs, n_iter, key dict), ...]}``.

        Read once from the records, for a caller about to look up many fits
        (:func:`longest_shorter` picks from it). Entries whose fit file is
        gone are left out.
        """
        found = {}
        for record in self.records():
            ckey = record.get("continuation_key")
            if ckey is None or record.get("status") != "ok" or record.get("n_iter") is None:
                continue
            # What a record says is checked where it is used (fused/resume.py): here, only its form.
            try:
                key = {name: str(record[name]) for name in ("key", "params_fingerprint", "x_fingerprint", "y_fingerprint")}
                epochs, n_iter = int(record["params"]["max_epochs"]), int(record["n_iter"])
            except (KeyError, TypeError, ValueError):
                continue
            key["continuation_key"] = str(ckey)
            if not self.has_fit(key):
                continue
            found.setdefault(key["continuation_key"], []).append((epochs, n_iter, key))
        return found

    def restore_copy(self, estimator, key):
        """:meth:`restore`, leaving the entry as it is: a state handed off in memory is copied, not taken.

        For a fit that continues training from this one: the entry itself
        must stay restorable by the fit it belongs to.
        """
        entry = (str(self.directory), key["key"])
        if entry in _kept:  # rebuilt from the snapshot: a copy of its own, and cheaper than a deep copy
            self._restore_kept(estimator, entry)
            return True
        state = _handoffs.get(entry)
        if state is not None:
            vars(estimator).update(copy.deepcopy(state))
            return True
        return self.restore(estimator, key)

    def fit_path(self, key):
        """Where the entry of the fit ``key`` (a key string) is."""
        return self.directory / "fits" / f"{key}.safetensors"

    def record_path(self, key):
        """Where the record of the fit ``key`` (a key string) is."""
        return self.directory / "records" / f"{key}.json"

    def has_fit(self, key):
        """Whether a finished fit is stored under ``key`` (or handed off, or kept, in this process)."""
        return self.held_here(key) or self.fit_path(key["key"]).exists()

    def held_here(self, key):
        """Whether this process holds the fit ``key`` in memory (handed off or kept): trained here, never read from a file."""
        entry = (str(self.directory), key["key"])
        return entry in _handoffs or entry in _kept

    def restore(self, estimator, key):
        """Give ``estimator`` the fitted state stored under ``key``; return whether there was one.

        An entry that cannot be read, or that holds another key's fit, is
        ignored with a warning: the caller trains instead.
        """
        state = _handoffs.pop((str(self.directory), key["key"]), None)
        if state is not None:
            vars(estimator).update(state)
            return True
        entry = (str(self.directory), key["key"])
        if entry in _kept:
            self._restore_kept(estimator, entry)
            return True
        path = self.fit_path(key["key"])
        if not os.path.lexists(path):
            return False
        try:
            # The open file's own time: os.replace may put a newer entry at `path` meanwhile.
            data, stored_at = read_regular_file(path)
            decode_entry(data, estimator, key["key"], _FORMAT)
        except Exception as error:  # whatever is wrong with the file, training again is right
            warnings.warn(
                f"Ignoring the cached fit {path}: {error} ({type(error).__name__}). Training again.",
                RuntimeWarning,
                stacklevel=3,
            )
            return False
        for watched in getattr(_watchers, "stack", ()):
            watched.append(stored_at)
        if not self.record_path(key["key"]).exists():
            # The run that trained it stopped between its two writes.
            self.write_record(self.make_record(estimator, key, status="ok"))
        return True

    def keeps_records(self):
        """Whether :meth:`store` writes a record here: everywhere but a :func:`scratch_directory` that nothing reads again."""
        return _scratch.get(str(self.directory), None) is not False

    def store(self, estimator, key, record, *, handoff=False):
        """Write the fitted state of ``estimator``, then its record; return whether the entry was written.

        ``record`` (from :meth:`make_record`) may be None where
        :meth:`keeps_records` is False: it would not be read.

        A write that fails (a full disk, a read-only folder) or a fitted
        attribute the cache cannot store is reported by a warning, never
        raised: the fit itself is done.

        With ``handoff=True`` the next :meth:`restore` of this entry in this
        process takes the state itself (``estimator`` must not be used
        after), not a copy read back from the file; :meth:`drop_handoffs`
        forgets those not taken. In a :func:`scratch_directory`, files are
        not flushed to disk, or not written at all, or kept in memory.
        """
        params = estimator.get_params(deep=False)
        if handoff:
            _handoffs[(str(self.directory), key["key"])] = {name: value for name, value in vars(estimator).items() if name not in params}
        read_again = _scratch.get(str(self.directory), None)
        if read_again is False:
            return True
        durable = read_again is None
        try:
            if read_again and self._keep(estimator, key):
                return self.write_record(record, durable=False)
            data = encode_entry(estimator, key["key"], _FORMAT)
        except UnstorableStateError as error:
            warnings.warn(f"This fit is not cached: {error}.", RuntimeWarning, stacklevel=3)
            return False
        try:
            self._make_folder("fits")
            atomic_write(self.fit_path(key["key"]), lambda handle: handle.write(data), sync=durable)
        except OSError as error:
            self._warn_write_failed(error)
            return False
        return self.write_record(record, durable=durable)

    @staticmethod
    def _restore_kept(estimator, entry):
        """Give ``estimator`` the snapshot kept as ``entry``, which stays kept."""
        tensors, state = _kept[entry]
        # Trained by this process, never read from a file: nothing to
        # check. The weights are copied in; the optimizer may keep its
        # state tensors as given, so it gets copies the snapshot never shares.
        decode_state({name: tensor.clone() for name, tensor in tensors.items()}, state, estimator)

    def _keep(self, estimator, key):
        """Keep a snapshot of ``estimator``'s fit in memory as the entry of ``key``; False past the budget."""
        tensors, state = encode_state(estimator)
        entry, folder = (str(self.directory), key["key"]), str(self.directory)
        size = sum(tensor.nbytes for tensor in tensors.values())
        replaced = sum(tensor.nbytes for tensor in _kept[entry][0].values()) if entry in _kept else 0
        if sum(_kept_bytes.values()) - replaced + size > _KEPT_BUDGET:
            return False
        _kept[entry] = (tensors, state)
        _kept_bytes[folder] = _kept_bytes.get(folder, 0) - replaced + size
        return True

    def _make_folder(self, name):
        # Mode 0755 whatever the umask (0002 would make them group-writable):
        # check_cache_dir refuses folders that others may write.
        for folder in (self.directory, self.directory / name):
            if not folder.is_dir():
                folder.mkdir(mode=0o755, parents=True, exist_ok=True)

    def _warn_write_failed(self, error):
        warnings.warn(
            f"Could not write to the fit cache {str(self.directory)!r}: {error}. The fit is "
            "kept in memory but not cached; free space or fix the folder's permissions, "
            "or set cache_dir=None.",
            RuntimeWarning,
            stacklevel=4,
        )

    def drop_handoffs(self):
        """Forget the states this process stored for handing off in this directory and did not restore."""
        for entry in [entry for entry in _handoffs if entry[0] == str(self.directory)]:
            del _handoffs[entry]

    def write_record(self, record, *, durable=True):
        """Write one fit's record (a JSON-able dict holding its ``key``); warn and return False if it fails."""
        text = json.dumps(record, default=_json_default, indent=1).encode()
        try:
            self._make_folder("records")
            atomic_write(self.record_path(record["key"]), lambda handle: handle.write(text), sync=durable)
        except OSError as error:
            self._warn_write_failed(error)
            return False
        return True

    def records(self):
        """Every record in the directory, as a list of dicts (partial writes are never seen).

        A file that is not a record is skipped with a warning (see :mod:`skbatch.cache.records`).
        """
        return read_records(self.directory)

    def make_record(self, estimator, key, *, status, error=None, fit_time=None):
        """Describe one fit of ``estimator`` under ``key``."""
        n_features = getattr(estimator, "n_features_in_", None)
        device = getattr(estimator, "device_", None)
        net = getattr(estimator, "net_", None)
        if status == "ok":
            n_iter, batch_size = getattr(estimator, "n_iter_", None), getattr(estimator, "batch_size_", None)
        else:  # the epochs run before the failure, and the batch size it failed at
            n_iter = None if net is None else len(net.history)
            batch_size = running_batch_size(net)
        return {
            **key,
            "format": _FORMAT,
            "estimator": type(estimator).__name__,
            "params": {name: value for name, value in estimator.get_params(deep=False).items() if name not in _UNKEYED_PARAMS},
            "family": None if n_features is None else family_key(estimator, n_features),
            "status": status,
            "error": None if error is None else f"{type(error).__name__}: {error}",
            "device": None if device is None else str(device),
            "device_uuid": getattr(estimator, "device_uuid_", None),
            "fit_time": getattr(estimator, "fit_time_", fit_time) if status == "ok" else fit_time,
            "peak_memory": getattr(estimator, "peak_memory_", None),
            "n_iter": n_iter,
            "batch_size": batch_size,
            "n_features_in": n_features,
            "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }


def check_cache_dir(estimator):
    """Raise InvalidParameterError if ``estimator.cache_dir`` cannot be a cache folder; before training."""
    value = estimator.cache_dir
    name = type(estimator).__name__
    if value is None:
        return
    if not str(os.fspath(value)).strip():
        raise InvalidParameterError(
            f"The 'cache_dir' parameter of {name} must be a folder or None. Got {value!r} instead, "
            "which would write into the working directory. Pass a folder, or None to cache nothing."
        )
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise InvalidParameterError(
            f"The 'cache_dir' parameter of {name} must be a folder or None. Got {str(value)!r} "
            "instead, which is a file. Pass a folder (it is created if missing), or None to cache nothing."
        )
    # The folder the user named may be a link; the ones skbatch made inside may not.
    for folder, follow in ((path, True), (path / "fits", False), (path / "records", False)):
        _check_own_folder(folder, follow=follow, name=name, value=value)


def _check_own_folder(folder, *, follow, name, value):
    """The rule of :func:`skbatch._folders.tamper_risk`: this account's own folder, and no one else may write to it.

    Whoever can write to a cache folder can make an estimator return any
    model they like: the checks on an entry find damage, but a checksum
    anyone can compute is no signature.
    """
    risk = tamper_risk(folder, follow=follow)
    if risk is None:
        return
    kind, detail = risk
    start = (
        f"The 'cache_dir' parameter of {name} must be a folder of this account's that no one else may write to. "
        f"Got {str(value)!r} instead, where {str(folder)!r}"
    )
    fix = "Pass a folder of your own, or None to cache nothing."
    if kind == "not a folder":
        raise InvalidParameterError(f"{start} is not a folder (a link or a file). {fix}")
    if kind == "owner":
        raise InvalidParameterError(
            f"{start} belongs to uid {detail}, not to this account (uid {os.getuid()}), and could hold fits it planted. {fix}"
        )
    raise InvalidParameterError(
        f"{start} has mode {detail:o}: other accounts may write to it, and so plant "
        f"fits that this estimator would return. Run `chmod go-w {folder}`, or pass another folder."
    )


def longest_shorter(shorter, key, max_epochs):
    """The fit of ``shorter`` (from :meth:`FitCache.shorter_fits`) that a fit of ``max_epochs`` continues.

    Returns ``(epochs, n_iter, key)`` of the longest finished fit with the
    same continuation key and fewer ``max_epochs``, or of one that stopped
    early (``n_iter`` below its own ``max_epochs``) at or before
    ``max_epochs``; None when there is none.
    """
    best = None
    for epochs, n_iter, found in shorter.get(key["continuation_key"], ()):
        if found["key"] == key["key"] or n_iter > max_epochs or (epochs > max_epochs and n_iter == epochs):
            continue
        if best is None or n_iter > best[1]:
            best = (epochs, n_iter, found)
    return best


def fit_cached(estimator, X, y, sample_weight=None):
    """``estimator.fit(X, y, sample_weight=sample_weight)`` through the cache at ``estimator.cache_dir``.

    Restores the stored fit when there is one; otherwise trains, then
    stores the fit and its record. A failed fit gets a 'failed' record and
    its error is raised again; an interrupted one (KeyboardInterrupt,
    SystemExit) leaves nothing. A fit whose params cannot be fingerprinted
    exactly trains without the cache, after a warning.
    """
    estimator._validate_params()
    check_cache_dir(estimator)
    cache = FitCache(estimator.cache_dir)
    try:
        key = cache.key(estimator, X, y, sample_weight=sample_weight)
    except UnfingerprintableParamError as error:
        warnings.warn(
            f"{error}, so this fit is not cached: two such fits could not be told apart. "
            "Pass a module-level function or class, or a functools.partial of one.",
            RuntimeWarning,
            stacklevel=3,
        )
        return estimator._fit(X, y, incremental=False, sample_weight=sample_weight)
    if _restore_checked(cache, estimator, key, X, y):
        return estimator
    start = time.perf_counter()
    try:
        estimator._fit(X, y, incremental=False, sample_weight=sample_weight)
    except Exception as error:
        cache.write_record(cache.make_record(estimator, key, status="failed", error=error, fit_time=time.perf_counter() - start))
        raise
    fit_time = time.perf_counter() - start
    record = cache.make_record(estimator, key, status="ok", fit_time=fit_time) if cache.keeps_records() else None
    cache.store(estimator, key, record)
    return estimator


# Fitted attributes that the data alone decide, set by ``_prepare_data``.
_DATA_ATTRIBUTES = ("n_features_in_", "feature_names_in_", "input_shape_", "classes_", "_multilabel", "n_outputs_")


def _restore_checked(cache, estimator, key, X, y):
    """:meth:`FitCache.restore` into ``estimator``, if the entry's data-derived attributes are what ``X``, ``y`` give.

    The key holds the data's fingerprint, but an entry's ``classes_`` could
    still have been edited (and its checksum recomputed): the estimator's
    own data preparation, run on a clone, says what they must be.
    """
    if cache.held_here(key):
        # Trained by this very process moments ago, never read from a file.
        return cache.restore(estimator, key)
    if not os.path.lexists(cache.fit_path(key["key"])):
        return False  # a miss, told before a probe is cloned for it (as restore tells it)
    probe = clone(estimator)
    if not cache.restore(probe, key):
        return False
    fresh = clone(estimator)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fit itself warned about the data already
        fresh._prepare_data(X, y, incremental=False)
    missing = object()
    for name in _DATA_ATTRIBUTES:
        if not same_value(vars(probe).get(name, missing), vars(fresh).get(name, missing)):
            warnings.warn(
                f"Ignoring the cached fit {cache.fit_path(key['key'])}: its {name} is not what the "
                "training data give (ValueError). Training again.",
                RuntimeWarning,
                stacklevel=3,
            )
            return False
    params = probe.get_params(deep=False)
    vars(estimator).update({name: value for name, value in vars(probe).items() if name not in params})
    return True


def load_fit_records(cache_dir):
    """Every fit record in ``cache_dir`` as a DataFrame, one row per fit, newest last.

    Parameters
    ----------
    cache_dir : str or path-like
        The ``cache_dir`` the estimators of a search were given.

    Returns
    -------
    pandas.DataFrame
        Columns include ``estimator``, ``params``, ``status``, ``error``,
        ``device``, ``device_uuid``, ``fit_time``, ``peak_memory``,
        ``n_iter``, ``batch_size`` and ``finished_at``.
    """
    import pandas as pd

    records = FitCache(cache_dir).records()
    table = pd.DataFrame(records)
    if "finished_at" in table:
        table = table.sort_values("finished_at", ignore_index=True)
    return table
