"""The worker side of a fused search's pass: one task trains its share of the (candidate, fold) fits fused.

:meth:`skbatch.fused.search.FusedSearchMixin._pretrain_batch` groups a batch's
fits into stacks and splits them into tasks, one per worker
(:func:`split_for_workers`); each task runs :func:`train_task` in a search
worker: it prepares each fit's rows (the fold, then the Pipeline's
preprocessing fitted on it, and the target as a TransformedTargetRegressor
transforms it), looks it up in the fit cache, continues a shorter fit where
one is cached, trains the rest as stacks and stores them.
"""

import warnings
from collections import Counter

import joblib
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.pipeline import Pipeline

from .._compat import safe_split
from ..cache.keys import (
    UnfingerprintableParamError,
    data_fingerprint,
    value_fingerprint,
)
from ..cache.store import FitCache
from ..devices.pool import cpu_thread_share, place_fit
from ..estimators.network_step import network_step, target_step
from ..training.sparse import n_rows
from .preprocessing import fold_preprocessing
from .resume import resume_point
from .train import FusedMember, UnstackableError, train_fused

__all__ = ["split_for_workers", "train_task", "transformed_target"]


def split_for_workers(groups, n_workers, smallest=1):
    """Halve the largest groups until every worker has one (each half still trains as a stack).

    A group is not halved into groups of fewer than ``smallest`` fits.
    """
    tasks = [group for group in groups if group]
    while len(tasks) < n_workers:
        largest = max(tasks, key=len)
        if len(largest) // 2 < max(smallest, 1):
            break
        tasks.remove(largest)
        half = len(largest) // 2
        tasks += [largest[:half], largest[half:]]
    return tasks


