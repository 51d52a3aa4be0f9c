"""The ``skbatch search`` command's task: how ``--task auto`` chooses, and regression end to end."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.multiclass import type_of_target

import skbatch
from cli_run import run_main
from skbatch import MLPRegressor, cli
from skbatch.cli_task import MAX_CLASSES, choose_task, too_many_classes

FAST = ["--cv", "2", "--max-epochs", "2", "--no-progress"]


def diamonds_like(n_rows, seed=0):
    """A table shaped like ggplot2's diamonds: a price in whole dollars, a few categorical columns."""
    rng = np.random.RandomState(seed)
    carat = rng.gamma(2.0, 0.4, n_rows).round(2)
    cut = rng.choice(["Fair", "Good", "Very Good", "Premium", "Ideal"], n_rows)
    color = rng.choice(list("DEFGHIJ"), n_rows)
    clarity = rng.choice(["I1", "SI2", "SI1", "VS2", "VS1", "VVS2", "VVS1", "IF"], n_rows)
    depth = rng.normal(61.7, 1.4, n_rows).round(1)
    price = 3000 * carat**1.5 + 400 * (cut == "Ideal") + 200 * (color < "G") + rng.normal(0, 200, n_rows)
    return pd.DataFrame(
        {"carat": carat, "cut": cut, "color": color, "clarity": clarity, "depth": depth, "price": price.clip(300).round().astype(int)}
    )


@pytest.fixture(scope="module")
def diamonds():
    return diamonds_like(300)


@pytest.fixture
def diamonds_csv(diamonds, tmp_path):
    path = tmp_path / "diamonds.csv"
    diamonds.to_csv(path, index=False)
    return path


def cli_pipeline(X, scaled, **params):
    """The pipeline the command should search, built here from scikit-learn's own parts."""
    network = MLPRegressor(random_state=0, device="cpu", max_epochs=2, **params)
    if scaled:
        network = TransformedTargetRegressor(regressor=network, transformer=StandardScaler())
    return make_pipeline(cli.make_preprocessing(X), network)


# --- --task auto -------------------------------------------------------------


def _series(values):
    return pd.Series(values, name="y")


@pytest.mark.parametrize(
    "values, kind",
    [
        (np.linspace(0, 1, 50), "regression"),  # fractional numbers
        (np.arange(60) % 2, "classification"),  # binary, whatever the row count
        (np.arange(1000) % 50, "classification"),  # 50 classes of 20 rows each
        (np.arange(1000) % (MAX_CLASSES + 1), "regression"),  # over the class limit
        (np.arange(100) % 30, "regression"),  # over 20, and over a fifth of the rows
        (np.arange(100) % 20, "classification"),  # a fifth of the rows, but 20 at most
        (np.array(["a", "b", "c"] * 10), "classification"),
        (np.arange(30) % 3 == 0, "classification"),  # booleans
        (np.arange(40) % 4 * 1.0, "classification"),  # floats holding whole numbers are labels
    ],
)
def test_auto_chooses_by_type_of_target_and_the_class_limit(values, kind):
    y = _series(values)
    task = choose_task(y, "auto", "y")
    assert task.kind == kind
    # The documented rule, computed here from scikit-learn's type_of_target.
    sklearn_kind = type_of_target(y.to_numpy())
    expected = sklearn_kind == "continuous" or (sklearn_kind == "multiclass" and too_many_classes(y.nunique(), len(y)))
    assert (kind == "regression") == expected


