"""The estimators' docstrings document exactly their signatures, with the same defaults.

The shared texts come from ``skbatch.estimators._docs``; these tests keep the
registry, the docstrings and the ``__init__`` signatures in step.
"""

import ast
import inspect
import re

import pytest
from numpydoc.docscrape import ClassDoc

from skbatch import ConvNetClassifier, MLPClassifier, MLPRegressor, TorchClassifier, TorchRegressor
from skbatch.estimators._docs import fill_doc
from skbatch.estimators.base import BaseTorchEstimator, estimator_params
from skbatch.estimators.targets import BaseTorchClassifier

ESTIMATORS = [MLPClassifier, MLPRegressor, ConvNetClassifier, TorchClassifier, TorchRegressor]


def _signature_defaults(cls):
    params = inspect.signature(cls.__init__).parameters
    return {name: p.default for name, p in params.items() if name != "self"}


def _documented_defaults(cls):
    """``{param: default}`` from the Parameters section; the default as written, or None where none is."""
    documented = {}
    for entry in ClassDoc(cls)["Parameters"]:
        found = re.search(r"default=(.+)$", entry.type)
        for name in entry.name.split(", "):
            documented[name] = found and found[1]
    return documented


def _mismatches(cls):
    """What the Parameters section of ``cls`` gets wrong about its ``__init__``, one line each.

    Names, defaults and order, as scikit-learn's own docstring test checks them.
    """
    signature = _signature_defaults(cls)
    documented = _documented_defaults(cls)
    problems = [f"{name} is in __init__ but not documented" for name in signature if name not in documented]
    problems += [f"{name} is documented but not in __init__" for name in documented if name not in signature]
    for name, default in signature.items():
        if default is inspect.Parameter.empty or name not in documented:
            continue
        written = documented[name]
        if written is None:
            problems.append(f"{name} documents no default; __init__ has {default!r}")
        elif ast.literal_eval(written) != default:
            problems.append(f"{name} documents default={written}; __init__ has {default!r}")
    if not problems and list(documented) != list(signature):
        problems.append(f"documented in the order {list(documented)}, but __init__ has {list(signature)}")
    return problems


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_every_param_is_documented_with_its_default(cls):
    assert _mismatches(cls) == []


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_signature_is_keyword_only_typed_and_stores_params(cls):
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params)
    assert all(p.annotation is not inspect.Parameter.empty for p in params)
    # get_params reads the signature: it lists every param, each as stored.
    estimator = cls()
    assert set(estimator.get_params()) == {p.name for p in params}
    sentinel = object()
    for p in params:
        assert getattr(cls(**{p.name: sentinel}), p.name) is sentinel


def test_shared_params_have_the_same_default_everywhere():
    defaults = {}
    for cls in ESTIMATORS:
        for name, default in _signature_defaults(cls).items():
            defaults.setdefault(name, {})[cls.__name__] = default
    for name, by_class in defaults.items():
        assert len({repr(d) for d in by_class.values()}) == 1, f"{name} defaults differ: {by_class}"
    # Every estimator trains with every one of the base's params.
    base = set(_signature_defaults(BaseTorchEstimator))
    assert all(base <= set(_signature_defaults(cls)) for cls in ESTIMATORS)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_docstrings_are_complete_numpydoc(cls):
    doc = ClassDoc(cls)
    for section in ("Parameters", "Attributes", "See Also", "Examples"):
        assert doc[section], f"{cls.__name__} lost its {section} section"
    assert "{" + "training_params}" not in cls.__doc__
    attributes = {entry.name for entry in doc["Attributes"]}
    assert {"n_features_in_", "input_shape_", "net_", "batch_size_", "loss_curve_"} <= attributes
    assert ("classes_" in attributes) == hasattr(cls, "predict_proba")
    # Regressors learn n_outputs_ from y; MLPClassifier has it too, as scikit-learn's does.
    has_n_outputs = not hasattr(cls, "predict_proba") or hasattr(cls, "coefs_")
    assert ("n_outputs_" in attributes) == has_n_outputs


def test_classifier_and_regressor_texts_differ_where_the_estimators_do():
    texts = {cls: {p.name: " ".join(p.desc) for p in ClassDoc(cls)["Parameters"]} for cls in ESTIMATORS}
    assert "accuracy" in texts[MLPClassifier]["early_stopping"]
    assert "R²" in texts[MLPRegressor]["early_stopping"]
    assert texts[MLPClassifier]["batch_size"] == texts[TorchRegressor]["batch_size"]


def test_a_param_added_without_docs_fails_the_check():
    @fill_doc
    @estimator_params
    class Undocumented(MLPClassifier):
        """Adds a param its docstring does not know, and misstates a default.

        Parameters
        ----------
        {hidden_layer_sizes}
        {activation}
        dropout : float, default=0.5
            Not the default in __init__.
        {training_params}
        """

        width: int = 3

    assert _mismatches(Undocumented) == [
        "width is in __init__ but not documented",
        "dropout documents default=0.5; __init__ has 0.0",
    ]


def test_an_unknown_placeholder_is_refused():
    class Misspelt(BaseTorchClassifier):
        """Names an entry the registry lacks.

        Parameters
        ----------
        {bach_size}
        """

    with pytest.raises(KeyError, match=r"\{bach_size\} names no entry"):
        fill_doc(Misspelt)
