"""scikit-learn's own estimator checks, with no check marked as expected to fail."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skbatch import MLPClassifier

# A smaller epoch budget and a larger step keep the checks fast; they test
# the estimator API, and check_classifiers_train still demands accuracy.
CHECKED = [MLPClassifier(max_epochs=30, lr=1e-2, device="cpu")]


@parametrize_with_checks(CHECKED)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
