"""Cache keys fingerprint params by content; a param that cannot be fingerprinted turns caching off."""

import functools
import os
import subprocess
import sys

import joblib
import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris, make_classification
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.preprocessing import StandardScaler
from torch import nn

import _seams
from _seams import CountingNet
from skbatch import FusedGridSearchCV, TorchClassifier
from skbatch.cache.keys import UnfingerprintableParamError, params_fingerprint


@pytest.fixture(autouse=True)
def fresh_counter(monkeypatch):
    monkeypatch.setattr(_seams, "BUILT", 0)


class BackboneNet(nn.Module):
    """A head on a given (pretrained) backbone."""

    def __init__(self, n_features_in, n_classes, backbone):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.out_features, n_classes)

    def forward(self, X):
        return self.head(torch.tanh(self.backbone(X)))


def _backbone(seed, n_features=6, width=4):
    torch.manual_seed(seed)
    return nn.Linear(n_features, width)


def test_modules_tensors_and_arrays_are_keyed_by_their_values():
    def key(**kwargs):
        return params_fingerprint(TorchClassifier(module=BackboneNet, module_kwargs=kwargs))

    assert key(backbone=_backbone(0)) == key(backbone=_backbone(0))
    assert key(backbone=_backbone(0)) != key(backbone=_backbone(1))
    assert key(weights=torch.zeros(3)) != key(weights=torch.ones(3))
    assert key(weights=np.zeros(3)) != key(weights=np.ones(3))
    assert key(weights=np.zeros(3)) == key(weights=np.zeros(3))


_PARTIAL_KEY = """
import functools, _seams
from skbatch import TorchClassifier
from skbatch.cache.keys import params_fingerprint
transform = functools.partial(_seams.count_lines, {path!r})
print(params_fingerprint(TorchClassifier(module=_seams.CountingNet, module_kwargs={{"transform": transform}})))
"""


@pytest.mark.slow
def test_a_partial_is_keyed_by_its_function_and_arguments_in_every_process():
    # A memory address in the key would change from one process to the next: a search would never resume.
    elsewhere = subprocess.run(
        [sys.executable, "-c", _PARTIAL_KEY.format(path="a")],
        cwd=os.path.dirname(_seams.__file__),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    def here(path):
        transform = functools.partial(_seams.count_lines, path)
        return params_fingerprint(TorchClassifier(module=CountingNet, module_kwargs={"transform": transform}))

    assert here("a") == elsewhere != here("b")


class TransformNet(CountingNet):
    """CountingNet that applies ``transform`` to its input first."""

    def __init__(self, n_features_in, n_classes, transform=None):
        super().__init__(n_features_in, n_classes)
        self.transform = transform

    def forward(self, X):
        return super().forward(X if self.transform is None else self.transform(X))


def _times(k):
    return lambda X: X * k


@pytest.mark.parametrize("value", [lambda X: X, _times(2)], ids=["lambda", "closure"])
def test_a_lambda_or_closure_makes_the_fit_uncacheable_with_one_warning(tmp_path, value):
    estimator = TorchClassifier(module=TransformNet, module_kwargs={"transform": value}, max_epochs=2, device="cpu", cache_dir=tmp_path)
    with pytest.raises(UnfingerprintableParamError, match="'module_kwargs' param of TorchClassifier"):
        params_fingerprint(estimator)
    X, y = make_classification(60, 6, random_state=0)
    for _ in range(2):
        with pytest.warns(RuntimeWarning, match="cannot be fingerprinted exactly.*not cached") as record:
            estimator.fit(X, y)
        assert len([w for w in record if "fingerprinted" in str(w.message)]) == 1
    assert _seams.BUILT == 2  # trained twice: nothing was stored under a key that could collide


def test_pretrained_backbones_in_a_fused_search_score_as_in_grid_search():
    X, y = make_classification(150, 6, n_informative=4, random_state=0)
    X = X.astype(np.float32)
    grid = {"module_kwargs": [{"backbone": _backbone(seed)} for seed in (0, 1, 2)]}
    estimator = TorchClassifier(module=BackboneNet, max_epochs=3, lr=1e-2, device="cpu", random_state=0)
    cv = KFold(3, shuffle=True, random_state=0)
    ordinary = GridSearchCV(estimator, grid, cv=cv).fit(X, y)
    fused = FusedGridSearchCV(estimator, grid, cv=cv).fit(X, y)
    scores = ordinary.cv_results_["mean_test_score"]
    assert len(set(np.round(scores, 6))) > 1  # the backbones do make a difference
    np.testing.assert_allclose(fused.cv_results_["mean_test_score"], scores, atol=1e-6)


def test_a_fused_search_trains_uncacheable_candidates_alone_and_never_shares_a_result():
    X, y = make_classification(90, 6, random_state=0)
    grid = {"module_kwargs": [{"transform": _times(k)} for k in (1, -1)]}
    estimator = TorchClassifier(module=TransformNet, max_epochs=2, device="cpu", random_state=0)
    cv = KFold(3, shuffle=True, random_state=0)
    with pytest.warns(RuntimeWarning, match="not cached"):
        fused = FusedGridSearchCV(estimator, grid, cv=cv, refit=False).fit(X, y)
    assert len(fused.fused_stacks_) == 0
    assert sum(count for reason, count in fused.unfused_fits_.items() if "fingerprinted" in reason) == 6
    assert _seams.BUILT == 6  # every fit trained: none took another's entry
    ordinary = GridSearchCV(estimator, grid, cv=cv, refit=False).fit(X, y)
    np.testing.assert_allclose(fused.cv_results_["mean_test_score"], ordinary.cv_results_["mean_test_score"])


class Scaled(nn.Module):
    """``tanh(factor * x)``: the factor is a plain attribute, in neither the repr nor the state_dict."""

    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, X):
        return torch.tanh(self.factor * X)


