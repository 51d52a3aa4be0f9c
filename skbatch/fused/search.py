"""Searches that train the fold models of their candidates fused, and score them as usual.

:class:`FusedGridSearchCV`, :class:`FusedRandomizedSearchCV` and
``FusedBayesSearchCV`` are scikit-learn's and scikit-optimize's searches
with one step added: each time the search is about to evaluate a batch of
candidates, every (candidate, fold) fit whose network can be stacked is
first trained together with the others (:mod:`skbatch.fused.train`) and written
to the fit cache (:mod:`skbatch.cache.store`), keyed by its params and the
fingerprint of its training data. The search then runs exactly as the
parent class does: each per-fold ``fit`` finds its trained weights in the
cache and returns at once, and scoring, ``cv_results_``, ``refit`` and
``best_params_`` are the parent's own code. A fit that was not fused,
for whatever reason, simply trains on its own.
"""

import contextlib
import inspect
import re
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.pipeline import Pipeline
from sklearn.utils import indexable

from .._compat import own_parallel_backend
from .._optional import import_optional
from ..cache.keys import (
    UnfingerprintableParamError,
)
from ..cache.store import FitCache, check_cache_dir, scratch_directory
from ..estimators.doc_link import DocLinkMixin
from ..estimators.network_step import network_step, target_step
from .preprocessing import FoldMemory, fold_pipeline, plain_pipeline, shared_preprocessing_reason
from .tasks import split_for_workers, train_task
from .train import stack_key, unstackable_reason

# FusedBayesSearchCV is made by __getattr__ below, so scikit-optimize is imported only on first use.
__all__ = ["FusedGridSearchCV", "FusedRandomizedSearchCV", "FusedSearchMixin", "FusedBayesSearchCV"]  # noqa: F822

_STACK_COLUMNS = ["n_models", "batch_size", "n_batches", "epochs", "seconds", "device", "from_epoch", "epochs_trained"]


