"""The batch-size trade-off table."""

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris

from simulated_oom import OutOfMemoryAbove, released  # noqa: F401 (fixture)
from skbatch import MLPClassifier, TorchClassifier, batch_size_study
from skbatch._compat import InvalidParameterError
from skbatch.inspection.study import STUDY_COLUMNS

# Simulated failures hold no memory; skip the garbage collection after each.
pytestmark = pytest.mark.usefixtures("released")

X_IRIS, Y_IRIS = load_iris(return_X_y=True)


@pytest.fixture(scope="module")
def study():
    clf = MLPClassifier(
        hidden_layer_sizes=(8,),
        max_epochs=3,
        n_iter_no_change=10,
        lr=1e-2,
        lr_scaling="linear",
        base_batch_size=32,
        random_state=0,
        device="cpu",
    )
    return batch_size_study(clf, X_IRIS, Y_IRIS, batch_sizes=[16, 64, "full"], cv=3)


def test_one_row_per_batch_size_with_every_column(study):
    assert list(study.columns) == STUDY_COLUMNS
    assert study["batch_size"].tolist() == [16, 64, "full"]
    assert study["batch_size_used"].tolist() == [16, 64, 150]


def test_counts_and_rates_follow_the_batch_size(study):
    assert study["updates_per_epoch"].tolist() == [math.ceil(150 / 16), math.ceil(150 / 64), 1]
    assert study["epochs"].tolist() == [3, 3, 3]
    np.testing.assert_allclose(study["lr"], [1e-2 * 16 / 32, 1e-2 * 64 / 32, 1e-2 * 150 / 32])
    # Samples per second is what an epoch of 150 samples takes.
    np.testing.assert_allclose(study["samples_per_second"] * study["seconds_per_epoch"], 150)
    assert (study["seconds_per_epoch"] > 0).all()


def test_scores_and_gap(study):
    assert study["train_score"].between(0, 1).all()
    assert study["cv_score"].between(0, 1).all()
    np.testing.assert_allclose(study["generalization_gap"], study["train_score"] - study["cv_score"])
    assert (study["cv_score_std"] >= 0).all()


def test_peak_memory_is_missing_on_the_cpu(study):
    assert study["peak_memory_mib"].isna().all()


def test_the_estimator_is_left_unfitted_and_unchanged():
    clf = MLPClassifier(hidden_layer_sizes=(4,), batch_size=8, max_epochs=1, device="cpu")
    batch_size_study(clf, X_IRIS, Y_IRIS, batch_sizes=[32], cv=2)
    assert clf.batch_size == 8
    assert not hasattr(clf, "net_")


def test_max_is_resolved_by_the_search():
    clf = TorchClassifier(module=OutOfMemoryAbove, module_kwargs={"limit": 40}, max_epochs=1, device="cpu")
    table = batch_size_study(clf, X_IRIS, Y_IRIS, batch_sizes=["max"], cv=2, scoring="accuracy")
    assert 38 <= table.loc[0, "batch_size_used"] <= 40


@pytest.mark.parametrize("batch_sizes", [[], 16, "max"])
def test_batch_sizes_must_be_a_non_empty_list(batch_sizes):
    with pytest.raises(ValueError, match="'batch_sizes' parameter of batch_size_study must be a non-empty list"):
        batch_size_study(MLPClassifier(device="cpu"), X_IRIS, Y_IRIS, batch_sizes=batch_sizes)


@pytest.mark.parametrize("batch_sizes, position, value", [([0], 0, 0), ([16, -5], 1, -5), ([16, "huge"], 1, "huge")])
def test_each_batch_size_is_checked_by_the_estimators_own_constraint(batch_sizes, position, value):
    clf = MLPClassifier(device="cpu")
    # The message fit itself gives for that batch size, word for word.
    with pytest.raises(InvalidParameterError) as by_fit:
        clone(clf).set_params(batch_size=value).fit(X_IRIS, Y_IRIS)
    with pytest.raises(InvalidParameterError) as by_study:
        batch_size_study(clf, X_IRIS, Y_IRIS, batch_sizes=batch_sizes)
    assert str(by_study.value) == (f"batch_sizes[{position}] of batch_size_study is not a batch size MLPClassifier accepts. {by_fit.value}")
    assert str(by_fit.value).startswith("The 'batch_size' parameter of MLPClassifier must be")


