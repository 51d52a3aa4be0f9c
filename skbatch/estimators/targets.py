"""Classifier and regressor bases: targets, losses and predictions on top of the shared training."""

import numpy as np
import torch
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import EpochScoring

from ..batching.plan import running_batch_size
from ..cache.store import fit_cached
from ..training.faults import non_finite_loss_error
from ..training.net import LeanNeuralNetClassifier, LeanNeuralNetRegressor
from .base import BaseTorchEstimator

__all__ = ["BaseTorchClassifier", "BaseTorchRegressor"]


class BaseTorchClassifier(ClassifierMixin, BaseTorchEstimator):
    """Base for classifiers whose network is a torch module trained by skorch.

    Encodes the labels as class indices, trains with
    ``torch.nn.CrossEntropyLoss`` and predicts through the softmax.
    Subclasses implement ``_build_module(n_features_in, n_classes)`` and
    may extend ``_check_params``; the training itself lives in
    :class:`BaseTorchEstimator`. Training params are documented on
    :class:`TorchClassifier`.
    """

    _net_class = LeanNeuralNetClassifier
    _criterion = torch.nn.CrossEntropyLoss
    # skorch's NeuralNetClassifier records the held-out accuracy itself.
    _validation_score = "valid_acc"
    _stratify_validation = True

    def fit(self, X, y):
        """Train the network on ``X`` and ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data: numpy arrays of any numeric dtype, pandas
            DataFrames or nested lists. Converted to float32. Estimators
            that take images also accept arrays of 3 or 4 dimensions.
        y : array-like of shape (n_samples,)
            Class labels of any type numpy can sort.

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
        if self.cache_dir is not None and not (self.warm_start and hasattr(self, "net_")):
            return fit_cached(self, X, y)
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X, y, classes=None):
        """Train for one epoch on ``X`` and ``y``, continuing from the current weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Class labels.
        classes : array-like of shape (n_classes,), default=None
            All the classes that may ever appear. Required on the first call,
            ignored (if equal) on later ones.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit(X, y, incremental=True, classes=classes)

    def predict_proba(self, X):
        """Probability of each class for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``.
        """
        check_is_fitted(self)
        proba = self._forward(self._validate_X(X)).astype(np.float64)
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
        y : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def _n_module_outputs(self):
        return len(self.classes_)

    def _encode_targets(self, y, *, classes, resume, incremental):
        check_classification_targets(y)
        if not resume:
            if incremental and classes is None:
                raise ValueError(
                    "classes must be passed on the first call to partial_fit, "
                    "e.g. partial_fit(X, y, classes=np.unique(y_all))."
                )
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
                "warm_start can only be used where y has the same classes as in "
                f"the previous call to fit: previously {self.classes_.tolist()}, now "
                f"{np.unique(y).tolist()}. Set warm_start=False to train from scratch."
            )
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(
                f"y contains labels {unknown.tolist()} that are not in classes_ "
                f"{self.classes_.tolist()}. Pass every class to the first partial_fit call."
            )
        return np.searchsorted(self.classes_, y)


class BaseTorchRegressor(RegressorMixin, BaseTorchEstimator):
    """Base for regressors whose network is a torch module trained by skorch.

    Trains on float32 targets of shape ``(n_samples, n_outputs)`` with
    ``torch.nn.MSELoss`` and predicts the module's raw output, following
    scikit-learn's conventions: ``score`` is R², a 1-D ``y`` gives 1-D
    predictions, and early stopping watches the held-out R². Subclasses
    implement ``_build_module(n_features_in, n_outputs)``. Training params
    are documented on :class:`TorchRegressor`.
    """

    _net_class = LeanNeuralNetRegressor
    _criterion = torch.nn.MSELoss
    _validation_score = "valid_r2"
    _target_checks = {"multi_output": True, "y_numeric": True}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X, y):
        """Train the network on ``X`` and ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data: numpy arrays of any numeric dtype, pandas
            DataFrames or nested lists. Converted to float32. Estimators
            that take images also accept arrays of 3 or 4 dimensions.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values. Converted to float32.

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
        if self.cache_dir is not None and not (self.warm_start and hasattr(self, "net_")):
            return fit_cached(self, X, y)
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X, y):
        """Train for one epoch on ``X`` and ``y``, continuing from the current weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values, with as many outputs as on the first call.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit(X, y, incremental=True)

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
        y = np.asarray(y, dtype=np.float32)
        y = y.reshape(len(y), -1)
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
        # skorch's NeuralNetRegressor records no score; R² is scikit-learn's.
        scoring = EpochScoring(_FiniteR2(type(self).__name__), lower_is_better=False, on_train=False, name=self._validation_score)
        return [(self._validation_score, scoring)]


class _FiniteR2:
    """R² on the validation split; a diverged net's non-finite predictions raise NonFiniteLossError.

    The epoch's training loss can still be finite when the last steps
    overflowed the weights; scikit-learn's r2_score would then fail with
    a bare "Input contains NaN". A class, not a closure, so a fitted
    estimator pickles.
    """

    def __init__(self, owner):
        self.owner = owner

    def __call__(self, net, X, y):
        y_pred = net.predict(X)
        if not np.all(np.isfinite(y_pred)):
            epoch, batch_size = len(net.history), running_batch_size(net)
            raise non_finite_loss_error(self.owner, float("nan"), epoch, net.lr, batch_size)
        return r2_score(y, y_pred.reshape(np.shape(y)))
