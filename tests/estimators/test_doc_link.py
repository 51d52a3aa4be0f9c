"""Every public estimator and search links, in scikit-learn's HTML repr, to its page of the API reference."""

import inspect

import pytest
from sklearn.base import BaseEstimator
from sklearn.model_selection._search import BaseSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import estimator_html_repr

import skbatch
from skbatch.estimators.doc_link import DOCS_URL, api_page

ESTIMATORS = sorted(name for name in skbatch.__all__ if inspect.isclass(cls := getattr(skbatch, name)) and issubclass(cls, BaseEstimator))


def _make(name):
    cls = getattr(skbatch, name)
    if issubclass(cls, BaseSearchCV):
        return cls(skbatch.MLPClassifier(), {"lr": [0.1]})
    return cls()


def _site():
    version = "latest" if ".dev" in skbatch.__version__ else skbatch.__version__
    return DOCS_URL.format(version=version)


def test_every_public_estimator_and_search_is_checked():
    # The list comes from __all__, so a new estimator is covered without editing this file.
    assert {"MLPClassifier", "ConvNetClassifier", "TorchRegressor", "FusedGridSearchCV", "FusedBayesSearchCV"} <= set(ESTIMATORS)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_the_link_is_the_page_the_docs_build_writes(name):
    if name == "FusedBayesSearchCV":
        pytest.importorskip("skopt")
    link = _make(name)._get_doc_link()
    # tests/test_docs.py checks that the build writes generated/skbatch.<name>.html for every public name.
    assert link == _site() + f"generated/skbatch.{name}.html"
    assert link == _site() + api_page(name)


def test_the_html_repr_links_the_search_and_its_estimator():
    search = skbatch.FusedGridSearchCV(make_pipeline(StandardScaler(), skbatch.MLPClassifier()), {"mlpclassifier__lr": [0.1]})
    html = estimator_html_repr(search)
    assert f'href="{_site()}generated/skbatch.FusedGridSearchCV.html"' in html
    assert f'href="{_site()}generated/skbatch.MLPClassifier.html"' in html
    # The scikit-learn steps keep their own links.
    assert "scikit-learn.org" in html


def test_a_subclass_without_a_page_gets_no_link():
    # A user's subclass lives in the user's module, and a private skbatch class has no API page:
    # neither should point at a page that does not exist.
    class MyMLP(skbatch.MLPClassifier):
        pass

    assert MyMLP()._get_doc_link() == ""
    MyMLP.__module__ = "skbatch.estimators.mlp"
    assert MyMLP()._get_doc_link() == ""
