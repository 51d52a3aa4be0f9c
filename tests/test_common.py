"""scikit-learn's own estimator checks, with no check marked as expected to fail."""

from sklearn.utils.estimator_checks import parametrize_with_checks
from torch import nn

from skbatch import (
    ConvNetClassifier,
    MLPClassifier,
    MLPRegressor,
    TorchClassifier,
    TorchRegressor,
)


class TinyNet(nn.Module):
    """A user's module, as TorchClassifier and TorchRegressor receive it: inputs and outputs filled in."""

    def __init__(self, n_features_in, n_outputs=None, n_classes=None, hidden=16):
        super().__init__()
        width = n_classes if n_outputs is None else n_outputs
        self.layers = nn.Sequential(nn.Linear(n_features_in, hidden), nn.ReLU(), nn.Linear(hidden, width))

    def forward(self, X):
        return self.layers(X)


# A smaller epoch budget and a larger step keep the checks fast; they test
# the estimator API, and check_classifiers_train and check_regressors_train
# still demand accuracy and R².
CHECKED = [
    MLPClassifier(max_epochs=30, lr=1e-2, device="cpu"),
    MLPRegressor(max_epochs=15, lr=3e-2, device="cpu"),
    ConvNetClassifier(channels=(4,), dense_layer_sizes=(), max_epochs=10, lr=3e-2, device="cpu"),
    TorchClassifier(module=TinyNet, max_epochs=15, lr=3e-2, device="cpu"),
    TorchRegressor(module=TinyNet, max_epochs=15, lr=3e-2, device="cpu"),
]


@parametrize_with_checks(CHECKED)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