class FusedSearchMixin(DocLinkMixin):
    """Add fused pre-training to a scikit-learn search class; put it first in the bases.

    Works with any subclass of scikit-learn's ``BaseSearchCV`` that hands its
    candidates to ``evaluate_candidates``, which all of scikit-learn's and
    scikit-optimize's searches do::

        from sklearn.experimental import enable_halving_search_cv  # noqa: F401
        from sklearn.model_selection import HalvingGridSearchCV

        class FusedHalvingGridSearchCV(FusedSearchMixin, HalvingGridSearchCV):
            pass

    The search's ``estimator`` must be an skbatch estimator or a Pipeline
    ending in one. Its fits are fused, in stacks of the candidates that
    share every param but the per-model ones
    (:data:`skbatch.fused.train.PER_MODEL_PARAMS`: the solver and its
    settings, the schedule, the stopping rule, early stopping, the seed;
    for the MLPs also the hidden layers, their widths and number, and the
    activation). Fits that cannot be stacked (a module with buffers, such
    as BatchNorm, or one ``torch.func.vmap`` cannot run; ``solver='lbfgs'``;
    see the user guide) train one by one, as in the parent class, and
    ``verbose >= 1`` says why.

    The stacks train in the search's ``n_jobs`` workers, each on a device
    its estimator's ``device`` param chooses, and land in the estimator's
    ``cache_dir`` (or a temporary directory, removed after ``fit``, when it
    has none). The per-fold fits then find them there; a Dask cluster needs
    a ``cache_dir`` that all its workers can read. In one process, with no
    ``cache_dir``, they take them from memory and nothing is written; and a
    Pipeline's preprocessing is fitted once per fold and setting, not once
    per fit (:mod:`skbatch.fused.preprocessing`). A stack that would train
    fewer than 3 of the search's fits from scratch is left to the parent.

    Attributes
    ----------
    fused_stacks_ : pandas.DataFrame
        One row per stack trained: ``n_models``, ``batch_size``,
        ``n_batches`` (steps per epoch), ``epochs`` (the most any of its
        models ran), ``seconds``, ``device``, ``from_epoch`` (the fewest epochs
        its models had already trained, when some continue shorter fits)
        and ``epochs_trained`` (the epochs its models trained, summed).
    unfused_fits_ : dict of str to int
        Why fits were left to train one by one, and how many.
    resumed_fits_ : dict of str to int
        Fits that a shorter fit in the cache (the same params but
        ``max_epochs``) saved training: ``'continued'`` from its checkpoint
        (the stack's ``from_epoch``), ``'stopped early before: reused as
        is'``, or ``'retrained: <why>'`` where continuing would not give
        the same fit.

    Notes
    -----
    A fused fit's own ``fit`` call only restores its weights, so
    ``cv_results_['mean_fit_time']`` adds to that restore time the fit's
    share of its stack's training (the stack's seconds divided by its
    models): the fit times add up to the time the search spent training.
    ``std_fit_time`` is exact when a candidate's folds have equal shares
    (they trained in one stack, or stacks of one size and time). Fits
    restored from an earlier run's cache count their restore time only.
    """

    def fit(self, X, y=None, **params):
        """Run fit with all sets of parameters, training the fold models of each batch of candidates fused.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
            Targets.
        **params : dict of str -> object
            Passed on as in the parent search: ``groups`` to the splitter,
            the rest to the estimator's ``fit`` (which turns fusing off:
            see ``unfused_fits_``).

        Returns
        -------
        self : object
            The fitted search.
        """
        network, prefix = network_step(self.estimator, through_target=True)
        self.fused_stacks_ = []
        self.unfused_fits_ = Counter()
        self.resumed_fits_ = Counter()
        original = self.estimator
        scratch, changed = None, {}
        if network is not None:
            check_cache_dir(network)
            # The per-fold fits find their fused weights through the fit
            # cache, and cache_dir is the one way to tell them where it is: a
            # worker process sees nothing of the search but the estimator. So
            # for this fit the search works on a copy whose cache_dir is a
            # temporary directory, and the user's estimator is put back after.
            # Its Pipeline's preprocessing is fitted once per fold and
            # setting, in a memory beside it (see skbatch.fused.preprocessing).
            if network.cache_dir is None:
                scratch = tempfile.TemporaryDirectory(prefix="skbatch-fused-")
                changed[f"{prefix}cache_dir"] = scratch.name
            if effective_n_jobs(self.n_jobs) == 1 and shared_preprocessing_reason(original) is None:
                changed["memory"] = FoldMemory()
        if changed:  # a Pipeline with a FoldMemory also transforms each fold's test rows once
            self.estimator = fold_pipeline(clone(original).set_params(**changed))
        cache_dir = network_step(self.estimator, through_target=True)[0].cache_dir if network is not None else None
        # What this fit's fused passes need, made here and dropped at its end.
        self._fused_run = _FusedRun(*indexable(X, y), user_estimator=original)
        scratch_use = contextlib.nullcontext()
        if scratch is not None and effective_n_jobs(self.n_jobs) == 1:
            # Every fit of this search runs in this process, and nothing
            # after it reads the temporary cache: flushing each entry to disk
            # (or, where no later batch reads it, writing it at all) would
            # cost more than small fits take to train.
            scratch_use = scratch_directory(scratch.name, read_again=self._reads_earlier_batches)
        try:
            with scratch_use:
                super().fit(X, y, **params)
            if hasattr(self, "cv_results_"):
                _add_training_shares(self.cv_results_, self._fused_run.shares)
        finally:
            if network is not None:
                FitCache(cache_dir).drop_handoffs()
            self.estimator = original
            del self._fused_run
            if scratch is not None:
                scratch.cleanup()
        if changed and hasattr(self, "best_estimator_"):
            # Only fit reads cache_dir and memory; give back the user's values.
            best_network, best_prefix = network_step(self.best_estimator_, through_target=True)
            if best_network is not None and f"{prefix}cache_dir" in changed:
                self.best_estimator_.set_params(**{f"{best_prefix}cache_dir": None})
                target, _ = target_step(self.best_estimator_)
                if target is not None and hasattr(target, "regressor_"):
                    target.regressor_.set_params(cache_dir=None)  # the fitted clone of the regressor set above
            if "memory" in changed and isinstance(self.best_estimator_, Pipeline):
                self.best_estimator_ = plain_pipeline(self.best_estimator_.set_params(memory=None))
        self.fused_stacks_ = pd.DataFrame(self.fused_stacks_, columns=_STACK_COLUMNS)
        self.unfused_fits_ = dict(self.unfused_fits_)
        self.resumed_fits_ = dict(self.resumed_fits_)
        return self

    def _get_routed_params_for_fit(self, params):
        # The parent's fit routes params once per fit; the fused pass needs
        # the same split params (groups) and fit params it routes.
        routed = super()._get_routed_params_for_fit(params)
        run = getattr(self, "_fused_run", None)
        if run is not None:
            run.routed = routed
        return routed

    def _run_search(self, evaluate_candidates, *, callback_ctx=None):
        run = self._fused_run

        def evaluate_fused(candidate_params, cv=None, more_results=None, **kwargs):
            candidate_params = list(candidate_params)
            cv = cv or self._checked_cv_orig
            # The folds are drawn once, by one call to split(), for the fused
            # pass and the parent alike: a splitter with state (a RandomState,
            # an iterator used once, halving's subsamples) sees exactly the
            # call it would see in the parent search.
            folds = _DrawnFolds(list(cv.split(run.X, run.y, **run.routed.splitter.split)))
            self._pretrain(run, candidate_params, folds.splits)
            return evaluate_candidates(candidate_params, cv=folds, more_results=more_results, **kwargs)

        parent = super()._run_search
        # scikit-learn >= 1.9 passes a callback context; scikit-optimize's search takes none.
        if "callback_ctx" in inspect.signature(parent).parameters:
            return parent(evaluate_fused, callback_ctx=callback_ctx)
        return parent(evaluate_fused)

    # Whether a batch's candidates train their full-data fit in their stack
    # (see _fuses_refit); the searches whose batches can be many small ones
    # (BayesSearchCV: n_points candidates a batch) leave it off.
    _fuse_refit = False

    # Whether a later batch may read this batch's cache entries: continue
    # its fits (halving's rungs, or a Bayes search's later points with more
    # epochs) or restore a candidate drawn again. Grid and randomized
    # searches evaluate one batch, so with a temporary cache nothing reads
    # their entries back and nothing need be written.
    _reads_earlier_batches = True

    # Beyond this many candidates in a batch, the full-data fits that one
    # refit will use are not worth their width in the stack.
    _max_refit_candidates = 8

    # With fewer folds, a full-data model takes so many more steps per epoch
    # than its fold models (twice as many at 2 folds) that its stack runs on
    # for the full-data models alone: the refit trains on its own.
    _min_refit_folds = 3

    # A stack that would train fewer of the search's fits than this, all
    # from scratch, is left to the parent, which trains them one by one:
    # preparing, storing and restoring each fused model costs about what a
    # small fit takes to train, and a stack of one or two saves one training
    # loop at most (measured: 1.3-1.7x the parent's time for a stack of 2 on
    # a 1,500-row table). Fits that continue shorter ones always fuse.
    _min_stack_fits = 3

    def _fuses_refit(self, candidate_params, n_splits):
        """Whether each candidate of this batch trains its full-data fit beside its fold models.

        A full-data model widens its candidate's stack by one model in k and
        takes k / (k - 1) the steps per epoch of its fold models, the extra
        ones at the width of the full-data models alone: less than the
        refit's fit on its own, which is overhead-bound like every small
        fit, when k is 3 or more. But only one of them is used, by the
        refit: for small batches only.
        """
        return (
            bool(self.refit)
            and self._fuse_refit
            and len(candidate_params) <= self._max_refit_candidates
            and n_splits >= self._min_refit_folds
        )

    def _say(self, message):
        if self.verbose > 0:
            print(f"[{type(self).__name__}] {message}")

    def _pretrain(self, run, candidate_params, splits):
        """Train every stackable (candidate, fold) fit of this batch fused, into the cache."""
        unfused = Counter()
        # One dict per candidate, in cv_results_ order: fold -> seconds of stack training.
        shares = [{} for _ in candidate_params]
        run.shares += shares
        try:
            self._pretrain_batch(run, candidate_params, splits, unfused, shares)
        finally:
            for reason, count in unfused.items():
                self.unfused_fits_[reason] += count
                self._say(f"{count} fit(s) train one by one: {reason}")

    def _pretrain_batch(self, run, candidate_params, splits, unfused, shares):
        n_fits = len(candidate_params) * len(splits)
        reason = None
        if network_step(self.estimator, through_target=True)[0] is None:
            reason = "the estimator is not an skbatch estimator, a Pipeline ending in one, or a TransformedTargetRegressor around one"
        elif run.routed.estimator.fit:
            reason = f"fit params ({', '.join(sorted(run.routed.estimator.fit))}) go to each fit"
        if reason is not None:
            unfused[reason] += n_fits
            return

        store = network_step(self.estimator, through_target=True)[0].cache_dir
        groups = {}
        for params in candidate_params:
            candidate = clone(self.estimator)
            try:
                candidate.set_params(**clone(params, safe=False))
            except ValueError:
                # The parent raises this from its first fit, outside any
                # error_score: raise it now, as the user's own estimator
                # words it (not this fit's copy, whose cache_dir is temporary).
                clone(run.user_estimator).set_params(**clone(params, safe=False))
                raise
            network, _ = network_step(candidate, through_target=True)
            reason = "the candidate replaces the network" if network is None or network.cache_dir != store else None
            reason = reason or unstackable_reason(network)
            if reason is None:
                try:
                    shared = stack_key(network)
                except UnfingerprintableParamError as error:
                    # Its fits train alone and uncached: none can take another's result.
                    reason = str(error)
            if reason is not None:
                unfused[reason] += len(splits)
                continue
            members = groups.setdefault(shared, [])
            members += [(params, fold) for fold in range(len(splits))]
            if self._fuses_refit(candidate_params, len(splits)):
                members.append((params, None))  # fold None: all rows, the fit refit asks for
        if not groups:
            return

        start = time.perf_counter()
        n_workers = effective_n_jobs(self.n_jobs)
        tasks = split_for_workers(list(groups.values()), n_workers, smallest=self._min_stack_fits)
        # With one worker, the stacks and then the per-fold fits all run in
        # this process: the fits can take their trained state from memory.
        handoff = n_workers == 1
        # A backend of its own: the parent's Parallel, open around this
        # pass, must keep its workers (see own_parallel_backend).
        parallel = Parallel(n_jobs=self.n_jobs, pre_dispatch=self.pre_dispatch, backend=own_parallel_backend())
        results = parallel(
            delayed(train_task)(
                self.estimator,
                run.X,
                run.y,
                splits,
                task,
                handoff=handoff,
                min_stack=self._min_stack_fits,
            )
            for task in tasks
        )
        stacks, n_cached = [], 0
        index = {id(params): i for i, params in enumerate(candidate_params)}
        resumes, n_full = Counter(), 0
        for task, (task_stacks, failures, task_shares, task_cached, task_resumes) in zip(tasks, results):
            stacks += task_stacks
            unfused.update(failures)
            resumes.update(task_resumes)
            n_cached += task_cached
            for position, seconds in task_shares:
                params, fold = task[position]
                if fold is None:  # a full-data fit is no split of cv_results_
                    n_full += 1
                else:
                    shares[index[id(params)]][fold] = seconds
        self.fused_stacks_ += stacks
        self.resumed_fits_.update(resumes)
        self._say(_pretrain_summary(stacks, n_fits, n_cached, time.perf_counter() - start, n_full))
        for what, count in sorted(resumes.items()):
            self._say(f"{count} fit(s) {what}")