def train_task(estimator, X, y, splits, task, *, handoff=False, min_stack=1):
    """Train the ``(params, fold)`` fits of ``task`` fused and store them; runs in a search worker.

    ``handoff``: the per-fold fits run in this process and take their
    trained state from memory (and where the cache is a
    :func:`~skbatch.cache.store.scratch_directory`, nothing is written).
    Fewer than ``min_stack`` of the search's fits to train, none of them
    continuing a shorter one, are left to train one by one.

    Returns the stacks trained; for each fit that could not be fused, why;
    ``(position in task, seconds)``, the share of its stack's training
    time, for each fit trained; and how many fits were already in the cache
    (a rerun with the same ``cache_dir``), which are not trained again.
    """
    failures, prepared = [], []
    transformed, fold_rows, targets = {}, {}, {}
    for position, (params, fold) in enumerate(task):
        candidate = clone(estimator).set_params(**clone(params, safe=False))
        network, _ = network_step(candidate, through_target=True)
        block = (fold,)
        if isinstance(candidate, Pipeline):
            # The rows the network's own fit would get: the preprocessing
            # steps fitted on this fold, once per fold and setting (and the
            # fold's rows taken once: a DataFrame's take costs milliseconds).
            preprocessing = fold_preprocessing(candidate)  # fitted into the memory the per-fold fits read, if any
            network_name = candidate.steps[-1][0]
            untouched = all(name.split("__")[0] == network_name for name in params)
            block = _setting_block(block, "preprocessing", untouched, lambda: preprocessing.get_params(deep=True), candidate)
            rows = _made_once(transformed, block, lambda: _transformed_rows(preprocessing, *_rows(candidate, X, y, splits, fold)))
            if isinstance(rows, Exception):
                if fold is not None:
                    failures.append(f"its preprocessing raised {type(rows).__name__}")
                continue
            X_train, y_train = rows
        else:
            if fold not in fold_rows:  # the same rows for every candidate: taken once
                fold_rows[fold] = _rows(candidate, X, y, splits, fold)
            X_train, y_train = fold_rows[fold]
        target, target_prefix = target_step(candidate)
        if target is not None:
            # Its regressor's own fit gets the target as the
            # TransformedTargetRegressor's fit transforms it: once per fold
            # and target setting, like the preprocessing.
            untouched = all(name.startswith(f"{target_prefix}regressor__") for name in params)
            block = _setting_block(block, "target transformer", untouched, lambda: _target_settings(target), target)
            y_train = _made_once(targets, block, lambda: transformed_target(target, X_train, y_train))
            if isinstance(y_train, Exception):
                if fold is not None:
                    failures.append(f"its target transformer raised {type(y_train).__name__}")
                continue
        prepared.append((position, FusedMember(network, X_train, y_train, block=block, rider=fold is None)))
    # Dropped before their keys and preparation (a skorch net each), which would be all they did.
    lone = _lone_riders([member for _, member in prepared])

    members, keys, positions = [], [], []
    n_cached, resumes, shorter, shares = 0, Counter(), {}, []
    fingerprints = {}
    for index, (position, member) in enumerate(prepared):
        if index in lone:
            continue
        network, block = member.estimator, member.block
        cache = FitCache(network.cache_dir)
        if block not in fingerprints:  # every fit of a block has the same data: hash it once
            fingerprints[block] = (data_fingerprint(member.X), data_fingerprint(member.y))
        try:
            key = cache.key(network, member.X, member.y, fingerprints=fingerprints[block])
        except UnfingerprintableParamError as error:
            failures.append(str(error))
            continue
        if cache.has_fit(key):
            n_cached += not member.rider  # a search fit, not a full-data fit for the refit
            continue
        if network.cache_dir not in shorter:  # the records are read once per task
            shorter[network.cache_dir] = cache.shorter_fits()
        start = resume_point(cache, shorter[network.cache_dir], network, key)
        if start.reason is not None:
            resumes[f"retrained: {start.reason}"] += 1
        elif start.done:
            # Its shorter twin stopped early, where this fit would stop too.
            cache.store(network, key, _reused_record(cache, network, key), handoff=handoff)
            resumes["stopped early before: reused as is"] += 1
            shares.append((position, 0.0))
            continue
        elif start.epochs:
            resumes["continued"] += 1
        member.resume_epochs = start.epochs
        members.append(member)
        keys.append((cache, key))
        positions.append(position)
    if not members:
        return [], failures, shares, n_cached, resumes
    n_search_fits = sum(not member.rider for member in members)
    if n_search_fits < min_stack and not any(member.resume_epochs for member in members):
        reason = f"a stack of {n_search_fits} fit(s) saves less than it costs (fused stacks take at least {min_stack})"
        return [], failures + [reason] * n_search_fits, shares, n_cached, resumes

    try:
        # Placing the fits (a device that is not there, say) fails inside the
        # try too: each fit then trains alone, and fails or not as it would anyway.
        with place_fit(members[0].estimator.device) as placement, cpu_thread_share():
            stacks = train_fused(members, placement)
    except Exception as error:  # whatever stopped the stack, each fit can still train alone
        n_folds = sum(task[position][1] is not None for position in positions)
        failures = failures + [f"fused training raised {type(error).__name__}: {error}"] * n_folds
        return [], failures, shares, n_cached, resumes
    for member, (cache, key), position in zip(members, keys, positions):
        if member.error is not None and task[position][1] is None:
            continue  # a full-data fit is no fit of the search: the refit trains it, or fails, on its own
        if isinstance(member.error, UnstackableError):
            failures.append(str(member.error))
            continue
        if member.error is not None:
            # The fit trains alone, and fails there (or not) as it would anyway.
            failures.append(f"fused training raised {type(member.error).__name__}")
            continue
        record = None
        if cache.keeps_records():  # a search's temporary cache read by this process alone keeps none
            record = cache.make_record(member.estimator, key, status="ok")
            record["fused_stack_size"] = member.stack_size
        cache.store(member.estimator, key, record, handoff=handoff)
        shares.append((position, member.estimator.fit_time_))
    return stacks, failures, shares, n_cached, resumes


