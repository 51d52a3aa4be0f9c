"""The ``skbatch search`` command's task: classification or regression, chosen from the target, and what each trains with.

One :class:`Task` is made per run from the target column and passed along:
the estimator class, the folds, the default scorer and the target scaling
are read from it, never worked out again elsewhere.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.compose import TransformedTargetRegressor
from sklearn.dummy import DummyRegressor
from sklearn.metrics import get_scorer
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.multiclass import type_of_target

from .cli_data import CommandLineError, _labels
from .estimators.mlp import MLPClassifier, MLPRegressor

__all__ = ["CLASS_LIMIT", "MAX_CLASSES", "Task", "choose_task", "too_many_classes"]

#: Under ``--task auto``, more distinct values than this are never classes.
MAX_CLASSES = 100
# Past this many distinct values, also too many when a class would average
# fewer than ROWS_PER_CLASS rows: too few to put one in each of five folds.
_MIN_COUNTED = 20
_ROWS_PER_CLASS = 5
# A target whose mean and spread are within these bounds is left as it is:
# the network's linear output layer, starting near zero, reaches it quickly.
_UNIT_MEAN = 3.0
_UNIT_STD = (1 / 3, 3.0)


def too_many_classes(n_distinct, n_rows):
    """Whether ``n_distinct`` labels in ``n_rows`` rows are too many to be classes (see :data:`MAX_CLASSES`)."""
    return n_distinct > MAX_CLASSES or (n_distinct > _MIN_COUNTED and n_distinct * _ROWS_PER_CLASS > n_rows)


#: :func:`too_many_classes` in words, for the help and the messages.
CLASS_LIMIT = f"more than {MAX_CLASSES} distinct values, or more than {_MIN_COUNTED} that are over a fifth of the rows"


def _threshold_text(n_rows):
    return f"{CLASS_LIMIT}: {n_rows} here"


def _is_number(y):
    return pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)


@dataclass(frozen=True)
class Task:
    """What one run trains: ``kind`` ('classification' or 'regression'), and why it was chosen.

    ``scaled`` says whether a regression's target is standardised in each
    fold (a :class:`~sklearn.compose.TransformedTargetRegressor` around the
    network), and ``scaling_reason`` why or why not.
    """

    kind: str
    reason: str
    scaled: bool = False
    scaling_reason: str = ""

    @property
    def estimator_class(self):
        return MLPClassifier if self.kind == "classification" else MLPRegressor

    @property
    def default_scoring(self):
        return "accuracy" if self.kind == "classification" else "r2"

    def cv(self, n_splits, random_state):
        """Stratified folds for classes; plain shuffled folds for a regression, whose target has no strata."""
        splitter = StratifiedKFold if self.kind == "classification" else KFold
        return splitter(n_splits, shuffle=True, random_state=random_state)

    def pipeline(self, preprocessing, estimator):
        """``preprocessing`` then ``estimator``, the latter behind a target scaler when :attr:`scaled`."""
        if self.scaled:
            # Fitted on each training fold's targets; predictions go back to the target's units.
            estimator = TransformedTargetRegressor(regressor=estimator, transformer=StandardScaler())
        return make_pipeline(preprocessing, estimator)

    def check_scoring(self, scoring, y):
        """Refuse, before any training, a scorer that cannot score this target (``accuracy`` on prices).

        A regression's scorer is tried on a model that predicts the mean:
        what fails there would fail in every fit, after all the training.
        """
        if self.kind != "regression" or scoring is None:
            return
        dummy = np.zeros((len(y), 1))
        try:
            get_scorer(scoring)(DummyRegressor().fit(dummy, y), dummy, y)
        except (ValueError, TypeError, AttributeError) as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise CommandLineError(
                f"--scoring {scoring} cannot score a regression of this target ({reason}); "
                "regression scorers include r2, neg_mean_squared_error, neg_root_mean_squared_error "
                "and neg_mean_absolute_error"
            ) from None

    def describe_target(self, y):
        """The target's part of the summary line: its classes, or its mean and spread."""
        if self.kind == "classification":
            return f"{y.nunique()} classes"
        return f"target mean {y.mean():.4g}, std {y.std(ddof=0):.4g}"


