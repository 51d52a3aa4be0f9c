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


@pytest.mark.parametrize("memory", [[10.0, 20.0, 60.0], [np.nan] * 3])
def test_study_figure_has_speed_memory_and_score_panels(memory):
    fig = plot_batch_size_study(_table(memory), title="iris")
    titles = [ax.get_title() for ax in fig.axes]
    assert {"speed", "memory", "generalization"} <= set(titles)
    memory_ax = fig.axes[titles.index("memory")]
    assert len(memory_ax.lines) == (1 if memory[0] == memory[0] else 0)
    score_ax = fig.axes[titles.index("generalization")]
    np.testing.assert_allclose(score_ax.lines[1].get_ydata(), [0.95, 0.94, 0.85])
    assert fig.axes[0].get_xscale() == "log"
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
