"""scikit-learn's own callbacks (sklearn.callback) on skbatch's estimators: a task per fit, a subtask per epoch."""

import pickle
import re
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import Callback

from skbatch import FusedGridSearchCV, MLPClassifier, MLPRegressor

callback = pytest.importorskip("sklearn.callback")

X, y = make_classification(n_samples=120, n_features=6, random_state=0)
PARAMS = {"hidden_layer_sizes": (8,), "lr": 0.05, "random_state": 0}


@pytest.fixture(autouse=True)
def _quiet_and_wide(monkeypatch):
    # A few epochs do not converge; and rich cuts bar descriptions to the terminal's width.
    monkeypatch.setenv("COLUMNS", "200")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _bars(out):
    """The last drawing of each bar: rich redraws the block, so keep the final line per description."""
    bars = {}
    for line in out.splitlines():
        match = re.match(r"\s*(.+?)\s+━+\s+(\d+)%", line)
        if match:
            bars[match.group(1)] = int(match.group(2))
    return bars


def test_a_grid_search_shows_the_search_then_each_fit(capsys):
    pytest.importorskip("rich")
    search = GridSearchCV(MLPClassifier(max_epochs=3, **PARAMS), {"alpha": [1e-4, 1e-3]}, cv=2)
    search.set_callbacks(callback.ProgressBar())
    search.fit(X, y)
    bars = _bars(capsys.readouterr().out)
    fits = [f"GridSearchCV - candidate-split-evaluation | MLPClassifier - fit #{i}" for i in range(4)]
    refit = "GridSearchCV - refit-with-best-params | MLPClassifier - fit #1"
    assert set(bars) == {"GridSearchCV - fit", "GridSearchCV - search #0", *fits, refit}
    assert set(bars.values()) == {100}


def test_a_pipeline_passes_the_bar_to_its_network(capsys):
    pytest.importorskip("rich")
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_epochs=2, **PARAMS))
    pipe.set_callbacks(callback.ProgressBar()).fit(X, y)
    bars = _bars(capsys.readouterr().out)
    assert bars["Pipeline - fit-final-estimator | MLPClassifier - fit #1"] == 100


def test_a_fused_search_shows_each_fit(capsys):
    pytest.importorskip("rich")
    search = FusedGridSearchCV(MLPClassifier(max_epochs=2, **PARAMS), {"lr": [0.01, 0.1]}, cv=2)
    search.set_callbacks(callback.ProgressBar()).fit(X, y)
    bars = _bars(capsys.readouterr().out)
    for i in range(4):
        assert bars[f"FusedGridSearchCV - candidate-split-evaluation | MLPClassifier - fit #{i}"] == 100


def _accuracy_after(epochs):
    return accuracy_score(y, MLPClassifier(max_epochs=epochs, **PARAMS).fit(X, y).predict(X))


def test_scoring_monitor_scores_the_network_after_each_epoch():
    monitor = callback.ScoringMonitor(scoring="accuracy")
    MLPClassifier(max_epochs=3, **PARAMS).set_callbacks(monitor).fit(X, y)
    log = monitor.get_logs().data_as_pandas
    epochs = log[log["task_name"] == "epoch"]
    assert epochs["task_id_path"].tolist() == [(0, 0), (0, 1), (0, 2)]
    # After epoch k the network is the one a fit of k + 1 epochs ends with.
    expected = [_accuracy_after(k + 1) for k in range(3)]
    np.testing.assert_allclose(epochs["accuracy"], expected)
    assert len(set(expected)) > 1  # the scores follow training, they are not one number
    fit = log[log["task_name"] == "fit"]
    np.testing.assert_allclose(fit["accuracy"], expected[-1:])