def test_auto_takes_thousands_of_integers_as_a_regression(tmp_path, capsys):
    rng = np.random.RandomState(0)
    table = pd.DataFrame({"x0": rng.normal(size=3000), "x1": rng.normal(size=3000)})
    table["y"] = (1000 * table.x0 + 10 * rng.normal(size=3000)).round().astype(int)
    assert type_of_target(table["y"]) == "multiclass" and table["y"].nunique() > 1000
    table.to_csv(tmp_path / "ints.csv", index=False)
    status, out, err = run_main(
        [
            "search",
            tmp_path / "ints.csv",
            "--target",
            "y",
            "--search",
            "grid",
            "--param",
            "lr=1e-2,1e-1",
            "--output-dir",
            tmp_path / "out",
            *FAST,
        ],
        capsys,
    )
    assert status == 0, err
    first = err.splitlines()[0]
    n = table["y"].nunique()
    assert first == (
        f"skbatch: regression with MLPRegressor: 'y' holds {n} distinct whole numbers, too many to be classes "
        "(more than 100 distinct values, or more than 20 that are over a fifth of the rows: 3000 here)"
    )
    assert "best CV r2: " in out
    summary = json.loads((tmp_path / "out" / "results.json").read_text())
    assert (summary["task"], summary["estimator"], summary["scoring"]) == ("regression", "MLPRegressor", "r2")


def test_auto_refuses_text_with_thousands_of_classes(tmp_path, capsys):
    table = pd.DataFrame({"x": np.arange(2500.0), "id": [f"row-{i:05d}" for i in range(2500)]})
    table.to_csv(tmp_path / "ids.csv", index=False)
    status, out, err = run_main(
        ["search", tmp_path / "ids.csv", "--target", "id", "--param", "lr=1e-3,1e-2", "--output-dir", tmp_path / "out", *FAST],
        capsys,
    )
    assert status == 1
    assert err.count("\n") == 1 and "Traceback" not in err
    assert re.fullmatch(
        r"skbatch: error: target column 'id' holds 2500 distinct text values, too many to be classes under "
        r"--task auto \(.*\); an ID column\? .*--task classification.*--task regression.*\n",
        err,
    ), err
    assert not (tmp_path / "out").exists()
    # Asked for, the same column is taken as classes.
    task = choose_task(table["id"], "classification", "id")
    assert (task.kind, task.reason) == ("classification", "--task classification")


@pytest.mark.parametrize(
    "values, task, options, match",
    [
        (
            ["a", "b"] * 5,
            "regression",
            {},
            r"target column 'y' holds \S+ values \('a', 'b'\), not numbers: a regression needs numbers; use --task classification",
        ),
        (np.linspace(0, 1, 10), "classification", {}, r"does not hold class labels \(found continuous values\); .*use --task regression"),
        (["a"] * 10, "auto", {}, r"^target column 'y' holds a single class \('a'\); a classifier needs two or more$"),
        ([2.5] * 10, "regression", {}, r"target column 'y' holds a single value \(2.5\); there is nothing to predict"),
        ([0.5, np.inf] * 5, "regression", {}, r"target column 'y' has 5 infinite values; drop those rows first"),
        (["a", "b"] * 5, "auto", {"scale_target": "yes"}, r"--scale-target yes is for a regression, and the task is classification"),
        (np.linspace(0, 9, 10), "regression", {"scale_target": "yes", "losses": {"poisson"}}, r"--scale-target yes with loss='poisson'"),
    ],
)
def test_target_that_does_not_suit_the_task(values, task, options, match):
    with pytest.raises(cli.CommandLineError, match=match):
        choose_task(_series(values), task, "y", **options)


@pytest.mark.parametrize(
    "values, options, scaled",
    [
        (np.random.RandomState(0).normal(size=200), {}, False),  # already of order one
        (np.random.RandomState(0).normal(5000, 2000, size=200), {}, True),
        (np.random.RandomState(0).normal(0, 0.01, size=200), {}, True),
        (np.random.RandomState(0).normal(5000, 2000, size=200), {"scale_target": "no"}, False),
        (np.random.RandomState(0).normal(size=200), {"scale_target": "yes"}, True),
        (np.random.RandomState(0).poisson(500, size=200) + 0.5, {"losses": {"poisson", "squared_error"}}, False),
    ],
)
def test_target_scaling(values, options, scaled):
    task = choose_task(_series(values), "regression", "y", **options)
    assert task.scaled == scaled, task.scaling_reason