class ActNet(nn.Module):
    """A hidden layer whose activation is a module passed in."""

    def __init__(self, n_features_in, n_classes, act):
        super().__init__()
        self.hidden, self.act, self.out = nn.Linear(n_features_in, 8), act, nn.Linear(8, n_classes)

    def forward(self, X):
        return self.out(self.act(self.hidden(X)))


def test_modules_differing_only_in_a_plain_attribute_get_their_own_keys():
    def key(act):
        return params_fingerprint(TorchClassifier(module=ActNet, module_kwargs={"act": act}))

    assert key(Scaled(0.1)) != key(Scaled(5.0))
    assert key(Scaled(0.1)) == key(Scaled(0.1))
    buffered = nn.Linear(2, 2)
    buffered.register_buffer("shift", torch.ones(2), persistent=False)  # not in the state_dict either
    other = nn.Linear(2, 2)
    other.load_state_dict(buffered.state_dict())
    other.register_buffer("shift", torch.zeros(2), persistent=False)
    assert key(buffered) != key(other)


def test_modules_differing_only_in_a_plain_attribute_score_as_in_grid_search(tmp_path):
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    grid = {"module_kwargs": [{"act": Scaled(0.1)}, {"act": Scaled(5.0)}]}
    estimator = TorchClassifier(module=ActNet, max_epochs=3, lr=0.02, batch_size=32, device="cpu", random_state=0)
    cv = KFold(3, shuffle=True, random_state=0)
    ordinary = GridSearchCV(estimator, grid, cv=cv).fit(X, y)
    scores = ordinary.cv_results_["mean_test_score"]
    assert scores[0] != scores[1]
    fused = FusedGridSearchCV(estimator.set_params(cache_dir=tmp_path), grid, cv=cv).fit(X, y)
    np.testing.assert_allclose(fused.cv_results_["mean_test_score"], scores, atol=1e-6)


def _joblib_params_hash(estimator, ignore=frozenset()):
    """The params fingerprint as joblib hashes it every time, without the remembered hashes."""
    from skbatch.cache import keys

    params = keys._params(estimator, keys._UNKEYED_PARAMS | ignore)
    return joblib.hash((keys._FORMAT, type(estimator).__module__, type(estimator).__qualname__, params))


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"lr": 0.01, "alpha": 0.0},
        {"alpha": -0.0},  # pickles otherwise than 0.0: another key
        {"lr": np.float64(0.01), "alpha": np.float64(1e-3)},  # a scipy distribution's draws
        {"tol": float("nan")},
        {"hidden_layer_sizes": (8, 4), "activation": "tanh"},
        {"momentum": np.float32(0.5), "device": torch.device("cpu")},
        {"random_state": np.random.RandomState(0)},
        {"hidden_layer_sizes": np.array([10, 5])},
    ],
)
def test_remembered_params_hashes_are_joblibs_for_every_equal_estimator(params):
    from skbatch import MLPClassifier
    from skbatch.cache import keys

    for _ in range(3):  # new objects with the same values: the remembered hash is the one joblib gives them
        estimator = MLPClassifier(**{name: value for name, value in params.items()})
        assert params_fingerprint(estimator) == _joblib_params_hash(estimator)
        assert params_fingerprint(estimator, ignore={"max_epochs"}) == _joblib_params_hash(estimator, {"max_epochs"})
        assert keys.key_fingerprints(estimator) == (_joblib_params_hash(estimator), _joblib_params_hash(estimator, {"max_epochs"}))
        assert keys.family_key(estimator, 7) == joblib.hash(keys._family(estimator, 7))
        estimator.set_params(max_epochs=7)  # a changed param is another key
        assert params_fingerprint(estimator) == _joblib_params_hash(estimator)
    keys._PARAMS_HASHES.clear()


def test_values_that_print_alike_but_pickle_otherwise_are_hashed_each_time():
    from skbatch.cache.keys import _spelled_exactly

    assert _spelled_exactly(("float", 0.5)) and _spelled_exactly(("float64", np.float64(0.5)))
    assert not _spelled_exactly(("float", float("nan")))  # NaN payloads print alike
    assert not _spelled_exactly(("float32", np.float32(0.5)))

    class Text(str):
        pass

    assert not _spelled_exactly(("str", Text("a")))
    assert not _spelled_exactly([("int", 1)])  # a list is not what value_fingerprint makes
