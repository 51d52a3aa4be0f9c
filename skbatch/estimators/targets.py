"""Classifier and regressor bases: targets, losses and predictions on top of the shared training."""

import numpy as np
import torch
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d

from .._compat import CallbackSupportMixin, with_callbacks
from ..cache.store import fit_cached
from ..training.fit_tasks import fit_task
from ..training.lbfgs import check_partial_fit_solver
from ..training.losses import HalfPoissonDeviance, MultilabelLogLoss
from ..training.net import LeanNeuralNetClassifier, LeanNeuralNetRegressor
from ..training.scoring import R2, ValidationScore, accuracy
from ..training.sparse import is_sparse
from .aliases import resolve_alias
from .base import BaseTorchEstimator

__all__ = ["BaseTorchClassifier", "BaseTorchRegressor"]


class _Fit(CallbackSupportMixin):
    """``fit`` of the classifier and regressor bases: the fit cache's door, then the shared training.

    Each ``fit`` and ``partial_fit`` is a task of scikit-learn's callbacks
    (``set_callbacks``), its epochs subtasks (:mod:`skbatch.training.fit_tasks`).
    """

    @with_callbacks
    def fit(self, X, y, sample_weight=None):
        """Train the network on ``X`` and ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data: numpy arrays of any numeric dtype, pandas
            DataFrames or nested lists. Converted to float32. Estimators
            that take images also accept arrays of 3 or 4 dimensions.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            A classifier's class labels, of any type numpy can sort, or an
            indicator matrix of 0/1 for multilabel classification; a
            regressor's target values, converted to float32.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample: each batch's loss is
            ``sum(w_i * l_i) / sum(w_i)``, as in scikit-learn's MLP.

        Returns
        -------
        self : object
            The fitted estimator.

        Raises
        ------
        NonFiniteLossError
            If the training loss becomes NaN or infinite; names ``lr`` and
            the batch size.
        DeviceOutOfMemoryError
            If the device runs out of memory; names the batch size and the
            largest that trained with the same settings, when known.
        """
        with fit_task(self, X, y, sample_weight=sample_weight, max_epochs=resolve_alias(self, "max_epochs")):
            if self.cache_dir is not None and not (self.warm_start and hasattr(self, "net_")):
                return fit_cached(self, X, y, sample_weight=sample_weight)
            return self._fit(X, y, incremental=False, sample_weight=sample_weight)

    def _partial_fit(self, X, y, **kwargs):
        # One epoch, as one callback task with one subtask.
        with fit_task(self, X, y, sample_weight=kwargs.get("sample_weight"), max_epochs=1):
            return self._fit(X, y, incremental=True, **kwargs)