def test_epochs_are_subtasks_of_each_fit_of_a_search():
    monitor = callback.ScoringMonitor(scoring="accuracy")
    net = MLPClassifier(max_epochs=2, **PARAMS).set_callbacks(monitor)
    GridSearchCV(net, {"alpha": [1e-4]}, cv=2).fit(X, y)
    log = monitor.get_logs(include_lineage=True).data_as_pandas
    paths = dict(zip(log["task_id_path"], zip(log["estimator_name"], log["task_name"])))
    # search fit > search > the fits of the two folds > their two epochs each; then the refit > its epochs.
    for fold in (0, 1):
        assert paths[(0, 0, fold)] == ("MLPClassifier", "fit")
        assert [paths[(0, 0, fold, e)] for e in (0, 1)] == [("MLPClassifier", "epoch")] * 2
    assert [paths[(0, 1, e)] for e in (0, 1)] == [("MLPClassifier", "epoch")] * 2


def test_partial_fit_is_one_task_of_one_epoch():
    monitor = callback.ScoringMonitor(scoring="r2")
    reg = MLPRegressor(hidden_layer_sizes=(8,), random_state=0).set_callbacks(monitor)
    target = X[:, 0] + X[:, 1]
    reg.partial_fit(X, target)
    reg.partial_fit(X, target)
    logs = monitor.get_logs(select="all")
    assert len(logs) == 2
    for log in logs:
        assert [row["task_name"] for row in log.data] == ["fit", "epoch"]
    assert logs[-1].data[1]["r2"] == pytest.approx(reg.score(X, target), rel=1e-5)


class _StopAfter:
    """A callback of scikit-learn's protocol that asks to stop after an epoch."""

    def __init__(self, epoch):
        self.epoch = epoch

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        pass

    def on_fit_task_end(self, estimator, context):
        return context.task_name == "epoch" and context.task_id == self.epoch


def test_a_callback_that_returns_true_ends_training_after_that_epoch():
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # stopped on request, not out of epochs
        net = MLPClassifier(max_epochs=10, **PARAMS).set_callbacks(_StopAfter(1)).fit(X, y)
    assert net.n_iter_ == 2


class _EpochCounter(Callback):
    def initialize(self):
        self.epochs = 0
        return self

    def on_epoch_end(self, net, **kwargs):
        self.epochs += 1


def test_skorch_callbacks_keep_working_next_to_scikit_learn_callbacks():
    monitor = callback.ScoringMonitor(scoring="accuracy")
    net = MLPClassifier(max_epochs=3, callbacks=[("count", _EpochCounter())], **PARAMS)
    net.set_callbacks(monitor).fit(X, y)
    assert dict(net.net_.callbacks_)["count"].epochs == 3
    assert sum(row["task_name"] == "epoch" for row in monitor.get_logs().data) == 3


def test_a_fitted_estimator_with_callbacks_pickles_and_keeps_them():
    monitor = callback.ScoringMonitor(scoring="accuracy")
    net = MLPClassifier(max_epochs=2, **PARAMS).set_callbacks(monitor).fit(X, y)
    restored = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(restored.predict(X), net.predict(X))
    restored.fit(X, y)  # its copy of the monitor records the new fit
    assert len(restored._skl_callbacks[0].get_logs(select="all")) == 2


def test_set_callbacks_refuses_what_is_not_a_callback():
    with pytest.raises(TypeError, match="callbacks must be instances following the FitCallback protocol"):
        MLPClassifier().set_callbacks(callback.ProgressBar)


@pytest.mark.slow
def test_fits_in_worker_processes_report_their_epochs():
    # loky workers get pickled copies of the callbacks, which send what they record back to this process.
    monitor = callback.ScoringMonitor(scoring="accuracy")
    net = MLPClassifier(max_epochs=2, **PARAMS).set_callbacks(monitor)
    GridSearchCV(net, {"alpha": [1e-4, 1e-3]}, cv=2, n_jobs=2).fit(X, y)
    tasks = [row["task_name"] for row in monitor.get_logs().data]
    assert tasks.count("fit") == 5 and tasks.count("epoch") == 10  # 4 fits and the refit, 2 epochs each
