"""Measure what batch size trades: speed, memory, number of updates and generalization."""

import warnings
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.base import clone, is_regressor
from sklearn.metrics import check_scoring
from sklearn.model_selection import cross_validate

from .._compat import InvalidParameterError, validate_parameter_constraints
from ..estimators.network_step import network_step
from .noise_scale import gradient_noise_scale, statistical_efficiency

__all__ = ["batch_size_study", "STUDY_COLUMNS"]

STUDY_COLUMNS = [
    "batch_size",
    "batch_size_used",
    "updates_per_epoch",
    "epochs",
    "seconds_per_epoch",
    "samples_per_second",
    "peak_memory_mib",
    "train_score",
    "cv_score",
    "cv_score_std",
    "generalization_gap",
    "lr",
    "noise_scale",
    "statistical_efficiency",
    "goodput",
    "recommended",
]


def _check_batch_sizes(estimator, batch_sizes):
    """Return ``batch_sizes`` as a list, each checked against the estimator's own ``batch_size`` constraint.

    The estimator's constraint table is the one owner of what a batch size
    may be, so the study accepts exactly what ``fit`` would, and refuses
    the rest before any training, with scikit-learn's message.
    """
    sizes = list(batch_sizes) if not isinstance(batch_sizes, (str, Integral)) else None
    if not sizes:
        raise InvalidParameterError(
            "The 'batch_sizes' parameter of batch_size_study must be a non-empty list "
            f"of batch sizes, such as [16, 64, 256]. Got {batch_sizes!r} instead."
        )
    constraint = getattr(estimator, "_parameter_constraints", {}).get("batch_size")
    if constraint is None:  # not a table scikit-learn can check: the estimator's fit decides
        return sizes
    name = type(estimator).__name__
    for position, batch_size in enumerate(sizes):
        try:
            validate_parameter_constraints({"batch_size": constraint}, {"batch_size": batch_size}, caller_name=name)
        except InvalidParameterError as error:
            raise InvalidParameterError(
                f"batch_sizes[{position}] of batch_size_study is not a batch size {name} accepts. {error}"
            ) from None
    return sizes