class BaseTorchClassifier(ClassifierMixin, _Fit, BaseTorchEstimator):
    """Base for classifiers whose network is a torch module trained by skorch.

    Encodes the labels as class indices, trains with
    ``torch.nn.CrossEntropyLoss`` and predicts through the softmax. An
    indicator ``y`` (2-D, 0/1) is a multilabel problem, as in scikit-learn's
    MLPClassifier: one logistic output per label, binary cross-entropy,
    ``classes_ = np.arange(n_labels)`` and indicator predictions.
    Subclasses implement ``_build_module(n_features_in, n_classes)`` and
    may extend ``_check_params``; the training itself lives in
    :class:`BaseTorchEstimator`. Training params are documented on
    :class:`TorchClassifier`.
    """

    _net_class = LeanNeuralNetClassifier
    _validation_score = "valid_acc"
    _stratify_validation = True
    # 2-D y is an indicator matrix (multilabel); _encode_targets checks it.
    _target_checks = {"multi_output": True}
    _multilabel = False  # set by fit: whether y was an indicator matrix

    @property
    def _criterion(self):
        return MultilabelLogLoss if self._multilabel else torch.nn.CrossEntropyLoss

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _net_params(self):
        # The held-out accuracy is ValidationScore's (weighted, multilabel-aware), not skorch's.
        return {
            "callbacks__valid_acc": None,
            "predict_nonlinearity": torch.sigmoid if self._multilabel else "auto",
        }

    def _scoring_callbacks(self):
        return [("validation_score", ValidationScore(self._validation_score, accuracy))]

    @available_if(check_partial_fit_solver)
    @with_callbacks
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train for one epoch on ``X`` and ``y``, continuing from the current weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Class labels.
        classes : array-like of shape (n_classes,), default=None
            All the classes that may ever appear. Required on the first call,
            ignored (if equal) on later ones. For an indicator ``y``,
            ``np.arange(n_labels)``.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._partial_fit(X, y, classes=classes, sample_weight=sample_weight)

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``.
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict_proba(self, X):
        """Probability of each class for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``. For multilabel, the probability
            of each label, independently (rows need not sum to 1).
        """
        check_is_fitted(self)
        proba = self._forward(self._validate_X(X)).astype(np.float64)
        if self._multilabel:
            return proba
        # The softmax ran in float32, whose rows miss a sum of 1 by more than
        # scikit-learn's metrics (log_loss) accept for float64.
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X):
        """Most probable class for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_labels)
            Labels from ``classes_``; for multilabel, the indicator matrix.
        """
        check_is_fitted(self)
        proba = self.predict_proba(X)
        if self._multilabel:
            return (proba > 0.5).astype(int)
        return self.classes_[np.argmax(proba, axis=1)]

    def _n_module_outputs(self):
        return len(self.classes_)

    def _encode_targets(self, y, *, classes, resume, incremental):
        if is_sparse(y):
            y = y.toarray()
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if not resume and incremental and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit, e.g. partial_fit(X, y, classes=np.unique(y_all)).")
        if y.ndim == 2 or (resume and self._multilabel):
            return self._encode_indicator(y, resume=resume)
        if not resume:
            self._multilabel = False
            self.classes_ = np.unique(y if classes is None else classes)
            if len(self.classes_) < 2:
                raise ValueError(
                    "Classifier can't train when only one class is present: "
                    f"y holds the single class {self.classes_.tolist()[0]!r}. "
                    "Pass data with at least two classes."
                )
        elif incremental and classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(
                f"classes={np.unique(classes).tolist()} is not the same as on the first "
                f"call to partial_fit, which was {self.classes_.tolist()}."
            )
        elif not incremental and not np.array_equal(np.unique(y), self.classes_):
            raise ValueError(
                # scikit-learn's message, word for word, then the fix.
                "warm_start can only be used where `y` has the same classes as in the "
                f"previous call to fit. Previously got {self.classes_}, `y` has {np.unique(y)}. "
                "Set warm_start=False to train from scratch."
            )
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(
                f"y contains labels {unknown.tolist()} that are not in classes_ "
                f"{self.classes_.tolist()}. Pass every class to the first partial_fit call."
            )
        return np.searchsorted(self.classes_, y)

    def _encode_indicator(self, y, *, resume):
        """An indicator ``y`` as float targets of the binary cross-entropy; learn or check the labels."""
        target_type = type_of_target(y)
        if target_type != "multilabel-indicator":
            raise ValueError(
                f"{type(self).__name__} takes y as a 1-D array of labels, or as a 2-D "
                f"indicator matrix of 0/1 for multilabel classification; got y of type "
                f"{target_type!r} and shape {np.shape(y)}. Pass one label per sample, or "
                "binarize the labels (e.g. with MultiLabelBinarizer)."
            )
        n_labels = y.shape[1]
        if not resume:
            # scikit-learn's LabelBinarizer names the columns of an indicator by position.
            self.classes_ = np.arange(n_labels)
            self._multilabel = True
        elif not self._multilabel or n_labels != len(self.classes_):
            previous = f"{len(self.classes_)} labels" if self._multilabel else "1-D labels"
            raise ValueError(
                f"y is an indicator matrix of {n_labels} labels, but {type(self).__name__} "
                f"was fitted on {previous}. Pass y of the same form as in the first fit, "
                "or set warm_start=False to train from scratch."
            )
        return np.asarray(y, dtype=np.float32)


