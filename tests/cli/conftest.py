"""Data the command-line tests share: iris as a table and as a CSV file."""

import pytest
from sklearn.datasets import load_iris


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True, as_frame=True)
    table = X.assign(species=y.map({0: "setosa", 1: "versicolor", 2: "virginica"}))
    # Shuffled: iris is sorted by class, which gives both folds identical label
    # sequences, and the report then cannot tell their fit records apart.
    return table.sample(frac=1, random_state=0).reset_index(drop=True)


@pytest.fixture
def iris_csv(iris, tmp_path):
    path = tmp_path / "iris.csv"
    iris.to_csv(path, index=False)
    return path
