"""The largest-batch search: its logic against simulated memory limits, and 'max' inside fit and CV."""

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_diabetes, load_digits, load_iris
from sklearn.model_selection import GridSearchCV, cross_validate

from simulated_oom import OutOfMemoryAbove, released  # noqa: F401 (fixture)
from skbatch import ConvNetClassifier, MLPClassifier, MLPRegressor, TorchClassifier, find_max_batch_size
from skbatch.training.max_batch import _search

# Simulated failures hold no memory; skip the garbage collection after each.
pytestmark = pytest.mark.usefixtures("released")

X_IRIS, Y_IRIS = load_iris(return_X_y=True)


def _threshold(limit):
    return lambda size: size <= limit


@pytest.mark.parametrize("limit", [1, 2, 7, 100, 255, 256, 257, 1000, 4097, 99_999])
def test_search_answer_is_within_rtol_of_the_limit(limit):
    search = _search(_threshold(limit), 1_000_000, start=256, rtol=1 / 32)
    assert search.batch_size <= limit
    assert search.batch_size >= limit - max(1, math.floor(limit / 32))
    assert all(fitted == (size <= limit) for size, fitted in search.probes)


@pytest.mark.parametrize("limit", [3, 100, 1000, 4097])
def test_search_with_rtol_zero_is_exact(limit):
    assert _search(_threshold(limit), 1_000_000, start=256, rtol=0).batch_size == limit


@pytest.mark.parametrize(
    "limit, expected_probes",
    [
        # 256, 512 fit; 1024 fails; five bisections reach 992 within 1/32.
        (1000, 8),
        # 256 fails; 128, 192, 224, 240, 248 fit (gap 8 > 7); 252 fails: 248 is within 1/32.
        (250, 7),
        # Larger than the data: 256 to 8192, then all 10000 samples; no bisection.
        (50_000, 7),
    ],
)
def test_search_counts_its_probes(limit, expected_probes):
    search = _search(_threshold(limit), 10_000 if limit == 50_000 else 1_000_000, start=256, rtol=1 / 32)
    assert search.n_probes == expected_probes