class BaseTorchRegressor(RegressorMixin, _Fit, BaseTorchEstimator):
    """Base for regressors whose network is a torch module trained by skorch.

    Trains on float32 targets of shape ``(n_samples, n_outputs)`` with
    ``torch.nn.MSELoss`` (or the half Poisson deviance, with an ``exp``
    output, when the estimator has ``loss='poisson'``) and predicts the
    module's output, following
    scikit-learn's conventions: ``score`` is R², a 1-D ``y`` gives 1-D
    predictions, and early stopping watches the held-out R². Subclasses
    implement ``_build_module(n_features_in, n_outputs)``. Training params
    are documented on :class:`TorchRegressor`.
    """

    _net_class = LeanNeuralNetRegressor
    _validation_score = "valid_r2"
    _target_checks = {"multi_output": True, "y_numeric": True}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _poisson(self):
        # Only estimators with a ``loss`` param (MLPRegressor) can choose it.
        return getattr(self, "loss", "squared_error") == "poisson"

    @property
    def _criterion(self):
        return HalfPoissonDeviance if self._poisson() else torch.nn.MSELoss

    def _net_params(self):
        # The module outputs log(mean) under the Poisson loss's log link.
        return {"predict_nonlinearity": torch.exp if self._poisson() else "auto"}

    @available_if(check_partial_fit_solver)
    @with_callbacks
    def partial_fit(self, X, y, sample_weight=None):
        """Train for one epoch on ``X`` and ``y``, continuing from the current weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values, with as many outputs as on the first call.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._partial_fit(X, y, sample_weight=sample_weight)

    def predict(self, X):
        """Predicted target values for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            1-D where the network has one output, as in scikit-learn.
        """
        check_is_fitted(self)
        y_pred = self._forward(self._validate_X(X)).astype(np.float64)
        return y_pred.ravel() if y_pred.shape[1] == 1 else y_pred

    def _n_module_outputs(self):
        return self.n_outputs_

    def _encode_targets(self, y, *, classes, resume, incremental):
        # Checked before the cast: None (an object y) becomes NaN in float64,
        # and a value beyond float32 becomes inf in float32; either way the
        # loss is not finite, and the divergence advice (lower lr) is wrong.
        y = np.asarray(y, dtype=np.float64)
        bad = ~np.isfinite(y)
        if bad.any():
            row = int(np.argwhere(bad)[0][0])
            raise ValueError(
                f"y holds NaN, None or infinite values (the first at row {row}), which {type(self).__name__} "
                "cannot train on. Drop or impute those rows (e.g. with SimpleImputer on y, or by filtering)."
            )
        largest = float(np.abs(y).max(initial=0.0))
        if largest > np.finfo(np.float32).max:
            raise ValueError(
                f"y holds values beyond float32's range (largest |y| is {largest:.3g}, above "
                f"{np.finfo(np.float32).max:.3g}), the precision {type(self).__name__} trains in. Rescale y, "
                "e.g. with TransformedTargetRegressor(regressor, transformer=StandardScaler())."
            )
        y = y.astype(np.float32)
        y = y.reshape(len(y), -1)
        if self._poisson() and (y < 0).any():
            raise ValueError(
                "Some value(s) of y are negative which is not allowed for Poisson "
                f"regression (loss='poisson'): the smallest is {y.min()}. Pass counts or "
                "rates >= 0, or use loss='squared_error'."
            )
        if not resume:
            self.n_outputs_ = y.shape[1]
        elif y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {y.shape[1]} output(s), but {type(self).__name__} was fitted "
                f"with {self.n_outputs_}. Pass y with {self.n_outputs_} column(s), or "
                "set warm_start=False to train from scratch."
            )
        return y

    def _scoring_callbacks(self):
        # skorch's NeuralNetRegressor records no score; R² (of the predictions,
        # after the link) is scikit-learn's. A diverged net's non-finite
        # predictions raise NonFiniteLossError there, not scikit-learn's "Input contains NaN".
        scoring = ValidationScore(self._validation_score, R2(exp_link=self._poisson()), owner=type(self).__name__)
        return [(self._validation_score, scoring)]