def _pretrain_summary(stacks, n_fits, n_cached, seconds, n_full=0):
    """What one fused pass did, in words: restored fits are not failures to fuse.

    ``n_full`` full-data fits (for the refit) trained in the stacks besides the search's fits.
    """
    n_fused = sum(stack["n_models"] for stack in stacks) - n_full
    parts = []
    if n_cached:
        parts.append(f"{n_cached} of {n_fits} fits restored from the cache")
    if n_fused or not n_cached:
        also = f", with {n_full} full-data fit(s) for the refit" if n_full else ""
        parts.append(f"{n_fused} of {n_fits} fits trained fused, in {len(stacks)} stack(s){also}, in {seconds:.1f} s")
    else:
        parts.append("none trained")
    rest = n_fits - n_cached - n_fused
    if rest and (n_fused or n_cached):
        parts.append(f"{rest} left to train one by one")
    return ", ".join(parts)


def _add_training_shares(results, shares):
    """Count each fused fit's share of its stack's training in ``results``' fit times.

    A fused fit's own ``fit`` only restores its trained weights from the
    cache, so scikit-learn's ``mean_fit_time`` would be that restore time.
    Each fit gets its stack's seconds divided by the stack's models, added
    to the restore time: ``mean_fit_time`` is then exact (the mean of the
    sums), and so is ``std_fit_time`` when a candidate's folds trained in
    stacks of equal shares (the usual case); otherwise the spread of the
    shares is added to it as if independent of the restore times. Fits
    restored from an earlier run's cache keep their restore time here; the
    time they first took is in :func:`skbatch.search_report`'s
    ``split{k}_fit_time``.
    """
    if len(shares) != len(results["params"]) or not any(shares):
        return
    folds_seen = [re.fullmatch(r"split(\d+)_test_.+", key) for key in results]
    n_splits = max((int(m.group(1)) + 1 for m in folds_seen if m), default=None)
    mean = np.asarray(results["mean_fit_time"], dtype=float).copy()
    std = np.asarray(results["std_fit_time"], dtype=float).copy()
    for i, folds in enumerate(shares):
        if not folds:
            continue
        n = n_splits or len(folds)
        values = np.array([folds.get(k, 0.0) for k in range(n)])
        mean[i] += values.mean()
        std[i] = np.sqrt(std[i] ** 2 + values.var())
    results["mean_fit_time"], results["std_fit_time"] = mean, std


