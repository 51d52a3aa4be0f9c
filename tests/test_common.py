"""scikit-learn's own estimator checks; the only checks marked as expected to fail are float32 rounding."""

from sklearn.base import is_regressor
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


# The networks train in float32 (skbatch's choice, for speed on accelerators):
# a fit with integer sample weights and one on the repeated rows sum in a
# different order, and agree to float32 rounding (1e-7 to 3e-6 relative),
# where these checks ask for rtol=1e-7 (float64). tests/estimators/test_mlp_inputs.py
# checks the same equivalence at rtol=1e-5.
_FLOAT32_ROUNDING = "trains in float32: weighted and repeated-row fits agree to float32 rounding, not to the check's rtol=1e-7"


# And they predict in float32: a row's output comes from a matrix product
# whose kernel (and so its summation order) depends on how many rows it
# multiplies, so predictions on a subset of rows can differ from the full
# batch's by a unit in the last place (2.4e-7 for an output near 1), where
# the check asks atol=1e-7. Whether a fit's weights land on such a row is
# luck: seen for MLPRegressor once its updates ran torch's fused kernel. A
# classifier's probabilities, under 1, have units in the last place below
# 1e-7: only regressors are marked.
_FLOAT32_PREDICTIONS = "predicts in float32: outputs on a subset of rows agree with the full batch's to float32 rounding, not to atol=1e-7"


def _expected_failed_checks(estimator):
    expected = {
        "check_sample_weight_equivalence_on_dense_data": _FLOAT32_ROUNDING,
        "check_sample_weight_equivalence_on_sparse_data": _FLOAT32_ROUNDING,
    }
    if is_regressor(estimator):
        expected["check_methods_subset_invariance"] = _FLOAT32_PREDICTIONS
    return expected


@parametrize_with_checks(CHECKED, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
