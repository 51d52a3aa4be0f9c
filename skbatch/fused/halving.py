"""Successive halving over epochs, with survivors that continue their training instead of starting again.

scikit-learn's halving searches clone fresh estimators at every rung: a
candidate that reaches 18 epochs through rungs of 2, 6 and 18 epochs
trains 2 + 6 + 18 = 26 of them. Through :class:`FusedSearchMixin`, each
rung's fits are trained fused and cached, and a fit whose shorter twin
(the same params but ``max_epochs``) is in the cache continues it
(:mod:`skbatch.fused.resume`): the survivor trains 18 epochs in all, and
its scores are those of an 18-epoch fit.
"""

import numpy as np

# scikit-learn's halving searches are experimental: this import is their documented switch.
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import HalvingGridSearchCV, HalvingRandomSearchCV

from .search import FusedSearchMixin

__all__ = ["FusedHalvingGridSearchCV", "FusedHalvingRandomSearchCV"]


class _ContinuedHalving(FusedSearchMixin):
    # The last rungs are small, and the refit's candidate is among them: its
    # full-data fit trains there, continued rung to rung like the folds.
    _fuse_refit = True
    # Each rung continues the fits of the rung before from their cache entries.
    _reads_earlier_batches = True

    def fit(self, X, y=None, **params):
        """Run successive halving, training each rung fused and continuing the survivors of the last.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
            Targets.
        **params : dict of str -> object
            As in the parent search.

        Returns
        -------
        self : object
            The fitted search.
        """
        super().fit(X, y, **params)
        stacks = self.fused_stacks_
        trained = int(stacks["epochs_trained"].sum())
        without_reuse = trained
        # A Pipeline's network takes it as '<step>__max_epochs'.
        if self.resource.split("__")[-1] == "max_epochs" and hasattr(self, "cv_results_"):
            # What scikit-learn's halving trains: every fit of every rung, from scratch.
            without_reuse = int(np.sum(self.cv_results_["n_resources"])) * self.n_splits_
        self.epochs_trained_ = {"trained": trained, "without_reuse": without_reuse}
        self._say(f"{trained} model-epochs trained fused, against {without_reuse} for halving without reuse")
        return self


_SHARED_DOC = """
    Takes exactly the parent's params and gives its results (``cv_results_``,
    ``best_params_``, ``n_resources_`` and the rest come from its code); see
    :class:`FusedGridSearchCV` for what fusing changes. With
    ``resource='max_epochs'`` (set ``min_resources`` and ``max_resources``:
    scikit-learn's ``'auto'`` is for ``n_samples`` only), each rung
    continues its survivors' fold models from the previous rung's
    checkpoints in the fit cache, so a survivor trains each epoch once and
    ends exactly where a fit of the rung's epochs would.

    Continuing is exact because every schedule a fused fit can have (the
    plateau stop on ``tol`` and ``n_iter_no_change``, ``'invscaling'``,
    ``'adaptive'``) depends on the epochs run, not on ``max_epochs``. A fit
    that stopped early at one rung is simply done at the next. Fits with
    ``dropout`` retrain each rung (a stack draws its masks from one stream
    of its own, which a continued fit cannot resume); ``resumed_fits_``
    and ``verbose >= 1`` say so. Fits that cannot be fused
    (``early_stopping``, ``batch_size_milestones``) train one by one, from
    scratch, as in the parent.

    Parameters
    ----------
    estimator : estimator object
        An skbatch estimator, or a Pipeline ending in one (then the
        resource is ``'<step>__max_epochs'``, and is continued likewise).
    {space}
    **kwargs
        The rest of the parent's params: ``factor``, ``resource``,
        ``min_resources``, ``max_resources``, ``aggressive_elimination``,
        ``cv``, ``scoring``, ``refit``, ``n_jobs``, ``verbose`` and so on.

    Attributes
    ----------
    fused_stacks_ : pandas.DataFrame
        One row per stack trained; ``from_epoch`` is where its models
        continued from (0: from scratch).
    unfused_fits_ : dict of str to int
        Why fits trained one by one, and how many.
    resumed_fits_ : dict of str to int
        Fits that continued a shorter one, reused one that had stopped
        early, or retrained although a shorter one was cached (and why).
    epochs_trained_ : dict
        ``'trained'``: the model-epochs the fused stacks trained (with the
        full-data fits that small rungs train for the refit);
        ``'without_reuse'``: those scikit-learn's halving trains for the
        same rungs' cross-validation, each fit from scratch (with a
        resource other than ``max_epochs``: equal to ``'trained'``).

    See Also
    --------
    FusedGridSearchCV : Fused fits, every candidate at full length.
    """


class FusedHalvingGridSearchCV(_ContinuedHalving, HalvingGridSearchCV):
    __doc__ = (
        "scikit-learn's HalvingGridSearchCV, fused, with survivors that continue their training.\n"
        + _SHARED_DOC.format(space="param_grid : dict or list of dicts\n        As in HalvingGridSearchCV.")
        + """
    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skbatch import FusedHalvingGridSearchCV, MLPClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> search = FusedHalvingGridSearchCV(
    ...     MLPClassifier(random_state=0),
    ...     {"lr": [1e-4, 3e-4, 1e-3, 3e-3]},
    ...     resource="max_epochs", min_resources=1, max_resources=4, factor=2, cv=3,
    ... ).fit(X / 16, y)
    >>> search.epochs_trained_
    {'trained': 32, 'without_reuse': 36}
    """
    )


class FusedHalvingRandomSearchCV(_ContinuedHalving, HalvingRandomSearchCV):
    __doc__ = "scikit-learn's HalvingRandomSearchCV, fused, with survivors that continue their training.\n" + _SHARED_DOC.format(
        space="param_distributions : dict or list of dicts\n        As in HalvingRandomSearchCV."
    )
