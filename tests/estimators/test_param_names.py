"""The param names an skbatch estimator reads once per class are scikit-learn's, kept up to date."""

from sklearn.base import BaseEstimator, clone

from skbatch import MLPClassifier, MLPRegressor, TorchClassifier
from skbatch.estimators.base import estimator_params


def _sklearn_names(cls):
    return BaseEstimator._get_param_names.__func__(cls)


def test_the_names_are_those_scikit_learn_reads_from_the_signature():
    for cls in (MLPClassifier, MLPRegressor, TorchClassifier):
        assert cls._get_param_names() == _sklearn_names(cls)
        assert cls._get_param_names() == _sklearn_names(cls)  # read again: from the cache


def test_a_caller_changing_the_list_changes_nothing_kept():
    names = MLPClassifier._get_param_names()
    names.clear()
    assert MLPClassifier._get_param_names() == _sklearn_names(MLPClassifier)


def test_a_subclass_adding_a_param_has_its_own_names():
    MLPClassifier._get_param_names()  # the parent's names are cached first

    @estimator_params
    class Wider(MLPClassifier):
        width: int = 3

    assert "width" in Wider._get_param_names()
    assert "width" not in MLPClassifier._get_param_names()
    estimator = Wider(width=5, lr=0.1)
    assert estimator.get_params()["width"] == 5
    assert clone(estimator).get_params() == estimator.get_params()


def test_a_replaced_init_is_read_again():
    @estimator_params
    class Changing(MLPClassifier):
        width: int = 3

    assert "width" in Changing._get_param_names()

    @estimator_params
    class Other(MLPClassifier):
        depth: int = 2

    Changing.__init__ = Other.__init__
    assert Changing._get_param_names() == _sklearn_names(Other)
