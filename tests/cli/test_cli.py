"""The ``skbatch`` command: argument parsing, input errors, results on disk, and the real entry point."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from skopt.space import Categorical, Integer, Real

from cli_run import run_main
from limits import HANG_LIMIT
from skbatch import MLPClassifier, cli

# The console script that `pip install` put next to this interpreter.
SKBATCH = Path(sys.executable).parent / "skbatch"
FAST = ["--cv", "2", "--max-epochs", "2", "--no-progress"]


# --- --param ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text, name, spec",
    [
        ("batch_size=16:512:log", "batch_size", cli._Range(16, 512, log=True)),
        ("lr=1e-4:1e-1:log", "lr", cli._Range(1e-4, 1e-1, log=True)),
        ("alpha=0:0.01", "alpha", cli._Range(0, 0.01, log=False)),
        ("dropout=0:0.5:linear", "dropout", cli._Range(0, 0.5, log=False)),
        ("hidden_layer_sizes=64,128-64", "hidden_layer_sizes", [64, "128-64"]),
        ("activation=tanh, relu", "activation", ["tanh", "relu"]),
        ("early_stopping=true,false", "early_stopping", [True, False]),
        ("max_epochs=3", "max_epochs", 3),
        ("solver=sgd", "solver", "sgd"),
    ],
)
def test_parse_param_forms(text, name, spec):
    assert cli.parse_param(text) == (name, spec)


@pytest.mark.parametrize(
    "text, match",
    [
        ("batch_size", r"--param 'batch_size' is malformed: write name=low:high\[:log\]"),
        ("=16", r"is malformed"),
        ("batch size=16", r"is malformed"),
        ("lr=", r"is malformed"),
        ("lr=1e-4::log", r"lr=1e-4::log is not a range: write lr=low:high or lr=low:high:log"),
        ("lr=1e-4:1e-1:cubic", r"is not a range"),
        ("lr=a:b", r"is not a range"),
        ("lr=1:2:log:4", r"is not a range"),
        ("lr=1e-1:1e-4:log", r"low must be below high, got 0.1 and 0.0001"),
        ("alpha=0:1:log", r"a log range needs low > 0, got 0"),
        ("batch_size=16,,64", r"has an empty value in its list"),
        (f"batch_size=1:{10**20}", r"integer ends must lie between -2\*\*63 and 2\*\*63 - 2, got 1 and 1"),
        ("lr=1e-3:1e400:log", r"low and high must be finite numbers, got 0.001 and inf"),
    ],
)
def test_parse_param_rejects_malformed(text, match):
    with pytest.raises(cli.CommandLineError, match=match):
        cli.parse_param(text)


def test_search_spaces_for_each_search():
    specs = {
        "batch_size": cli._Range(16, 512, log=True),
        "lr": cli._Range(1e-4, 1e-1, log=True),
        "alpha": cli._Range(0.0, 1e-2, log=False),
        "max_epochs": cli._Range(5, 10, log=False),
        "hidden_layer_sizes": [64, "128-64"],
    }
    random_space = cli._search_space(specs, "random", "mlpclassifier__")
    assert random_space["mlpclassifier__hidden_layer_sizes"] == [64, "128-64"]
    rng = np.random.RandomState(0)
    batch_sizes = [random_space["mlpclassifier__batch_size"].rvs(random_state=rng) for _ in range(300)]
    assert all(isinstance(b, int) and 16 <= b <= 512 for b in batch_sizes)
    # Log-uniform: as many draws below the geometric midpoint (~90) as above it.
    assert 0.35 < np.mean(np.array(batch_sizes) < 90.5) < 0.65
    lr = random_space["mlpclassifier__lr"]
    assert lr.dist.name in {"loguniform", "reciprocal"} and lr.support() == pytest.approx((1e-4, 1e-1))
    assert random_space["mlpclassifier__alpha"].support() == (0.0, 1e-2)
    assert random_space["mlpclassifier__max_epochs"].support() == (5, 10)

    bayes_space = cli._search_space(specs, "bayes", "mlpclassifier__")
    batch_size = bayes_space["mlpclassifier__batch_size"]
    assert isinstance(batch_size, Integer) and batch_size.bounds == (16, 512)
    assert batch_size.prior == "log-uniform"
    assert isinstance(bayes_space["mlpclassifier__lr"], Real)
    assert bayes_space["mlpclassifier__alpha"].prior == "uniform"
    assert isinstance(bayes_space["mlpclassifier__hidden_layer_sizes"], Categorical)


def test_grid_search_rejects_a_range():
    with pytest.raises(cli.CommandLineError, match=r"--param lr: grid search needs a list of values, not a range"):
        cli._search_space({"lr": cli._Range(1e-4, 1e-1, log=True)}, "grid", "mlpclassifier__")


# --- reading the data ------------------------------------------------------


def test_read_table_errors(tmp_path):
    with pytest.raises(cli.CommandLineError, match=r"data file '.*missing.csv' does not exist or is not a file"):
        cli.read_table(tmp_path / "missing.csv")
    with pytest.raises(cli.CommandLineError, match=r"does not exist or is not a file"):
        cli.read_table(tmp_path)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(cli.CommandLineError, match=r"data file '.*empty.csv' is empty"):
        cli.read_table(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("a,b,label\n")
    with pytest.raises(cli.CommandLineError, match=r"data file '.*header.csv' has no rows"):
        cli.read_table(tmp_path / "header.csv")
    (tmp_path / "binary.csv").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(cli.CommandLineError, match=r"cannot read '.*binary.csv' as CSV: "):
        cli.read_table(tmp_path / "binary.csv")
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n1,2,3,4\n")
    with pytest.raises(cli.CommandLineError, match=r"cannot read '.*ragged.csv' as CSV: Error tokenizing data"):
        cli.read_table(tmp_path / "ragged.csv")
    (tmp_path / "broken.parquet").write_text("this is not parquet")
    with pytest.raises(cli.CommandLineError, match=r"cannot read '.*broken.parquet' as Parquet: "):
        cli.read_table(tmp_path / "broken.parquet")


def test_read_parquet(iris, tmp_path):
    pytest.importorskip("pyarrow")
    iris.to_parquet(tmp_path / "iris.parquet")
    pd.testing.assert_frame_equal(cli.read_table(tmp_path / "iris.parquet"), iris)


def test_read_parquet_without_pyarrow(tmp_path, monkeypatch):
    # A None entry in sys.modules makes `import pyarrow` fail, as on a machine without it.
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    (tmp_path / "data.pq").write_bytes(b"PAR1")
    with pytest.raises(cli.CommandLineError, match=r"needs pyarrow, which is not installed: pip install 'skbatch\[parquet\]'"):
        cli.read_table(tmp_path / "data.pq")


def test_split_target(iris):
    X, y = cli.split_target(iris, "species")
    assert list(X.columns) == list(iris.columns[:-1])
    assert y.name == "species"


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda t: t, r"target column 'label' is not in the data; its columns are: sepal length \(cm\), "),
        (
            lambda t: t.rename(columns={"species": "label"}).assign(**{"petal width (cm)": np.inf}),
            r"feature columns have infinite values: petal width \(cm\); replace or drop",
        ),
        (
            lambda t: t.rename(columns={"species": "label"}).assign(**{"petal width (cm)": np.nan}),
            r"feature columns have missing values: petal width \(cm\); impute or drop",
        ),
        (
            lambda t: t.rename(columns={"species": "label"}).assign(label=lambda d: d.label.where(d.index > 0)),
            r"target column 'label' has 1 missing values; drop those rows first",
        ),
        (lambda t: t[["species"]].rename(columns={"species": "label"}), r"has no feature columns besides the target"),
    ],
)
def test_split_target_errors(iris, change, match):
    with pytest.raises(cli.CommandLineError, match=match):
        cli.split_target(change(iris), "label")


# --- writing the results ---------------------------------------------------


def test_write_atomic_replaces_whole_file(tmp_path):
    path = tmp_path / "results.json"
    cli.write_atomic(path, "old")
    cli.write_atomic(path, "new")
    assert path.read_text() == "new"
    assert os.listdir(tmp_path) == ["results.json"]


def test_write_atomic_failure_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    path.write_text("old")

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left on device"):
        cli.write_atomic(path, "new")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["results.json"]


# --- the command, in process -----------------------------------------------


def test_grid_search_on_parquet_writes_results(iris, tmp_path, capsys):
    pytest.importorskip("pyarrow")
    iris.to_parquet(tmp_path / "iris.parquet")
    out_dir = tmp_path / "out"
    status, out, err = run_main(
        [
            "search",
            tmp_path / "iris.parquet",
            "--target",
            "species",
            "--search",
            "grid",
            "--param",
            "batch_size=16,150",
            "--param",
            "hidden_layer_sizes=8,8-8",
            "--param",
            "solver=sgd",
            "--output-dir",
            out_dir,
            "--cache-dir",
            tmp_path / "cache",
            *FAST,
        ],
        capsys,
    )
    assert status == 0, err
    assert "grid search on" in err and "150 rows, 4 features, 3 classes; 2-fold CV" in err
    assert "best_params_: {'batch_size': " in out
    # With a cache, the table shows what each fit took to train, not only its call in this run.
    assert "mean_training_time" in out

    table = pd.read_csv(out_dir / "report.csv")
    assert len(table) == 4
    assert table["rank_test_score"].is_monotonic_increasing
    assert {"batch_size", "hidden_layer_sizes", "split0_test_score", "n_failed_fits"} <= set(table.columns)
    # --cache-dir keeps a record of every fit, so the report knows where each split trained.
    assert (table["split0_device"] == "cpu").all()
    summary = json.loads((out_dir / "results.json").read_text())
    best = table.iloc[0]
    # Ties keep their search order in the stable sort, so row 0 is best_params_ even then.
    assert set(summary["best_params"]) == {"batch_size", "hidden_layer_sizes"}
    assert summary["best_params"]["batch_size"] == best["batch_size"]
    assert str(summary["best_params"]["hidden_layer_sizes"]) == str(best["hidden_layer_sizes"])
    assert summary["best_score"] == pytest.approx(best["mean_test_score"])
    assert summary["fixed_params"] == {"solver": "sgd", "max_epochs": 2}
    assert (summary["search"], summary["n_candidates"], summary["n_samples"]) == ("grid", 4, 150)
    assert summary["n_failed_fits"] == 0
    assert len(summary["candidates"]) == 4
    assert f"results written to {out_dir / 'report.csv'}" in out
    assert sorted(os.listdir(out_dir)) == ["report.csv", "results.json"]


def test_random_search_samples_ranges(iris_csv, tmp_path, capsys):
    status, out, err = run_main(
        [
            "search",
            iris_csv,
            "--target",
            "species",
            "--search",
            "random",
            "--n-iter",
            "3",
            "--param",
            "batch_size=8:64:log",
            "--param",
            "lr=1e-3:1e-1:log",
            "--output-dir",
            tmp_path / "out",
            *FAST,
        ],
        capsys,
    )
    assert status == 0, err
    table = pd.read_csv(tmp_path / "out" / "report.csv")
    assert len(table) == 3
    assert table["batch_size"].between(8, 64).all()
    assert table["lr"].between(1e-3, 1e-1).all()


@pytest.mark.parametrize(
    "argv, match",
    [
        (
            ["--param", "batchsize=16,64"],
            r"^skbatch: error: --param batchsize: MLPClassifier has no parameter 'batchsize'; did you mean 'batch_size'\?$",
        ),
        (
            ["--param", "zzz=1,2"],
            r"^skbatch: error: --param zzz: MLPClassifier has no parameter 'zzz'; valid names: accumulation_steps, activation, ",
        ),
        (
            ["--param", "batch_size=0,16"],
            r"^skbatch: error: --param batch_size: The 'batch_size' parameter of MLPClassifier must be .* Got 0 instead\.",
        ),
        (
            ["--param", "hidden_layer_sizes=64,1-x"],
            r"--param hidden_layer_sizes: The 'hidden_layer_sizes' parameter .* Got '1-x' instead\.",
        ),
        (
            ["--param", "solver=newton", "--param", "lr=1e-3,1e-2"],
            r"--param solver: The 'solver' parameter of MLPClassifier must be a str among",
        ),
        (
            ["--param", "lr=1e-3,1e-2", "--max-epochs", "0"],
            r"--max-epochs: The 'max_epochs' parameter of MLPClassifier must be an int in the range \[1, inf\)",
        ),
        (["--param", "lr=1e-3,1e-2", "--param", "lr=1e-4:1e-1"], r"--param lr is given twice; give each name once"),
        (["--param", "solver=sgd"], r"nothing to search: give at least one --param with a list or range"),
        (["--search", "grid", "--param", "lr=1e-4:1e-1:log"], r"--param lr: grid search needs a list of values"),
        (
            ["--param", "lr=1e-3,1e-2", "--scoring", "acuracy"],
            r"--scoring acuracy is not a scikit-learn scorer name; did you mean accuracy",
        ),
        (["--param", "lr=1e-3,1e-2", "--cv", "1"], r"--cv must be at least 2, got 1"),
        (["--param", "lr=1e-3,1e-2", "--n-iter", "0"], r"--n-iter must be at least 1, got 0"),
        (["--param", "lr=1e-3,1e-2", "--target", "label"], r"target column 'label' is not in .*iris.csv; its columns are: "),
        (["--param", "lr=1e-3,1e-2", "--device", "tpu"], r"--device tpu: The 'device' parameter must be 'auto', 'cpu', 'cuda' or 'cuda:N'"),
    ],
)
def test_errors_are_one_line(iris_csv, tmp_path, capsys, argv, match):
    status, out, err = run_main(["search", iris_csv, "--target", "species", "--output-dir", tmp_path / "out", *FAST, *argv], capsys)
    assert status == 1
    assert err.count("\n") == 1 and "Traceback" not in err
    assert re.search(match, err), err
    assert not (tmp_path / "out").exists()


def test_output_dir_that_is_a_file(iris_csv, tmp_path, capsys):
    (tmp_path / "taken").write_text("")
    status, _, err = run_main(
        ["search", iris_csv, "--target", "species", "--param", "lr=1e-3,1e-2", "--output-dir", tmp_path / "taken", *FAST],
        capsys,
    )
    assert status == 1
    taken = tmp_path / "taken"
    assert err == f"skbatch: error: --output-dir {taken}: {taken} is a file, not a folder; give a path in a folder\n"
    assert "search on" not in err, "the output directory is checked before the search starts"


def test_demo_options_reach_the_demo(capsys):
    with pytest.raises(SystemExit, match="0"):
        cli.main(["demo", "--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: skbatch demo [-h]") and "--max-epochs" in out


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["search", "data.csv"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err == "skbatch search: error: the following arguments are required: --target (see skbatch search --help)\n"
    with pytest.raises(SystemExit, match="2"):
        cli.main(["search", "data.csv", "--target", "y", "--bogus"])
    assert "skbatch: error: unrecognized arguments: --bogus" in capsys.readouterr().err


# --- the real command ------------------------------------------------------


def run_skbatch(*args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [str(SKBATCH), *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=HANG_LIMIT, check=False
    )


def test_console_script_bayes_search(iris_csv, tmp_path):
    result = run_skbatch(
        "search",
        iris_csv,
        "--target",
        "species",
        "--search",
        "bayes",
        "--n-iter",
        "3",
        "--cv",
        "2",
        "--max-epochs",
        "2",
        "--param",
        "batch_size=16:128:log",
        "--param",
        "lr=1e-3:1e-1:log",
        "--param",
        "hidden_layer_sizes=16,32-16",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    # The progress bar, on stderr, reaches every fit: 3 candidates x 2 folds.
    assert "6/6" in result.stderr
    assert "best_params_: {'batch_size': " in result.stdout
    assert "mean_test_score" in result.stdout
    summary = json.loads((tmp_path / "skbatch_results" / "results.json").read_text())
    assert summary["search"] == "bayes" and summary["n_candidates"] == 3
    assert summary["best_params"]["hidden_layer_sizes"] in (16, "32-16")
    assert 16 <= summary["best_params"]["batch_size"] <= 128


def test_console_script_error_is_one_line(iris_csv, tmp_path):
    result = run_skbatch("search", iris_csv, "--target", "label", "--param", "lr=1e-3,1e-2", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == (
        f"skbatch: error: target column 'label' is not in {iris_csv}; its columns are: sepal length (cm), "
        "sepal width (cm), petal length (cm), petal width (cm), species\n"
    )
    assert not (tmp_path / "skbatch_results").exists()


@pytest.mark.slow
def test_console_script_runs_the_demo(tmp_path):
    result = run_skbatch("demo", "--cv", "2", "--max-epochs", "1", "--n-jobs", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "GridSearchCV on digits" in result.stdout
    assert "best_params_: {" in result.stdout and "mean_test_score" in result.stdout


def test_fused_search_gives_the_same_report(iris_csv, tmp_path, capsys):
    argv = ["search", iris_csv, "--target", "species", "--search", "grid", "--param", "lr=1e-3,1e-2", "--param", "batch_size=16,32", *FAST]
    reports = {}
    for fused in (False, True):
        out_dir = tmp_path / str(fused)
        status, out, err = run_main([*argv, "--output-dir", out_dir, *(["--fused", "--verbose", "1"] if fused else [])], capsys)
        assert status == 0, err
        reports[fused] = pd.read_csv(out_dir / "report.csv")
    assert "8 of 8 fits trained fused, in 2 stack(s)" in out
    columns = ["lr", "batch_size", "mean_test_score", "rank_test_score"]
    pd.testing.assert_frame_equal(reports[True][columns], reports[False][columns], atol=1e-6)


# --- issue 16: what a first hour with the command ran into ------------------


def test_duplicated_and_unnamed_columns(iris, tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("x,label,label\n1,a,b\n2,b,a\n")
    # pandas would read the second one as 'label.1' and train on it.
    with pytest.raises(cli.CommandLineError, match=r"has duplicated column names: label; give each column its own name"):
        cli.read_table(path)
    path.write_text("x,,label\n1,2,a\n2,3,b\n")
    with pytest.raises(cli.CommandLineError, match=r"has columns without a name \(columns 2\); name them or drop them"):
        cli.read_table(path)


def test_an_unnamed_first_column_is_read_as_the_index(iris, tmp_path):
    path = tmp_path / "with_index.csv"
    iris.to_csv(path)  # index=True by default: a first column with no name
    said = []
    table = cli.read_table(path, say=said.append)
    assert list(table.columns) == list(iris.columns)
    assert said == ["the first column of with_index.csv has no name: read as the row index and not used as a feature"]


def test_text_columns_are_one_hot_encoded_inside_each_fold(iris):
    table = iris.assign(color=np.where(iris["sepal length (cm)"] > 5.8, "red", "blue"), big=iris["petal length (cm)"] > 4)
    X, y = cli.split_target(table, "species")
    preprocessing = cli.make_preprocessing(X)
    assert [(name, type(t).__name__, list(cols)) for name, t, cols in preprocessing.transformers] == [
        ("numeric", "StandardScaler", list(iris.columns[:4])),
        ("categorical", "OneHotEncoder", ["color", "big"]),
    ]
    assert preprocessing.transformers[1][1].handle_unknown == "ignore"
    out = preprocessing.fit_transform(X.iloc[:100])
    assert out.shape == (100, 4 + 2 + 2) and isinstance(out, np.ndarray)
    # A category no training row had becomes zeros, not an error.
    unseen = X.iloc[:1].assign(color="green")
    np.testing.assert_array_equal(preprocessing.transform(unseen)[0, 4:6], [0, 0])


def test_a_float_params_range_draws_floats():
    estimator = MLPClassifier()
    lr = cli._typed_range(estimator, "lr", cli.parse_param("lr=10:100")[1])
    batch_size = cli._typed_range(estimator, "batch_size", cli.parse_param("batch_size=10:100")[1])
    assert lr == cli._Range(10.0, 100.0, log=False) and not lr.is_integer
    assert batch_size.is_integer
    space = cli._search_space(
        {"lr": lr, "momentum": cli._typed_range(estimator, "momentum", cli._Range(0, 1, False))}, "random", "mlpclassifier__"
    )
    draws = [space["mlpclassifier__lr"].rvs(random_state=seed) for seed in range(20)]
    assert all(10 <= d <= 100 for d in draws) and any(d != int(d) for d in draws)
    assert space["mlpclassifier__momentum"].support() == (0.0, 1.0)
    assert isinstance(cli._search_space({"lr": lr}, "bayes", "mlpclassifier__")["mlpclassifier__lr"], Real)


def test_results_json_is_strict_json(tmp_path):
    report = pd.DataFrame({"lr": [0.1, 0.01], "mean_test_score": [0.5, np.nan]})
    cli.write_results(report, tmp_path, {"best_score": 0.5, "scores": [np.float64("nan"), np.inf], "n": np.int64(3)})

    def refuse(constant):
        raise AssertionError(f"results.json holds {constant}, which is not JSON")

    summary = json.loads((tmp_path / "results.json").read_text(), parse_constant=refuse)
    assert summary["scores"] == [None, None] and summary["n"] == 3
    assert summary["candidates"][1]["mean_test_score"] is None


@pytest.mark.parametrize(
    "argv, match",
    [
        (
            ["--param", "device=gpu,cpu"],
            r"^skbatch: error: --param device: The 'device' parameter must be 'auto', 'cpu', 'cuda' or 'cuda:N'\. Got 'gpu' instead\.$",
        ),
        (["--param", "lr=1e-3,1e-2", "--threads", "0"], r"^skbatch: error: --threads must be at least 1, got 0$"),
    ],
)
def test_more_errors_before_training(iris_csv, tmp_path, capsys, argv, match):
    status, out, err = run_main(["search", iris_csv, "--target", "species", "--output-dir", tmp_path / "out", *FAST, *argv], capsys)
    assert status == 1
    assert err.count("\n") == 1 and re.search(match, err), err


@pytest.mark.parametrize(
    "text, match",
    [
        ("x,label,label\n1,a,b\n2,b,a\n3,a,b\n4,b,a\n", r"duplicated column names: label"),
        ("x,label\n1,a\ninf,b\n3,a\n4,b\n", r"feature columns have infinite values: x"),
        ("x,label\n1,a\n2,a\n3,a\n4,a\n", r"target column 'label' holds a single class \('a'\)"),
    ],
)
def test_bad_data_is_one_short_line(tmp_path, capsys, text, match):
    (tmp_path / "data.csv").write_text(text)
    status, out, err = run_main(
        ["search", tmp_path / "data.csv", "--target", "label", "--param", "lr=1e-3,1e-2", "--output-dir", tmp_path / "out", *FAST],
        capsys,
    )
    assert status == 1
    assert err.count("\n") == 1 and len(err) < 200 and re.search(match, err), err
    assert not (tmp_path / "out").exists()


def test_all_nan_scores_end_in_one_line_and_a_non_zero_exit(iris_csv, tmp_path, capsys):
    # roc_auc takes two classes; iris has three: every score is NaN.
    status, out, err = run_main(
        [
            "search",
            iris_csv,
            "--target",
            "species",
            "--search",
            "grid",
            "--param",
            "lr=1e-3,1e-2",
            "--scoring",
            "roc_auc",
            "--output-dir",
            tmp_path / "out",
            *FAST,
        ],
        capsys,
    )
    assert status == 1
    lines = err.splitlines()
    assert lines[0].startswith("skbatch: classification with MLPClassifier: 'species' holds 3 classes"), err
    assert lines[1].startswith("skbatch: grid search on") and len(lines) == 3, err
    assert re.fullmatch(
        r"skbatch: error: every candidate scored NaN with --scoring roc_auc, so there is no best one "
        r"\(UserWarning: scoring failed: ValueError: .*multi_class.*\)",
        lines[2],
    ), err
    assert "best_params_" not in out and not (tmp_path / "out" / "results.json").exists()


def test_torch_threads_reach_this_process_and_the_workers():
    import torch
    from joblib import Parallel, delayed

    before = torch.get_num_threads()
    # 3, not 1: loky limits each of n_jobs workers to cpu_count // n_jobs
    # threads by itself, which is 1 on a 2-core machine, with or without --threads.
    with cli.torch_threads(3):
        assert torch.get_num_threads() == 3
        # As a search calls it: no backend of its own, so the configured one and its limit apply.
        # os.getenv, not os.environ.get (that would pickle this process's
        # environment along) nor a function of this module (the workers would
        # import it, and torch with it, only to read a variable).
        in_workers = Parallel(n_jobs=2)(delayed(os.getenv)("OMP_NUM_THREADS") for _ in range(2))
    assert in_workers == ["3", "3"]
    assert torch.get_num_threads() == before


def test_categorical_columns_threads_and_saved_model(iris, tmp_path, capsys):
    pytest.importorskip("skops.io")
    import skbatch

    table = iris.assign(color=np.where(iris["sepal length (cm)"] > 5.8, "red", "blue"))
    table.to_csv(tmp_path / "colors.csv", index=False)
    model_path = tmp_path / "model" / "best.skbatch"
    status, out, err = run_main(
        [
            "search",
            tmp_path / "colors.csv",
            "--target",
            "species",
            "--search",
            "grid",
            "--param",
            "lr=1e-3,1e-2",
            "--threads",
            "1",
            "--save-model",
            model_path,
            "--output-dir",
            tmp_path / "out",
            *FAST,
        ],
        capsys,
    )
    assert status == 0, err
    assert "150 rows, 5 features (1 one-hot encoded), 3 classes" in err
    summary = json.loads((tmp_path / "out" / "results.json").read_text())
    assert summary["categorical_features"] == ["color"] and summary["threads"] == 1
    assert summary["model"] == str(model_path)
    # Nothing in the file needs trusting: it loads as data, without running code.
    assert skbatch.saving.get_untrusted_types(model_path) == []
    model = skbatch.load(model_path)
    assert type(model[-1]).__name__ == "MLPClassifier" and model[-1].lr == summary["best_params"]["lr"]
    X, y = table.drop(columns="species"), table["species"]
    assert list(model.named_steps) == ["columntransformer", "mlpclassifier"]
    assert set(model.predict(X)) <= set(y)