def _benchmark(name):
    """Import a script from benchmarks/, which holds the reference rules the tests compare with."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("limit", [300, 1000, 5000, 20_000])
def test_search_needs_fewer_probes_than_lightning(limit):
    ours = _search(_threshold(limit), 1_000_000, start=256, rtol=1 / 32).n_probes
    _, lightning = _benchmark("bench_max_batch_probes").lightning_binsearch(limit, 1_000_000)
    assert ours < lightning


def test_search_never_exceeds_the_number_of_samples():
    search = _search(_threshold(10**9), 150, start=256, rtol=1 / 32)
    assert search.batch_size == 150
    assert search.probes == [(150, True)]


def test_search_raises_when_one_sample_does_not_fit():
    with pytest.raises(MemoryError, match="batch_size=1 does not fit"):
        _search(_threshold(0), 1000, start=8, rtol=1 / 32)


def test_find_max_batch_size_runs_real_steps_and_releases_memory_after_each_failure(released):  # noqa: F811 (the fixture)
    clf = TorchClassifier(module=OutOfMemoryAbove, module_kwargs={"limit": 40}, device="cpu")
    search = find_max_batch_size(clf, X_IRIS, Y_IRIS, start=8, rtol=0)
    assert search.batch_size == 40
    n_failed = sum(not fitted for _, fitted in search.probes)
    # One release per failed probe; on the CPU none when the search ends.
    assert n_failed > 0
    assert released == [torch.device("cpu")] * n_failed
    assert not hasattr(clf, "net_")


def test_find_max_batch_size_on_cpu_without_a_limit_is_every_sample():
    search = find_max_batch_size(MLPClassifier(hidden_layer_sizes=(8,), device="cpu"), X_IRIS, Y_IRIS)
    assert search.batch_size == len(X_IRIS)
    assert search.n_probes == 1


def test_the_cpu_allocator_failing_counts_as_out_of_memory():
    class CpuAllocatorLimit(OutOfMemoryAbove):
        def forward(self, X):
            if self.training and len(X) > self.limit:
                # The tensor a real step could not get: this raises the allocator's own error.
                torch.empty(10**14 * len(X), dtype=torch.float32)
            return self.linear(X)

    clf = TorchClassifier(module=CpuAllocatorLimit, module_kwargs={"limit": 40}, device="cpu")
    assert find_max_batch_size(clf, X_IRIS, Y_IRIS, rtol=0).batch_size == 40


def test_a_failure_that_is_not_out_of_memory_propagates():
    class Broken(OutOfMemoryAbove):
        def forward(self, X):
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        find_max_batch_size(TorchClassifier(module=Broken, device="cpu"), X_IRIS, Y_IRIS)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"start": 0}, "'start' parameter of find_max_batch_size must be an int in the range \\[1, inf\\)"),
        ({"rtol": 1.5}, "'rtol' parameter of find_max_batch_size must be a float in the range \\[0.0, 1.0\\)"),
    ],
)
def test_find_max_batch_size_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        find_max_batch_size(MLPClassifier(device="cpu"), X_IRIS, Y_IRIS, **kwargs)


def test_find_max_batch_size_checks_the_estimator_params_first():
    with pytest.raises(ValueError, match="'solver' parameter of MLPClassifier must be a str among"):
        find_max_batch_size(MLPClassifier(solver="newton", device="cpu"), X_IRIS, Y_IRIS)


def _spy_on_modules(monkeypatch, estimator_class):
    """The modules ``estimator_class`` builds, in order."""
    built = []
    build = estimator_class._build_module

    def spy(self, n_features_in, n_outputs):
        built.append(build(self, n_features_in, n_outputs))
        return built[-1]

    monkeypatch.setattr(estimator_class, "_build_module", spy)
    return built


def test_find_max_batch_size_on_a_regressor_builds_one_output_per_target(monkeypatch):
    # y once went through class encoding: one output per distinct target
    # value, and a loss that could not take the network's output.
    X, y = load_diabetes(return_X_y=True)
    built = _spy_on_modules(monkeypatch, MLPRegressor)
    reg = MLPRegressor(hidden_layer_sizes=(8,), device="cpu")
    search = find_max_batch_size(reg, X, y)
    assert search.batch_size == len(X)
    (module,) = built
    assert [layer.out_features for layer in module.modules() if isinstance(layer, torch.nn.Linear)][-1] == 1
    assert not hasattr(reg, "n_outputs_")


def test_find_max_batch_size_takes_the_3d_input_that_fit_takes(monkeypatch):
    X, y = load_digits(return_X_y=True)
    X = X.reshape(-1, 8, 8)[:200] / 16
    y = y[:200]
    built = _spy_on_modules(monkeypatch, ConvNetClassifier)
    clf = ConvNetClassifier(channels=(4,), dense_layer_sizes=(), device="cpu")
    search = find_max_batch_size(clf, X, y)
    assert search.batch_size == len(X)
    (module,) = built
    convolutions = [layer for layer in module.modules() if isinstance(layer, torch.nn.Conv2d)]
    assert convolutions[0].in_channels == 1
    assert not hasattr(clf, "input_shape_")


def test_find_max_batch_size_checks_the_input_as_fit_does():
    X, y = load_digits(return_X_y=True)
    with pytest.raises(ValueError, match="image_shape=\\(7, 7\\) holds 49 values, but X has 64 features"):
        find_max_batch_size(ConvNetClassifier(image_shape=(7, 7), device="cpu"), X, y)
    with pytest.raises(ValueError, match="Found array with dim 3"):
        find_max_batch_size(MLPClassifier(device="cpu"), X.reshape(-1, 8, 8), y)


def test_batch_size_max_in_fit_records_the_size_and_trains():
    clf = TorchClassifier(module=OutOfMemoryAbove, module_kwargs={"limit": 40}, batch_size="max", max_epochs=3, device="cpu").fit(
        X_IRIS, Y_IRIS
    )
    assert 38 <= clf.batch_size_ <= 40
    assert clf.max_batch_search_.batch_size == clf.batch_size_
    assert clf.n_updates_per_epoch_ == math.ceil(150 / clf.batch_size_)


def test_batch_size_max_gives_the_same_model_as_the_int_it_resolves_to():
    params = dict(module=OutOfMemoryAbove, module_kwargs={"limit": 40}, max_epochs=3, random_state=0, device="cpu")
    found = TorchClassifier(batch_size="max", **params).fit(X_IRIS, Y_IRIS)
    fixed = TorchClassifier(batch_size=found.batch_size_, **params).fit(X_IRIS, Y_IRIS)
    np.testing.assert_allclose(found.predict_proba(X_IRIS), fixed.predict_proba(X_IRIS))


def test_batch_size_max_is_resolved_per_fold_in_a_search():
    clf = TorchClassifier(module=OutOfMemoryAbove, module_kwargs={"limit": 200}, max_epochs=2, device="cpu")
    result = cross_validate(clf.set_params(batch_size="max"), X_IRIS, Y_IRIS, cv=3, return_estimator=True)
    # No limit is reached below 200: each fold takes all of its 100 training samples.
    assert [est.batch_size_ for est in result["estimator"]] == [100, 100, 100]
    search = GridSearchCV(clf, {"batch_size": [16, "max"]}, cv=3).fit(X_IRIS, Y_IRIS)
    assert search.best_estimator_.batch_size_ in (16, 150)


def test_batch_size_max_with_accumulation_multiplies_the_slice():
    clf = TorchClassifier(
        module=OutOfMemoryAbove,
        module_kwargs={"limit": 40},
        batch_size="max",
        accumulation_steps=3,
        max_epochs=2,
        device="cpu",
    ).fit(X_IRIS, Y_IRIS)
    slice_size = clf.max_batch_search_.batch_size
    assert clf.batch_size_ == min(150, 3 * slice_size)


def test_partial_fit_reuses_the_size_found():
    clf = TorchClassifier(module=OutOfMemoryAbove, module_kwargs={"limit": 40}, batch_size="max", device="cpu")
    clf.partial_fit(X_IRIS, Y_IRIS, classes=np.unique(Y_IRIS))
    first = clf.max_batch_search_
    clf.partial_fit(X_IRIS, Y_IRIS)
    assert clf.max_batch_search_ is first


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_find_max_batch_size_on_a_real_gpu_fits_its_answer():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200_000, 512)).astype(np.float32)
    y = rng.integers(0, 10, size=len(X))
    clf = MLPClassifier(hidden_layer_sizes=(4096, 4096), device="cuda")
    search = find_max_batch_size(clf, X, y)
    assert 1 <= search.batch_size <= len(X)
    clf.set_params(batch_size=search.batch_size, max_epochs=1).fit(X[: search.batch_size * 2], y[: search.batch_size * 2])


def _mixed_frame(n_samples=90, seed=0):
    """Two numeric columns and a categorical one of strings, in a DataFrame; three classes."""
    import pandas as pd

    rng = np.random.RandomState(seed)
    colour = rng.choice(["red", "green", "blue"], size=n_samples)
    X = pd.DataFrame({"size": rng.normal(size=n_samples), "weight": rng.normal(size=n_samples), "colour": colour})
    y = (colour == "red") + 2 * (X["size"].to_numpy() > 0.5)
    return X, np.minimum(y, 2)


def _column_pipeline(network):
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    columns = ColumnTransformer(
        [("numbers", StandardScaler(), ["size", "weight"]), ("colour", OneHotEncoder(sparse_output=False), ["colour"])]
    )
    return make_pipeline(columns, network)


def test_a_pipeline_is_searched_on_its_last_step_with_x_transformed_first():
    X, y = _mixed_frame()
    pipe = _column_pipeline(TorchClassifier(module=OutOfMemoryAbove, module_kwargs={"limit": 40}, device="cpu"))
    # The strings of 'colour' reach the network only as one-hot columns.
    search = find_max_batch_size(pipe, X, y, rtol=0)
    assert search.batch_size == 40
    assert not hasattr(pipe[0], "transformers_"), "the pipeline passed in is left unfitted"


def test_a_pipeline_probes_the_width_its_preprocessing_makes(monkeypatch):
    X, y = _mixed_frame()
    widths = []

    class Recording(OutOfMemoryAbove):
        def __init__(self, n_features_in, n_classes, limit=40):
            widths.append(n_features_in)
            super().__init__(n_features_in, n_classes, limit)

    find_max_batch_size(_column_pipeline(TorchClassifier(module=Recording, device="cpu")), X, y)
    assert widths == [2 + 3]  # two scaled numbers, three one-hot colours


def test_an_estimator_that_is_not_a_network_is_refused_by_name():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    with pytest.raises(TypeError, match="got Pipeline. Put the network"):
        find_max_batch_size(make_pipeline(StandardScaler(), LogisticRegression()), X_IRIS, Y_IRIS)
    with pytest.raises(TypeError, match="got LogisticRegression"):
        find_max_batch_size(LogisticRegression(), X_IRIS, Y_IRIS)


def test_find_max_batch_size_takes_an_estimator_whose_device_is_a_pool(tmp_path):
    from skbatch import DevicePool

    pooled = MLPClassifier(hidden_layer_sizes=(8,), device=DevicePool(["cpu"], lock_dir=tmp_path / "slots"))
    search = find_max_batch_size(pooled, X_IRIS, Y_IRIS)
    assert search == find_max_batch_size(MLPClassifier(hidden_layer_sizes=(8,), device="cpu"), X_IRIS, Y_IRIS)