def choose_task(y, task, target, *, scale_target="auto", losses=()):
    """The :class:`Task` for target column ``y``, checked for it.

    Parameters
    ----------
    y : pandas.Series
        The target column, without missing values.
    task : {'auto', 'classification', 'regression'}
        The ``--task`` option. ``'auto'`` picks regression for fractional
        numbers (``type_of_target`` says 'continuous') and for integers with
        too many distinct values to be classes (:func:`too_many_classes`);
        text with that many values is refused.
    target : str
        The column's name, for the messages.
    scale_target : {'auto', 'yes', 'no'}
        The ``--scale-target`` option. ``'auto'`` scales a regression's
        target unless its values are already of order one.
    losses : collection of str
        The ``loss`` values the search may use: ``'poisson'`` needs the
        target's own values, so it is never scaled then.

    Raises
    ------
    CommandLineError
        If the target does not suit the task, or ``auto`` finds text with
        too many values to be classes.
    """
    if _is_number(y):
        # type_of_target's own error on infinity names no column.
        _check_finite(y, target)
    kind = type_of_target(y.to_numpy())
    n_distinct, n_rows = y.nunique(), len(y)
    if task == "auto":
        if kind == "continuous":
            task, reason = "regression", f"{target!r} holds fractional numbers (type_of_target: 'continuous')"
        elif kind == "multiclass" and too_many_classes(n_distinct, n_rows):
            if not _is_number(y):
                raise CommandLineError(
                    f"target column {target!r} holds {n_distinct} distinct text values, too many to be "
                    f"classes under --task auto ({_threshold_text(n_rows)}); an ID column? Choose another "
                    "--target, or pass --task classification to train on them as classes, "
                    "or --task regression for numbers"
                )
            task = "regression"
            reason = f"{target!r} holds {n_distinct} distinct whole numbers, too many to be classes ({_threshold_text(n_rows)})"
        else:
            task = "classification"
            reason = f"{target!r} holds {n_distinct} classes (type_of_target: {kind!r})"
    else:
        reason = "--task " + task
    if task == "classification":
        _check_classes(y, kind, target)
        if scale_target == "yes":
            raise CommandLineError(f"--scale-target yes is for a regression, and the task is classification ({reason}); drop it")
        return Task("classification", reason)
    _check_numbers(y, target)
    scaled, scaling_reason = _scaling(y, scale_target, losses)
    return Task("regression", reason, scaled, scaling_reason)


def _check_classes(y, kind, target):
    if kind not in {"binary", "multiclass"}:
        raise CommandLineError(
            f"target column {target!r} does not hold class labels (found {kind} values); "
            "a classifier needs labels: use --task regression for numbers"
        )
    classes = pd.unique(y)
    if len(classes) < 2:
        # type_of_target calls one class 'binary'; the classifier's own error lists every row.
        raise CommandLineError(f"target column {target!r} holds a single class ({_labels(classes)}); a classifier needs two or more")


def _check_numbers(y, target):
    if not _is_number(y):
        raise CommandLineError(
            f"target column {target!r} holds {y.dtype} values ({_labels(pd.unique(y).tolist())}), not numbers: "
            "a regression needs numbers; use --task classification for labels"
        )
    if y.nunique() < 2:
        raise CommandLineError(
            f"target column {target!r} holds a single value ({_labels(pd.unique(y).tolist())}); there is nothing to predict"
        )


def _check_finite(y, target):
    infinite = int(np.isinf(y.to_numpy(dtype=float)).sum())
    if infinite:
        raise CommandLineError(f"target column {target!r} has {infinite} infinite values; drop those rows first")


def _scaling(y, scale_target, losses):
    """Whether to standardise a regression's target, and why, for the summary."""
    if "poisson" in losses:
        if scale_target == "yes":
            raise CommandLineError(
                "--scale-target yes with loss='poisson': the Poisson loss needs the target's own "
                "(non-negative) values; pass --scale-target no, or drop poisson from --param loss"
            )
        return False, "not scaled: loss='poisson' needs the target's own values"
    if scale_target == "no":
        return False, "not scaled (--scale-target no)"
    if scale_target == "yes":
        return True, "scaled in each fold (--scale-target yes)"
    mean, std = float(y.mean()), float(y.std(ddof=0))
    if abs(mean) <= _UNIT_MEAN and _UNIT_STD[0] <= std <= _UNIT_STD[1]:
        return False, f"not scaled: its mean ({mean:.3g}) and std ({std:.3g}) are already of order one"
    return True, (
        f"scaled in each fold (mean {mean:.4g}, std {std:.4g}: far from the network's starting "
        "outputs near zero); predictions are scaled back, so scores are on the target's own values"
    )
