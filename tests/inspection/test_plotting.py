"""Figures for the study and learning curves."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris

from skbatch import MLPClassifier, plot_batch_size_study, plot_learning_curves
from skbatch.inspection.study import STUDY_COLUMNS

X_IRIS, Y_IRIS = load_iris(return_X_y=True)


def _table(memory):
    sizes = [16, 64, 256]
    return pd.DataFrame(
        {
            "batch_size": sizes,
            "batch_size_used": sizes,
            "updates_per_epoch": [10, 3, 1],
            "epochs": [5, 5, 5],
            "seconds_per_epoch": [0.3, 0.1, 0.05],
            "samples_per_second": [500.0, 1500.0, 3000.0],
            "peak_memory_mib": memory,
            "train_score": [0.99, 0.97, 0.9],
            "cv_score": [0.95, 0.94, 0.85],
            "cv_score_std": [0.01, 0.01, 0.02],
            "generalization_gap": [0.04, 0.03, 0.05],
            "lr": [1e-3, 2e-3, 4e-3],
        },
        columns=STUDY_COLUMNS,
    )


def _tick_labels(ax):
    return [t.get_text() for t in ax.get_xticklabels()]


def _saved(fig, tmp_path, name):
    """Draw the figure for real (tick labels exist only once drawn) and keep it as a PNG."""
    path = tmp_path / f"{name}.png"
    fig.savefig(path, dpi=60)
    assert path.stat().st_size > 0
    return fig


@pytest.mark.parametrize("memory", [[10.0, 20.0, 60.0], [np.nan] * 3])
def test_study_figure_has_speed_memory_and_score_panels(memory, tmp_path):
    table = _table(memory)
    table.attrs["scoring"] = "balanced_accuracy"
    fig = _saved(plot_batch_size_study(table, title="iris"), tmp_path, "study")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["speed", "memory", "generalization"]  # one y-axis per panel
    speed_ax, memory_ax, score_ax = fig.axes
    for ax in fig.axes:
        assert ax.get_xlabel() == "batch size" and ax.get_ylabel()
        # The sizes studied, in plain numbers, and no minor labels to overlap them.
        assert _tick_labels(ax) == ["16", "64", "256"]
        assert not any(t.get_text() for t in ax.get_xticklabels(minor=True))
    assert speed_ax.get_legend() is not None and score_ax.get_legend() is not None
    assert score_ax.get_ylabel() == "balanced_accuracy"
    if memory[0] == memory[0]:
        assert len(memory_ax.lines) == 1 and memory_ax.get_legend() is not None
    else:
        assert not memory_ax.lines
        assert "no device memory count on the CPU" in " ".join(t.get_text() for t in memory_ax.texts)
    np.testing.assert_allclose(score_ax.lines[1].get_ydata(), [0.95, 0.94, 0.85])
    assert fig.axes[0].get_xscale() == "log"
    plt.close(fig)


def test_study_figure_labels_named_batch_sizes(tmp_path):
    table = _table([np.nan] * 3)
    table["batch_size"] = [16, 64, "max"]
    table["batch_size_used"] = [16, 64, 150]
    fig = _saved(plot_batch_size_study(table), tmp_path, "study_max")
    for ax in (fig.axes[0], fig.axes[2]):
        assert "'max' = 150" in [t.get_text() for t in ax.texts]
    assert _tick_labels(fig.axes[0]) == ["16", "64", "150"]
    plt.close(fig)


def test_study_figure_rejects_another_table():
    with pytest.raises(ValueError, match="study lacks the columns \\['batch_size_used'"):
        plot_batch_size_study(pd.DataFrame({"batch_size": [1]}))


def test_learning_curves_plot_each_history():
    params = dict(hidden_layer_sizes=(8,), max_epochs=4, n_iter_no_change=10, device="cpu", random_state=0)
    curves = {
        "plain": MLPClassifier(batch_size=16, **params).fit(X_IRIS, Y_IRIS),
        "held out": MLPClassifier(batch_size=64, early_stopping=True, validation_fraction=0.2, **params).fit(X_IRIS, Y_IRIS),
    }
    fig = plot_learning_curves(curves)
    loss_ax, score_ax = fig.axes
    # plain: train loss; held out: train and valid loss.
    assert len(loss_ax.lines) == 3
    np.testing.assert_allclose(loss_ax.lines[0].get_ydata(), curves["plain"].loss_curve_)
    assert len(score_ax.lines) == 1
    np.testing.assert_allclose(score_ax.lines[0].get_ydata(), curves["held out"].validation_scores_)
    plt.close(fig)


def test_learning_curves_reject_empty_and_unfitted():
    with pytest.raises(ValueError, match="estimators is empty"):
        plot_learning_curves({})
    with pytest.raises(ValueError, match="\\['raw'\\] are not fitted"):
        plot_learning_curves({"raw": MLPClassifier()})


def test_learning_curves_of_a_study(tmp_path):
    from skbatch import batch_size_study

    net = MLPClassifier(hidden_layer_sizes=(4,), max_epochs=3, device="cpu", random_state=0)
    study = batch_size_study(net, X_IRIS, Y_IRIS, batch_sizes=[16, "max"], cv=2)
    assert study.attrs["scoring"] == "accuracy"
    fig = _saved(plot_learning_curves(study), tmp_path, "curves")
    loss_ax, score_ax = fig.axes
    assert [line.get_label() for line in loss_ax.lines] == ["batch 16 train", "batch 'max' (150) train"]
    assert all(len(line.get_xdata()) == 3 for line in loss_ax.lines)
    assert loss_ax.get_legend() is not None and loss_ax.get_xlabel() == "epoch" and loss_ax.get_ylabel() == "loss"
    # Plain numbers on the log axis, not 10^0 or 6e-01.
    labels = [t.get_text() for t in loss_ax.get_yticklabels() + loss_ax.get_yticklabels(minor=True) if t.get_text()]
    assert labels and not any("10^" in t or "e-" in t for t in labels), labels
    plt.close(fig)
    # The figure of the same study draws the metric's name.
    fig = plot_batch_size_study(study)
    assert fig.axes[2].get_ylabel() == "accuracy"
    plt.close(fig)


def test_learning_curves_refuse_a_table_without_curves():
    with pytest.raises(ValueError, match="holds no learning curves.*batch_size_study"):
        plot_learning_curves(_table([np.nan] * 3))


def test_study_figure_marks_the_recommended_batch_size_with_its_cv_score():
    table = _table([np.nan] * 3)
    table["noise_scale"] = [100.0, 100.0, 100.0]
    table["statistical_efficiency"] = [1.0, 116 / 164, 116 / 356]
    table["goodput"] = table["samples_per_second"] * table["statistical_efficiency"]
    table["recommended"] = [False, True, False]
    fig = plot_batch_size_study(table)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("recommended: 64" in t and "CV score 0.940" in t for t in texts)
    # A vertical line at 64 on each of the three panels.
    marks = [line for ax in fig.axes for line in ax.lines if list(line.get_xdata()) == [64, 64]]
    assert len(marks) == 3
    plt.close(fig)