def _lone_riders(members):
    """The indices of the full-data members whose batch size no search fit of ``members`` has.

    A stack holds models of one batch size, and full-data models stack only
    beside the search's fits: such a member would be prepared, then left
    out with "no fit of the search to train beside" (as on iris, whose 150
    rows batch in one 150-row batch against its folds' 100). Its refit
    trains on its own either way. When any member's rows are not all its
    training rows (early stopping holds some out) or its plan cannot be
    read here, none is dropped.
    """
    if not any(member.rider for member in members):
        return set()
    try:
        sizes = []
        for member in members:
            if member.estimator.early_stopping:
                return set()
            sizes.append(member.estimator._batch_plan(n_rows(member.X)).batch_size)
    except Exception:  # whatever the plan makes of these params, train_fused decides as before
        return set()
    searched = {size for member, size in zip(members, sizes) if not member.rider}
    return {i for i, (member, size) in enumerate(zip(members, sizes)) if member.rider and size not in searched}


def _rows(candidate, X, y, splits, fold):
    """The training rows of ``fold``: all of them, as the refit gets them, when it is None.

    The refit fits on ``X`` and ``y`` themselves, and its Pipeline finds the
    preprocessing fitted here only if these are the same data to the byte
    (a DataFrame taken row by row gets a new index).
    """
    if fold is None:
        return X, y
    return safe_split(candidate, X, y, splits[fold][0])


def _reused_record(cache, estimator, key):
    record = cache.make_record(estimator, key, status="ok")
    record["fit_time"] = 0.0  # nothing trained: its time is in the fit it reuses
    return record


def _setting_block(block, what, untouched, settings, owner):
    """``block`` told apart by the settings of ``what`` (the preprocessing, the target transformer).

    Where the candidate's params leave them ``untouched``, they are the
    search's estimator's, the same for every candidate: nothing to hash.
    Otherwise the hash of ``settings()``; settings that cannot be hashed
    make a block of ``owner`` alone, shared with no other candidate.
    """
    if untouched:
        return (*block, f"the estimator's {what}")
    try:
        return (*block, what, joblib.hash(value_fingerprint(settings())))
    except UnfingerprintableParamError:
        return (*block, what, "candidate", id(owner))


def _made_once(made, block, make):
    """``make()``, kept in ``made`` under ``block`` and made once per block; what it raised, kept and returned alike.

    A fit whose rows or target could not be made trains alone, where the
    parent's own try scores it with error_score (or raises), as any failed fit.
    """
    if block not in made:
        try:
            made[block] = make()
        except Exception as error:
            made[block] = error
    return made[block]


def _transformed_rows(preprocessing, X_fold, y_fold):
    return preprocessing.fit_transform(X_fold, y_fold), y_fold


def _target_settings(target):
    """The params of the TransformedTargetRegressor ``target`` that decide the target its regressor gets: all but the regressor."""
    return {name: value for name, value in target.get_params(deep=False).items() if name != "regressor"}


class _TargetCapture(RegressorMixin, BaseEstimator):
    """A stand-in regressor that keeps the target its ``fit`` gets, as ``y_``."""

    def fit(self, X, y, **params):
        self.y_ = y
        return self

    def predict(self, X):  # never called: the TransformedTargetRegressor's params ask for one
        raise NotImplementedError


def transformed_target(target, X, y):
    """The target that ``target.fit(X, y)`` (a TransformedTargetRegressor) hands its regressor.

    ``target`` is fitted around a stand-in regressor, by scikit-learn's own
    code, so the transformed target is the one the regressor's own fit gets,
    to the byte.
    """
    probe = type(target)(**{**target.get_params(deep=False), "regressor": _TargetCapture()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # check_inverse's warning: the fit that follows gives it, where the search reports it
        probe.fit(X, y)
    return probe.regressor_.y_