class _DrawnFolds:
    """The folds one call to a splitter's ``split`` drew, handed out again at every call.

    Given to the parent's ``evaluate_candidates`` as its ``cv``, so that the
    parent scores exactly the folds the fused pass trained on.
    """

    def __init__(self, splits):
        self.splits = splits

    def split(self, X=None, y=None, groups=None, **params):
        return iter(self.splits)

    def get_n_splits(self, X=None, y=None, groups=None, **params):
        return len(self.splits)


@dataclass
class _FusedRun:
    """What one call to a fused search's ``fit`` hands its fused passes; dropped when it ends.

    Attributes
    ----------
    X, y : indexable
        The search's data.
    user_estimator : estimator
        The search's ``estimator`` as the user gave it (the search fits a
        copy with a temporary ``cache_dir`` when it has none).
    routed : Bunch
        The params the parent routed: ``splitter.split`` (groups) and
        ``estimator.fit``.
    shares : list of dict
        Per candidate, in ``cv_results_`` order: fold -> seconds of its
        stack's training, added to the fit times at the end.
    """

    X: object
    y: object
    user_estimator: object
    routed: object = None
    shares: list = field(default_factory=list)


class FusedGridSearchCV(FusedSearchMixin, GridSearchCV):
    """scikit-learn's GridSearchCV, with the fold models of each candidate trained fused.

    Takes exactly :class:`sklearn.model_selection.GridSearchCV`'s params and
    gives its results: ``cv_results_``, ``best_params_``, ``best_score_``,
    ``best_estimator_`` and the rest come from GridSearchCV's own code. The
    difference is speed: the fits of candidates that share a batch size
    train as one stacked model, whatever their hidden layers, activations,
    solvers, schedules or early stopping (:mod:`skbatch.fused.train`),
    several times faster for small networks. Each stacked model gets its
    own fold's rows in its own order, its own gradient and its own
    optimizer state, so its scores match those of an ordinary fit up to
    floating-point rounding. Fits that cannot be stacked train one by one.

    Parameters
    ----------
    estimator : estimator object
        An skbatch estimator, or a Pipeline ending in one.
    param_grid : dict or list of dicts
        As in GridSearchCV.
    **kwargs
        ``scoring``, ``n_jobs``, ``refit``, ``cv``, ``verbose``,
        ``pre_dispatch``, ``error_score`` and ``return_train_score``, as in
        GridSearchCV. ``verbose >= 1`` also reports what was fused and why
        any fit was not.

    Attributes
    ----------
    fused_stacks_ : pandas.DataFrame
        One row per stack trained: ``n_models``, ``batch_size``,
        ``n_batches``, ``epochs``, ``seconds`` and ``device``.
    unfused_fits_ : dict of str to int
        Why fits trained one by one, and how many.

    See Also
    --------
    FusedRandomizedSearchCV : The same for sampled candidates.
    FusedSearchMixin : Fusing for any other search class.

    Notes
    -----
    How it works, and why it is a subclass rather than a setting of the
    estimator, is in the user guide's page on fused cross-validation.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skbatch import FusedGridSearchCV, MLPClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> search = FusedGridSearchCV(
    ...     MLPClassifier(max_epochs=5, random_state=0),
    ...     {"lr": [1e-3, 3e-3], "batch_size": [32, 64]},
    ...     cv=3,
    ... ).fit(X / 16, y)
    >>> search.fused_stacks_["n_models"].tolist()
    [8, 8]
    """

    _fuse_refit = True
    _reads_earlier_batches = False