def batch_size_study(estimator, X, y, *, batch_sizes, cv=5, scoring=None, n_jobs=None):
    """Train at each batch size and tabulate speed, memory and scores.

    For each batch size, :func:`~sklearn.model_selection.cross_validate`
    scores clones on ``cv`` folds; then one fit on all of ``X`` is timed,
    its peak device memory tracked and its training score taken. Everything else stays as set on ``estimator`` (set
    ``lr_scaling`` there to let the learning rate follow the batch size).

    Parameters
    ----------
    estimator : BaseTorchClassifier or Pipeline
        An skbatch classifier, or a Pipeline ending in one (so that
        preprocessing such as a ColumnTransformer is fitted inside each
        fold); cloned, never modified. Its ``batch_size`` (the network
        step's, ``name__batch_size``, in a Pipeline) is set to each of
        ``batch_sizes``; the columns that describe training read the
        network step of each fitted clone. Give it an int ``random_state``
        to compare batch sizes from the same initial weights.
    X : array-like of shape (n_samples, n_features)
        Data.
    y : array-like of shape (n_samples,)
        Labels.
    batch_sizes : list of int or str
        Values of the ``batch_size`` param to compare, e.g.
        ``[16, 64, 256, 'max']``.
    cv : int, cross-validation generator or iterable, default=5
        As for :func:`~sklearn.model_selection.cross_validate`.
    scoring : str, callable or None, default=None
        Score for training and cross-validation; None is the estimator's
        ``score`` (accuracy).
    n_jobs : int or None, default=None
        Parallel jobs for the cross-validation fits. The timed fit always
        runs alone, so its speed is not shared with other fits.

    Returns
    -------
    pandas.DataFrame
        One row per batch size, with columns:

        - ``batch_size``: the param as given;
        - ``batch_size_used``: the batch size of the first epoch, where
          ``'auto'`` and ``'max'`` are resolved (``batch_size_curve_[0]``;
          ``batch_size_`` is the last epoch's, which
          ``batch_size_milestones`` may have grown);
        - ``updates_per_epoch``: optimizer steps in the last epoch;
        - ``epochs``: epochs trained (stopping may end training early);
        - ``seconds_per_epoch`` and ``samples_per_second``: from the fit's
          training time (``fit_time_``, including ``'max'``'s probes) and
          the training samples its epochs went through;
        - ``peak_memory_mib``: most device memory allocated during the fit
          (``peak_memory_``), NaN on the CPU where torch does not measure it;
        - ``train_score``: score on the data the timed fit trained on;
        - ``cv_score`` and ``cv_score_std``: mean and spread over folds;
        - ``generalization_gap``: ``train_score - cv_score``;
        - ``lr``: learning rate used, after ``lr_scaling`` (``lr_``);
        - ``noise_scale``: the gradient noise scale ``B_simple`` of the
          timed fit's final weights on ``X, y``
          (:func:`~skbatch.gradient_noise_scale`), the batch size beyond
          which larger batches stop paying off;
        - ``statistical_efficiency``: progress per example relative to the
          smallest batch size studied, ``(B_noise + B0) / (B_noise + B)``
          (:func:`~skbatch.inspection.noise_scale.statistical_efficiency`,
          as in Pollux), with each row's own noise scale;
        - ``goodput``: ``samples_per_second * statistical_efficiency``,
          useful examples per second;
        - ``recommended``: True on the one row of highest goodput (none if
          no goodput could be measured). It weighs speed against the
          progress each example buys, not generalization: read
          ``cv_score`` beside it.

        ``study.attrs["scoring"]`` names the score (for the figures) and
        ``study.attrs["learning_curves"]`` holds each timed fit's loss per
        epoch (and validation loss and accuracy with ``early_stopping``),
        which :func:`plot_learning_curves` draws.

    See Also
    --------
    plot_batch_size_study : Draw the table.
    plot_learning_curves : Draw the loss per epoch of each batch size.
    find_max_batch_size : The largest batch that fits.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skbatch import MLPClassifier, batch_size_study
    >>> X, y = load_digits(return_X_y=True)
    >>> study = batch_size_study(MLPClassifier(max_epochs=3, device="cpu", random_state=0),
    ...                          X / 16, y, batch_sizes=[32, 128], cv=2)
    >>> study["updates_per_epoch"].tolist()
    [57, 15]
    """
    network, prefix = network_step(estimator)
    if network is None:
        raise TypeError(
            "batch_size_study needs an skbatch estimator, or a Pipeline whose last step is one; "
            f"got {type(estimator).__name__}. Put the network (e.g. MLPClassifier) last in the Pipeline."
        )
    sizes = _check_batch_sizes(network, batch_sizes)
    param = prefix + "batch_size"  # 'mlpclassifier__batch_size' in a Pipeline
    rows, curves, noise_scales = [], {}, []
    for batch_size in sizes:
        # Cross-validation first: its fits also warm up the process (lazy
        # initialisation, allocator caches), which the timed fit should not pay.
        scores = cross_validate(clone(estimator).set_params(**{param: batch_size}), X, y, cv=cv, scoring=scoring, n_jobs=n_jobs)[
            "test_score"
        ]
        # The fit records its own training time and peak device memory, 'max''s
        # probes included; each fit on a GPU empties the card's cache when it ends.
        # In a Pipeline, the preprocessing is fitted too but not timed: the
        # columns describe the network's training.
        fitted = clone(estimator).set_params(**{param: batch_size}).fit(X, y)
        candidate, _ = network_step(fitted)
        fit_seconds = candidate.fit_time_
        peak_bytes = candidate.peak_memory_
        train_score = _score(fitted, X, y, scoring)
        history = candidate.net_.history
        curves[_curve_label(batch_size, candidate.batch_size_)] = {
            key: list(history[:, key]) for key in ("train_loss", "valid_loss", "valid_acc") if key in history[-1]
        }
        noise_scales.append(_noise_scale(fitted, X, y, chunk_size=min(256, candidate.batch_size_curve_[0])))
        rows.append(
            {
                "batch_size": batch_size,
                "batch_size_used": candidate.batch_size_curve_[0],
                "updates_per_epoch": candidate.n_updates_per_epoch_,
                "epochs": candidate.n_iter_,
                "seconds_per_epoch": fit_seconds / candidate.n_iter_,
                "samples_per_second": _samples_trained(candidate) / fit_seconds,
                "peak_memory_mib": np.nan if peak_bytes is None else peak_bytes / 2**20,
                "train_score": train_score,
                "cv_score": scores.mean(),
                "cv_score_std": scores.std(),
                "generalization_gap": train_score - scores.mean(),
                "lr": candidate.lr_,
            }
        )
    study = pd.DataFrame(rows, columns=STUDY_COLUMNS)
    # For the figures: what the scores are, and each timed fit's loss per epoch.
    study.attrs["scoring"] = _scoring_name(estimator, scoring)
    study.attrs["learning_curves"] = curves
    return _recommend(study, noise_scales)


def _curve_label(batch_size, used):
    return f"batch {batch_size}" if batch_size == used else f"batch {batch_size!r} ({used})"


def _scoring_name(estimator, scoring):
    if isinstance(scoring, str):
        return scoring
    if scoring is None:
        return "R²" if is_regressor(estimator) else "accuracy"
    return getattr(scoring, "__name__", "score")


def _noise_scale(estimator, X, y, *, chunk_size):
    """``B_simple`` of the fitted ``estimator`` on its training rows; NaN if its module cannot give one."""
    with warnings.catch_warnings():
        # A module without per-example gradients gets the two-batch estimate; the table says nothing less.
        warnings.simplefilter("ignore", UserWarning)
        return gradient_noise_scale(estimator, X, y, chunk_size=chunk_size, random_state=0).b_simple


def _recommend(study, noise_scales):
    """Fill the noise-scale, efficiency, goodput and recommendation columns of ``study``."""
    study["noise_scale"] = noise_scales
    used = study["batch_size_used"].to_numpy(dtype=float)
    study["statistical_efficiency"] = statistical_efficiency(used, study["noise_scale"], used.min())
    study["goodput"] = study["samples_per_second"] * study["statistical_efficiency"]
    finite = np.isfinite(study["goodput"].to_numpy(dtype=float))
    study["recommended"] = False
    if finite.any():
        study.loc[study["goodput"].where(finite).idxmax(), "recommended"] = True
    return study


def _samples_trained(estimator):
    return sum(batch.get("train_batch_size", 0) for row in estimator.net_.history for batch in row["batches"])


def _score(estimator, X, y, scoring):
    if scoring is None:
        return estimator.score(X, y)
    return check_scoring(estimator, scoring=scoring)(estimator, X, y)
