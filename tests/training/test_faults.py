"""Failed fits: NaN loss and out of memory raise errors that say why, and searches score them and go on."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.utils._param_validation import InvalidParameterError

from _seams import BrokenNet, MemoryHungryNet
from skbatch import (
    DeviceOutOfMemoryError,
    MLPClassifier,
    NonFiniteLossError,
    TorchClassifier,
    load_fit_records,
    search_report,
)
from skbatch.devices.memory import is_out_of_memory
from skbatch.training import faults

X_IRIS, Y_IRIS = load_iris(return_X_y=True)


@pytest.fixture
def raw_digits():
    X, y = load_digits(return_X_y=True)
    return X[:600], y[:600]


def hungry(batch_size, tag, **kwargs):
    return TorchClassifier(
        module=MemoryHungryNet,
        module_kwargs={"max_batch": 32, "tag": tag},
        batch_size=batch_size,
        max_epochs=2,
        device="cpu",
        random_state=0,
        **kwargs,
    )


def test_diverging_loss_stops_with_lr_and_batch_size(raw_digits):
    X, y = raw_digits
    net = MLPClassifier(solver="sgd", lr=1e4, batch_size=100, max_epochs=20, device="cpu", random_state=0)
    with pytest.raises(NonFiniteLossError, match=r"became (nan|inf) at epoch \d+ \(lr=10000.0, batch_size=100\).*Lower lr") as info:
        net.fit(X, y)
    # It stopped at the first bad epoch instead of running all 20.
    epoch = int(str(info.value).split("epoch ")[1].split(" ")[0])
    assert len(net.net_.history) == epoch < 20
    # (Rows, not a column: skorch raises on the column of no rows, when epoch 1 diverged.)
    assert all(np.isfinite(row["train_loss"]) for row in net.net_.history[: epoch - 1])


@pytest.mark.filterwarnings("ignore:One or more of the test scores are non-finite")
def test_search_scores_diverged_fit_with_error_score_and_goes_on(tmp_path):
    X, y = X_IRIS * 100, Y_IRIS
    net = MLPClassifier(solver="sgd", hidden_layer_sizes=(16,), max_epochs=10, device="cpu", random_state=0, cache_dir=tmp_path)
    search = GridSearchCV(net, {"lr": [1e-3, 1e6]}, cv=KFold(2), error_score=np.nan)
    with pytest.warns(FitFailedWarning, match="NonFiniteLossError"):
        search.fit(X, y)
    assert search.best_params_ == {"lr": 1e-3}
    report = search_report(search, X, y)
    failed = report.set_index("lr").loc[1e6]
    assert failed["n_failed_fits"] == 2
    assert "NonFiniteLossError" in failed["errors"] and "lr=1000000.0" in failed["errors"]
    assert report.set_index("lr").loc[1e-3, "errors"] == ""


def test_out_of_memory_names_batch_size_and_suggests_half_when_nothing_fitted():
    with pytest.raises(DeviceOutOfMemoryError, match=r"batch_size=64\. No smaller batch size .* try batch_size=32") as info:
        hungry(64, tag="half").fit(X_IRIS, Y_IRIS)
    error = info.value
    assert isinstance(error, torch.OutOfMemoryError) and is_out_of_memory(error)
    assert isinstance(error.__cause__, torch.OutOfMemoryError)
    assert "Tried to allocate 2.00 GiB" in str(error)


def test_out_of_memory_suggests_largest_batch_size_that_fitted():
    hungry(8, tag="largest").fit(X_IRIS, Y_IRIS)
    fitted = hungry(32, tag="largest").fit(X_IRIS, Y_IRIS)
    with pytest.raises(DeviceOutOfMemoryError, match="largest batch size that trained with these settings was 32"):
        hungry(128, tag="largest").fit(X_IRIS, Y_IRIS)
    # Only sizes below the failing one are advice.
    assert faults.largest_fitted_batch_size(fitted, below=16) == 8
    assert faults.largest_fitted_batch_size(fitted, below=8) is None


def test_out_of_memory_advice_comes_from_records_of_other_processes(tmp_path, monkeypatch):
    hungry(16, tag="records", cache_dir=tmp_path).fit(X_IRIS, Y_IRIS)
    # A fresh worker process knows nothing of the fits other processes ran.
    monkeypatch.setattr(faults, "_fitted_sizes", {})
    with pytest.raises(DeviceOutOfMemoryError, match="was 16: set batch_size=16"):
        hungry(64, tag="records", cache_dir=tmp_path).fit(X_IRIS, Y_IRIS)


def test_search_over_batch_size_scores_out_of_memory_and_reports_why(tmp_path):
    search = GridSearchCV(
        hungry(16, tag="search", cache_dir=tmp_path),
        {"batch_size": [16, 64]},
        cv=KFold(3, shuffle=True, random_state=0),
        error_score=0.0,
    )
    with pytest.warns(FitFailedWarning, match="DeviceOutOfMemoryError"):
        search.fit(X_IRIS, Y_IRIS)
    assert search.best_params_ == {"batch_size": 16}
    assert list(search.cv_results_["split0_test_score"])[1] == 0.0
    report = search_report(search, X_IRIS, Y_IRIS).set_index("batch_size")
    # error_score=0.0 hides the failure from cv_results_; the records do not.
    assert report.loc[64, "n_failed_fits"] == 3
    assert "ran out of memory on cpu while training with batch_size=64" in report.loc[64, "errors"]
    assert "was 16" in report.loc[64, "errors"]
    assert report.loc[16, "n_failed_fits"] == 0


def test_error_score_raise_lets_the_explained_error_through():
    search = GridSearchCV(hungry(16, tag="raise"), {"batch_size": [64]}, cv=2, error_score="raise")
    with pytest.raises(DeviceOutOfMemoryError, match="batch_size=64"):
        search.fit(X_IRIS, Y_IRIS)


def test_other_errors_pass_through_unchanged(tmp_path):
    net = TorchClassifier(module=BrokenNet, max_epochs=1, device="cpu", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="BrokenNet cannot run forward"):
        net.fit(X_IRIS, Y_IRIS)
    [record] = load_fit_records(tmp_path).to_dict("records")
    assert record["status"] == "failed"
    assert record["error"] == "ValueError: BrokenNet cannot run forward"


def test_cache_dir_must_be_a_path():
    with pytest.raises(InvalidParameterError, match="'cache_dir' parameter of MLPClassifier must be"):
        MLPClassifier(cache_dir=3, device="cpu").fit(X_IRIS, Y_IRIS)