# --- regression end to end -------------------------------------------------


@pytest.mark.parametrize("scoring", [None, "neg_mean_absolute_error"])
def test_price_runs_a_scaled_regression(diamonds, diamonds_csv, tmp_path, capsys, scoring):
    status, out, err = run_main(
        [
            "search",
            diamonds_csv,
            "--target",
            "price",
            "--search",
            "grid",
            "--param",
            "lr=1e-2,5e-2",
            "--output-dir",
            tmp_path / "out",
            "--cache-dir",
            tmp_path / "cache",
            *FAST,
            *(["--scoring", scoring] if scoring else []),
        ],
        capsys,
    )
    assert status == 0, err
    lines = err.splitlines()
    assert lines[0].startswith("skbatch: regression with MLPRegressor: 'price' holds ")
    assert lines[1].startswith("skbatch: target scaled in each fold (mean ")
    assert "300 rows, 5 features (3 one-hot encoded), target mean " in lines[2]
    summary = json.loads((tmp_path / "out" / "results.json").read_text())
    assert summary["target_scaled"] is True and summary["task"] == "regression"
    name = scoring or "r2"
    assert f"best CV {name}: {summary['best_score']:.4f}" in out

    # The same search, from scikit-learn's parts: plain shuffled folds, the target scaled in each.
    X, y = diamonds.drop(columns="price"), diamonds["price"]
    expected = cross_val_score(
        cli_pipeline(X, scaled=True, lr=summary["best_params"]["lr"]),
        X,
        y,
        cv=KFold(2, shuffle=True, random_state=0),
        scoring=name,
    )
    assert summary["best_score"] == pytest.approx(expected.mean(), rel=1e-5)
    table = pd.read_csv(tmp_path / "out" / "report.csv")
    assert sorted(table["lr"]) == [1e-2, 5e-2] and table["lr"][0] == summary["best_params"]["lr"]
    assert list(table["mean_test_score"]) == sorted(table["mean_test_score"], reverse=True)


def test_scaling_the_target_helps(diamonds_csv, tmp_path, capsys):
    scores = {}
    for scale in ("auto", "no"):
        status, out, err = run_main(
            [
                "search",
                diamonds_csv,
                "--target",
                "price",
                "--search",
                "grid",
                "--param",
                "lr=1e-2,5e-2",
                "--scale-target",
                scale,
                "--output-dir",
                tmp_path / scale,
                *FAST,
            ],
            capsys,
        )
        assert status == 0, err
        scores[scale] = json.loads((tmp_path / scale / "results.json").read_text())["best_score"]
    # Unscaled, the network's outputs start near zero, thousands of dollars from the prices.
    assert scores["no"] < 0 < scores["auto"]


@pytest.mark.parametrize("scale", ["auto", "yes"])
def test_fused_regression_gives_the_same_report(diamonds, tmp_path, capsys, scale):
    # Of order one, so that auto leaves it unscaled; 'yes' scales it.
    table = diamonds.assign(price=(diamonds.price - diamonds.price.mean()) / diamonds.price.std())
    table.to_csv(tmp_path / "data.csv", index=False)
    argv = [
        "search",
        tmp_path / "data.csv",
        "--target",
        "price",
        "--task",
        "regression",
        "--search",
        "grid",
        "--scale-target",
        scale,
        "--param",
        "lr=1e-3,1e-2",
        "--param",
        "batch_size=16,32",
        *FAST,
    ]
    reports = {}
    for fused in (False, True):
        out_dir = tmp_path / str(fused)
        status, out, err = run_main([*argv, "--output-dir", out_dir, *(["--fused", "--verbose", "1"] if fused else [])], capsys)
        assert status == 0, err
        reports[fused] = pd.read_csv(out_dir / "report.csv")
    # Behind the target scaler ('yes') too: its regressor trains on the scaled target, in the stacks.
    assert "8 of 8 fits trained fused, in 2 stack(s)" in out
    columns = ["lr", "batch_size", "mean_test_score", "rank_test_score"]
    # A stack's batched float32 products round differently from one network's: R² moves by ~1e-5.
    pd.testing.assert_frame_equal(reports[True][columns], reports[False][columns], atol=1e-4)


