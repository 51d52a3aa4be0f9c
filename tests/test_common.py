"""scikit-learn's own estimator checks, with no check marked as expected to fail."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skbatch import MLPClassifier


@parametrize_with_checks([MLPClassifier(device="cpu")])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