def test_a_pipeline_with_a_column_transformer_is_studied_through_its_network_step():
    # Preprocessing fitted inside each fold: a DataFrame of numbers and strings
    # goes in whole, and the study reads the network step of each fitted pipeline.
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.RandomState(0)
    colour = rng.choice(["red", "green", "blue"], size=90)
    X = pd.DataFrame({"size": rng.normal(size=90), "weight": rng.normal(size=90), "colour": colour})
    y = (colour == "red").astype(int)
    columns = ColumnTransformer([("numbers", StandardScaler(), ["size", "weight"]), ("colour", OneHotEncoder(), ["colour"])])
    pipe = make_pipeline(columns, MLPClassifier(hidden_layer_sizes=(4,), max_epochs=2, random_state=0, device="cpu"))
    study = batch_size_study(pipe, X, y, batch_sizes=[8, "full"], cv=2)
    assert study["batch_size_used"].tolist() == [8, 90]
    assert study["updates_per_epoch"].tolist() == [math.ceil(90 / 8), 1]
    assert study["epochs"].tolist() == [2, 2]
    np.testing.assert_allclose(study["samples_per_second"] * study["seconds_per_epoch"], 90)
    assert study["cv_score"].between(0, 1).all()
    assert pipe.get_params()["mlpclassifier__batch_size"] == "auto", "the pipeline is left as it was"


def test_batch_sizes_are_checked_against_the_network_step_of_a_pipeline():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(StandardScaler(), MLPClassifier(device="cpu"))
    with pytest.raises(InvalidParameterError, match=r"batch_sizes\[1\] of batch_size_study is not a batch size MLPClassifier"):
        batch_size_study(pipe, X_IRIS, Y_IRIS, batch_sizes=[16, 0])


def test_an_estimator_without_a_network_is_refused_by_name():
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(TypeError, match="needs an skbatch estimator, or a Pipeline whose last step is one; got LogisticRegression"):
        batch_size_study(LogisticRegression(), X_IRIS, Y_IRIS, batch_sizes=[16])


def test_the_noise_scale_columns_and_the_recommendation(study):
    assert (study["noise_scale"] > 0).all()
    used = study["batch_size_used"].to_numpy(dtype=float)
    noise = study["noise_scale"].to_numpy()
    # Pollux's efficiency relative to the smallest batch studied, 16.
    np.testing.assert_allclose(study["statistical_efficiency"], (noise + 16) / (noise + used))
    assert study.loc[0, "statistical_efficiency"] == pytest.approx(1.0)
    np.testing.assert_allclose(study["goodput"], study["samples_per_second"] * study["statistical_efficiency"])
    assert study["recommended"].sum() == 1
    assert study.loc[study["recommended"], "goodput"].item() == study["goodput"].max()


def test_the_recommendation_on_a_hand_checkable_table():
    from skbatch.inspection.study import _recommend

    table = pd.DataFrame({"batch_size_used": [10, 100, 1000], "samples_per_second": [1000.0, 5000.0, 20000.0]})
    # B_noise = 90: efficiencies 1, (90 + 10) / (90 + 100) = 0.526, 100 / 1090 = 0.0917;
    # goodputs 1000, 2632, 1835: the middle one wins although the last is fastest.
    study = _recommend(table, [90.0, 90.0, 90.0])
    np.testing.assert_allclose(study["goodput"], [1000.0, 5000 * 100 / 190, 20000 * 100 / 1090])
    assert study["recommended"].tolist() == [False, True, False]
    # Nothing measured, nothing recommended.
    assert not _recommend(table.copy(), [np.nan] * 3)["recommended"].any()
