"""search_report and plot_search on the three search classes, with and without a Pipeline and records."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from sklearn.datasets import load_diabetes, load_iris
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    RandomizedSearchCV,
    StratifiedKFold,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbatch import MLPClassifier, MLPRegressor, plot_search, search_report
from skbatch.demo import results_table

X_IRIS, Y_IRIS = load_iris(return_X_y=True)


def net(**params):
    defaults = dict(hidden_layer_sizes=(8,), max_epochs=3, device="cpu", random_state=0)
    return MLPClassifier(**{**defaults, **params})


@pytest.fixture(scope="module")
def grid_search(tmp_path_factory):
    cache = tmp_path_factory.mktemp("grid")
    grid = {"lr": [1e-3, 1e-1], "hidden_layer_sizes": [(8,), (16, 8)]}
    return GridSearchCV(net(cache_dir=cache), grid, cv=2).fit(X_IRIS, Y_IRIS)


def test_one_row_per_candidate_best_first_with_devices(grid_search):
    report = search_report(grid_search, X_IRIS, Y_IRIS)
    assert len(report) == 4
    assert list(report["rank_test_score"]) == sorted(grid_search.cv_results_["rank_test_score"])
    best = report.iloc[0]
    assert {"lr": best["lr"], "hidden_layer_sizes": best["hidden_layer_sizes"]} == grid_search.best_params_
    assert best["mean_test_score"] == grid_search.best_score_
    for k in range(2):
        assert (report[f"split{k}_device"] == "cpu").all()
        assert (report[f"split{k}_fit_time"] > 0).all()
        assert f"split{k}_test_score" in report
    assert (report["devices"] == "cpu").all()
    assert (report["n_failed_fits"] == 0).all() and (report["errors"] == "").all()
    assert {"mean_fit_time", "std_fit_time", "std_test_score"} <= set(report.columns)


def test_without_data_the_report_is_what_cv_results_hold(grid_search):
    report = search_report(grid_search)
    assert len(report) == 4
    assert not [c for c in report.columns if "device" in c]
    np.testing.assert_array_equal(np.sort(report["mean_test_score"]), np.sort(grid_search.cv_results_["mean_test_score"]))


def test_pipeline_params_lose_their_prefix_and_splits_still_match(tmp_path):
    pipeline = make_pipeline(StandardScaler(), net(cache_dir=tmp_path))
    search = RandomizedSearchCV(
        pipeline,
        {"mlpclassifier__lr": [1e-3, 1e-2, 1e-1], "mlpclassifier__batch_size": [32, 64]},
        n_iter=2,
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
        random_state=0,
    ).fit(X_IRIS, Y_IRIS)
    report = search_report(search, X_IRIS, Y_IRIS)
    assert {"lr", "batch_size"} <= set(report.columns)
    assert report[[f"split{k}_device" for k in range(3)]].notna().all().all()


def test_regressor_search_gets_per_split_devices_and_fit_times(tmp_path):
    # The report once looked for classifiers only, so a regressor search lost these columns.
    X, y = load_diabetes(return_X_y=True)
    X, y = X[:120], y[:120]

    def regressor(cache):
        return MLPRegressor(hidden_layer_sizes=(8,), max_epochs=2, device="cpu", random_state=0, cache_dir=cache)

    for estimator, grid in [
        (regressor(tmp_path / "plain"), {"lr": [1e-3, 1e-2]}),
        (make_pipeline(StandardScaler(), regressor(tmp_path / "pipeline")), {"mlpregressor__lr": [1e-3, 1e-2]}),
    ]:
        search = GridSearchCV(estimator, grid, cv=KFold(2)).fit(X, y)
        report = search_report(search, X, y)
        for k in range(2):
            assert (report[f"split{k}_device"] == "cpu").all()
            assert (report[f"split{k}_fit_time"] > 0).all()
        assert (report["devices"] == "cpu").all()


@pytest.mark.filterwarnings("ignore:One or more of the test scores are non-finite")
def test_without_records_failures_show_as_nan_scores():
    search = GridSearchCV(net(solver="sgd", max_epochs=10), {"lr": [1e-3, 1e6]}, cv=KFold(2))
    with pytest.warns(FitFailedWarning):
        search.fit(X_IRIS * 100, Y_IRIS)
    report = search_report(search, X_IRIS * 100, Y_IRIS).set_index("lr")
    assert report.loc[1e6, "n_failed_fits"] == 2
    assert "give the estimator a cache_dir to keep one" in report.loc[1e6, "errors"]


def test_bayes_search_report_and_plot(tmp_path):
    skopt = pytest.importorskip("skopt")
    from skopt.space import Categorical, Real

    search = skopt.BayesSearchCV(
        net(cache_dir=tmp_path),
        {"lr": Real(1e-4, 1e-1, prior="log-uniform"), "hidden_layer_sizes": Categorical(["8", "16-8"])},
        n_iter=4,
        cv=KFold(2),
        random_state=0,
    ).fit(X_IRIS, Y_IRIS)
    report = search_report(search, X_IRIS, Y_IRIS)
    assert len(report) == 4
    assert report[["split0_device", "split1_device"]].notna().all().all()
    axes = {axis.get_xlabel(): axis for axis in plot_search(search).axes}
    ticks = {tick.get_text() for tick in axes["hidden_layer_sizes"].get_xticklabels()}
    assert ticks <= {"8", "16-8"} and ticks
    lrs = np.asarray(search.cv_results_["param_lr"], dtype=float)
    assert axes["lr"].get_xscale() == ("log" if lrs.max() / lrs.min() >= 10 else "linear")


def test_plot_uses_log_axis_for_decades_and_categories_for_the_rest(grid_search):
    figure = plot_search(grid_search)
    assert isinstance(figure, Figure)
    axes = {axis.get_xlabel(): axis for axis in figure.axes}
    assert axes["lr"].get_xscale() == "log"
    labels = [tick.get_text() for tick in axes["hidden_layer_sizes"].get_xticklabels()]
    assert labels == ["(8,)", "(16, 8)"]


def test_plot_one_param_on_given_axes(grid_search):
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots()
    assert plot_search(grid_search, ["lr"], ax=axis) is figure
    plt.close(figure)


def test_plot_errors_name_the_fix(grid_search):
    with pytest.raises(ValueError, match=r"names \['alpha'\], which the search did not vary"):
        plot_search(grid_search, ["alpha"])
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots()
    with pytest.raises(ValueError, match="ax holds 1 Axes for 2 params"):
        plot_search(grid_search, ax=axis)
    plt.close(figure)


def test_report_needs_a_fitted_search():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="not fitted yet"):
        search_report(GridSearchCV(net(), {"lr": [1e-3]}))


def test_demo_results_table_still_works(grid_search):
    table = results_table(grid_search, top=2)
    assert list(table.columns) == [
        "hidden_layer_sizes",
        "lr",
        "mean_test_score",
        "std_test_score",
        "rank_test_score",
        "mean_fit_time",
    ]
    assert len(table) == 2 and table["rank_test_score"].iloc[0] == 1
    assert isinstance(table, pd.DataFrame)


@pytest.mark.filterwarnings("ignore:Scoring failed", "ignore:One or more of the test scores are non-finite")
def test_a_failed_scoring_is_not_reported_as_a_failed_fit(tmp_path):
    # roc_auc needs two classes: every fit trains, every score is NaN.
    search = GridSearchCV(net(cache_dir=tmp_path), {"lr": [1e-3]}, cv=KFold(2, shuffle=True, random_state=0), scoring="roc_auc").fit(
        X_IRIS, Y_IRIS
    )
    report = search_report(search, X_IRIS, Y_IRIS)
    assert report.loc[0, "n_failed_fits"] == 0
    assert report.loc[0, "n_failed_scores"] == 2
    assert report.loc[0, "errors"] == (
        "split 0: scoring failed (the fit trained; its score is NaN); split 1: scoring failed (the fit trained; its score is NaN)"
    )
    assert (report[["split0_fit_time", "split1_fit_time"]] > 0).all().all()


def test_a_fused_fits_time_is_its_share_of_the_stack(tmp_path):
    from skbatch import FusedGridSearchCV

    grid = {"lr": [1e-3, 1e-2], "alpha": [1e-4, 1e-3]}
    search = FusedGridSearchCV(net(cache_dir=tmp_path, max_epochs=20), grid, cv=StratifiedKFold(2)).fit(X_IRIS, Y_IRIS)
    report = search_report(search, X_IRIS, Y_IRIS)
    # One stack of 4 candidates x 2 folds; each fit's record holds a share of it.
    assert search.fused_stacks_["n_models"].tolist() == [8]
    share = search.fused_stacks_["seconds"].iloc[0] / 8
    np.testing.assert_allclose(report["split0_fit_time"], share)
    np.testing.assert_allclose(report["mean_training_time"], share)
    # cv_results_ adds it to the restore time that each fit's own call took
    # (milliseconds, but unbounded on a loaded machine: no upper bound here).
    assert (report["mean_fit_time"] >= share).all()


def test_a_rerun_over_cached_fits_says_they_came_from_the_cache(tmp_path, capsys):
    from skbatch import FusedGridSearchCV

    grid = {"lr": [1e-3, 1e-2]}
    FusedGridSearchCV(net(cache_dir=tmp_path), grid, cv=StratifiedKFold(2), verbose=1).fit(X_IRIS, Y_IRIS)
    assert "4 of 4 fits trained fused, in 1 stack(s)" in capsys.readouterr().out
    FusedGridSearchCV(net(cache_dir=tmp_path), grid, cv=StratifiedKFold(2), verbose=1).fit(X_IRIS, Y_IRIS)
    out = capsys.readouterr().out
    assert "4 of 4 fits restored from the cache, none trained" in out
    assert "0 of 4 fits trained fused" not in out


def _drawn_labels(figure, tmp_path):
    """Tick labels as drawn (they exist only once the figure is drawn), the figure kept as a PNG."""
    figure.savefig(tmp_path / "search.png", dpi=60)
    return {axis.get_xlabel(): [t.get_text() for t in axis.get_xticklabels() + axis.get_xticklabels(minor=True)] for axis in figure.axes}


def test_plot_names_the_metric_and_keeps_the_order_of_the_grid(tmp_path):
    search = RandomizedSearchCV(
        net(),
        {"hidden_layer_sizes": ["16-8", "8", "4"], "lr": [1e-3, 1e-2]},
        n_iter=5,
        cv=2,
        scoring="balanced_accuracy",
        random_state=1,
    ).fit(X_IRIS, Y_IRIS)
    first_seen = list(dict.fromkeys(p["hidden_layer_sizes"] for p in search.cv_results_["params"]))
    assert first_seen != ["16-8", "8", "4"], "the draws should not happen to follow the grid"
    figure = plot_search(search)
    labels = _drawn_labels(figure, tmp_path)
    assert [t for t in labels["hidden_layer_sizes"] if t] == ["16-8", "8", "4"]
    assert [t for t in labels["lr"] if t] == ["0.001", "0.01"]
    assert figure.axes[0].get_ylabel() == "mean test balanced_accuracy"
    assert all(axis.get_legend() is not None for axis in figure.axes if "best" in [line.get_label() for line in axis.lines])


def test_bayes_plot_has_plain_log_ticks_and_the_space_order(tmp_path):
    skopt = pytest.importorskip("skopt")
    from skopt.space import Categorical, Real

    space = {"lr": Real(1e-4, 1e-1, prior="log-uniform"), "hidden_layer_sizes": Categorical(["16-8", "4", "8"])}
    search = skopt.BayesSearchCV(net(max_epochs=1), space, n_iter=8, cv=KFold(2), random_state=0).fit(X_IRIS, Y_IRIS)
    figure = plot_search(search)
    labels = _drawn_labels(figure, tmp_path)
    drawn = [p["hidden_layer_sizes"] for p in search.cv_results_["params"]]
    assert [t for t in labels["hidden_layer_sizes"] if t] == [c for c in ["16-8", "4", "8"] if c in drawn]
    lr_labels = [t for t in labels["lr"] if t]
    # No 10^-3 mathtext, no labelled minor ticks: a few plain numbers that do not overlap.
    assert lr_labels and all("$" not in t and "10^" not in t for t in lr_labels)
    lr_axis = next(a for a in figure.axes if a.get_xlabel() == "lr")
    if lr_axis.get_xscale() == "log":
        boxes = [t.get_window_extent() for t in lr_axis.get_xticklabels() if t.get_text() and t.get_visible()]
        boxes = sorted(boxes, key=lambda b: b.x0)
        assert all(a.x1 <= b.x0 for a, b in zip(boxes, boxes[1:])), "tick labels overlap"
    assert figure.axes[0].get_ylabel() == "mean test accuracy"
