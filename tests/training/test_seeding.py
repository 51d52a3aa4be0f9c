"""Each fit draws from its own random streams: fits in threads give the results they give alone."""

import joblib
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV, KFold
from torch import nn

from skbatch import MLPClassifier, TorchClassifier


class DropoutNet(nn.Module):
    """A custom module whose forward draws from torch's global generator."""

    def __init__(self, n_features_in, n_classes):
        super().__init__()
        self.hidden = nn.Linear(n_features_in, 16)
        self.out = nn.Linear(16, n_classes)

    def forward(self, X):
        return self.out(F.dropout(torch.relu(self.hidden(X)), 0.3, training=self.training))


def _scores(search):
    return np.array([search.cv_results_[f"split{k}_test_score"] for k in range(3)])


@pytest.mark.slow
@pytest.mark.parametrize(
    "estimator",
    [
        MLPClassifier(hidden_layer_sizes=(16,), dropout=0.3, max_epochs=4, batch_size=16, device="cpu", random_state=0),
        TorchClassifier(module=DropoutNet, max_epochs=4, batch_size=16, device="cpu", random_state=0),
    ],
    ids=["built-in", "custom"],
)
def test_threaded_searches_give_the_results_of_a_serial_one(estimator):
    X, y = make_classification(120, 8, n_informative=5, random_state=0)
    grid = {"lr": [3e-3, 1e-2, 3e-2], "random_state": [0, 1]}
    cv = KFold(3, shuffle=True, random_state=0)
    serial = _scores(GridSearchCV(estimator, grid, cv=cv, refit=False, n_jobs=1).fit(X, y))
    for _ in range(3):
        with joblib.parallel_config(backend="threading", n_jobs=2):
            threaded = GridSearchCV(estimator, grid, cv=cv, refit=False).fit(X, y)
        np.testing.assert_array_equal(_scores(threaded), serial)


def test_a_built_in_fit_leaves_the_global_generator_alone():
    X, y = make_classification(60, 5, random_state=0)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    MLPClassifier(dropout=0.2, max_epochs=2, device="cpu", random_state=0).fit(X, y)
    np.testing.assert_array_equal(torch.rand(3), expected)


def test_built_in_weights_come_from_the_fits_seed_whatever_the_global_generator():
    X, y = make_classification(60, 5, random_state=0)
    weights = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        clf = MLPClassifier(dropout=0.2, max_epochs=2, device="cpu", random_state=0).fit(X, y)
        weights.append(clf.net_.module_.layers[0].weight.detach().clone())
    torch.testing.assert_close(weights[0], weights[1], rtol=0, atol=0)


class WideNet(nn.Module):
    """Returns one column too many."""

    def __init__(self, n_features_in, n_classes=None, n_outputs=None):
        super().__init__()
        self.linear = nn.Linear(n_features_in, (n_classes or n_outputs) + 1)

    def forward(self, X):
        return self.linear(X)


def test_a_module_of_the_wrong_width_is_refused_before_training():
    from skbatch import TorchRegressor

    X, y = make_classification(40, 5, random_state=0)
    with pytest.raises(ValueError, match=r"module WideNet returned output of shape \(2, 3\).*expected \(2, 2\).*n_classes=2"):
        TorchClassifier(module=WideNet, max_epochs=1, device="cpu").fit(X, y)
    with pytest.raises(ValueError, match=r"module WideNet returned output of shape \(2, 2\).*expected \(2, 1\).*n_outputs=1"):
        TorchRegressor(module=WideNet, max_epochs=1, device="cpu").fit(X, y.astype(float))