def test_regression_saved_model(diamonds, tmp_path, capsys):
    pytest.importorskip("skops.io")

    model_path = tmp_path / "best.skbatch"
    status, out, err = run_main(
        [
            "search",
            _csv(diamonds, tmp_path),
            "--target",
            "price",
            "--search",
            "grid",
            "--param",
            "lr=1e-2,5e-2",
            "--scale-target",
            "no",
            "--save-model",
            model_path,
            "--output-dir",
            tmp_path / "out",
            *FAST,
        ],
        capsys,
    )
    assert status == 0, err
    summary = json.loads((tmp_path / "out" / "results.json").read_text())
    assert summary["model"] == str(model_path)
    model = skbatch.load(model_path)
    assert list(model.named_steps) == ["columntransformer", "mlpregressor"]
    # The best candidate refitted on all rows, as scikit-learn's refit makes it.
    X, y = diamonds.drop(columns="price"), diamonds["price"]
    expected = cli_pipeline(X, scaled=False, lr=summary["best_params"]["lr"]).fit(X, y).predict(X)
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-5)


def test_a_scaled_regression_saves_with_its_target_scaler(diamonds, tmp_path, capsys, monkeypatch):
    pytest.importorskip("skops.io")
    saved = []

    def keep_and_save(model, path):
        # The real save, keeping the search's best_estimator_ to compare the loaded model with.
        saved.append(model)
        return skbatch.saving.save(model, path)

    monkeypatch.setattr(cli, "save", keep_and_save)
    model_path = tmp_path / "m.skbatch"
    status, out, err = run_main(
        [
            "search",
            _csv(diamonds, tmp_path),
            "--target",
            "price",
            "--search",
            "grid",
            "--param",
            "lr=1e-2,5e-2",
            "--save-model",
            model_path,
            "--output-dir",
            tmp_path / "out",
            *FAST,
        ],
        capsys,
    )
    assert status == 0, err
    summary = json.loads((tmp_path / "out" / "results.json").read_text())
    assert summary["target_scaled"] and summary["model"] == str(model_path)
    model = skbatch.load(model_path)
    assert list(model.named_steps) == ["columntransformer", "transformedtargetregressor"]
    target = model[-1]
    assert isinstance(target.regressor_, MLPRegressor) and target.regressor_.lr == summary["best_params"]["lr"]
    assert target.regressor.get_params() == saved[0][-1].regressor.get_params()
    X = diamonds.drop(columns="price")
    best = saved[0]
    np.testing.assert_array_equal(model.predict(X), best.predict(X))
    # Predictions in dollars, through the scaler's inverse: not the network's scaled outputs.
    np.testing.assert_array_equal(target.transformer_.mean_, best[-1].transformer_.mean_)
    assert abs(model.predict(X).mean() - diamonds["price"].mean()) < diamonds["price"].std()


def _csv(table, tmp_path):
    path = tmp_path / "data.csv"
    table.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    "argv, match",
    [
        (
            ["--scoring", "accuracy"],
            r"^skbatch: error: --scoring accuracy cannot score a regression of this target \(.*\); regression scorers include r2, ",
        ),
        (["--param", "loss=poisson", "--scale-target", "yes"], r"--scale-target yes with loss='poisson'"),
    ],
)
def test_regression_errors_before_training(diamonds_csv, tmp_path, capsys, argv, match):
    status, out, err = run_main(
        ["search", diamonds_csv, "--target", "price", "--param", "lr=1e-3,1e-2", "--output-dir", tmp_path / "out", *FAST, *argv],
        capsys,
    )
    assert status == 1
    assert err.count("\n") == 1 and re.search(match, err), err
    assert not (tmp_path / "out").exists()