class FusedRandomizedSearchCV(FusedSearchMixin, RandomizedSearchCV):
    """scikit-learn's RandomizedSearchCV, with the fold models of each candidate trained fused.

    Takes exactly :class:`sklearn.model_selection.RandomizedSearchCV`'s
    params and gives its results; see :class:`FusedGridSearchCV` for what
    fusing changes (speed) and what it does not (everything else).
    Sampled candidates that share a batch size stack together, whatever
    their ``lr``, ``alpha``, hidden layers, activation or solver.

    Parameters
    ----------
    estimator : estimator object
        An skbatch estimator, or a Pipeline ending in one.
    param_distributions : dict or list of dicts
        As in RandomizedSearchCV.
    **kwargs
        ``n_iter``, ``scoring``, ``n_jobs``, ``refit``, ``cv``, ``verbose``,
        ``pre_dispatch``, ``random_state``, ``error_score`` and
        ``return_train_score``, as in RandomizedSearchCV.

    Attributes
    ----------
    fused_stacks_ : pandas.DataFrame
        One row per stack trained.
    unfused_fits_ : dict of str to int
        Why fits trained one by one, and how many.

    See Also
    --------
    FusedGridSearchCV : The same for a grid.
    """

    _fuse_refit = True
    _reads_earlier_batches = False


def _make_bayes_search():
    BayesSearchCV = import_optional("skopt", needed_by="FusedBayesSearchCV").BayesSearchCV

    class FusedBayesSearchCV(FusedSearchMixin, BayesSearchCV):
        """scikit-optimize's BayesSearchCV, with the fold models of each candidate trained fused.

        Takes exactly :class:`skopt.BayesSearchCV`'s params and gives its
        results; see :class:`FusedGridSearchCV` for what fusing changes.
        Each round fuses the folds of its ``n_points`` candidates: with the
        default ``n_points=1``, the k fold models of one candidate.
        Importing it imports scikit-optimize.

        Parameters
        ----------
        estimator : estimator object
            An skbatch estimator, or a Pipeline ending in one.
        search_spaces : dict or list
            As in BayesSearchCV.
        **kwargs
            The rest of BayesSearchCV's params.

        Attributes
        ----------
        fused_stacks_ : pandas.DataFrame
            One row per stack trained.
        unfused_fits_ : dict of str to int
            Why fits trained one by one, and how many.
        """

    # Pickle finds the class by module and name, through this module's __getattr__.
    FusedBayesSearchCV.__module__ = __name__
    FusedBayesSearchCV.__qualname__ = "FusedBayesSearchCV"
    return FusedBayesSearchCV


def __getattr__(name):
    # scikit-optimize is imported only when its search is asked for.
    if name == "FusedBayesSearchCV":
        cls = globals()["FusedBayesSearchCV"] = _make_bayes_search()
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
