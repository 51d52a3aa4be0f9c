"""Successive halving over epochs, three ways: GridSearchCV at full length, HalvingGridSearchCV, FusedHalvingGridSearchCV.

The same grid (9 candidates: 3 learning rates x 3 L2 penalties, MLP(64),
Adam, batch size 32) on digits, 3-fold, with ``max_epochs`` as the
resource of the halving searches: rungs of 2, 6 and 18 epochs keep 9, 3
and 1 candidates. GridSearchCV trains every candidate 18 epochs;
HalvingGridSearchCV retrains each rung's survivors from scratch;
FusedHalvingGridSearchCV trains each rung's fits fused and continues the
survivors from the previous rung's checkpoints. All three refit their best
candidate on all rows (18 epochs, one ordinary fit).

Printed for each: the wall time, the epochs trained by the cross-validation
fits (model-epochs; the refit's 18 are not counted) and ``best_params_``;
then FusedHalvingGridSearchCV's time over HalvingGridSearchCV's, against a
target of at most 0.4 on the CPU, with the same ``best_params_``.

Run: ``python benchmarks/bench_fused_halving.py [--threads 1] [--tile 1]``
"""

import argparse
import os
import time
import warnings

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import GridSearchCV, HalvingGridSearchCV, StratifiedKFold

from skbatch import FusedHalvingGridSearchCV, MLPClassifier

# Every fit trains a fixed epoch budget, as a benchmark must; the ConvergenceWarning
# scikit-learn's MLP (and skbatch's) raises for each such fit says nothing here.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

TARGET_RATIO = 0.4
GRID = {"lr": [3e-4, 1e-3, 3e-3], "alpha": [1e-4, 1e-2, 1e-1]}
MIN_EPOCHS, MAX_EPOCHS, FACTOR, N_SPLITS = 2, 18, 3, 3


def estimator(max_epochs=MAX_EPOCHS):
    # tol=0: no fit stops before its max_epochs, so the epoch counts are exact.
    return MLPClassifier(hidden_layer_sizes=(64,), batch_size=32, max_epochs=max_epochs, tol=0.0, random_state=0, device="cpu")


def cv():
    return StratifiedKFold(N_SPLITS, shuffle=True, random_state=0)


def halving_kwargs():
    return dict(resource="max_epochs", min_resources=MIN_EPOCHS, max_resources=MAX_EPOCHS, factor=FACTOR, cv=cv())


def run_grid(X, y):
    search = GridSearchCV(estimator(), GRID, cv=cv()).fit(X, y)
    return search, len(search.cv_results_["params"]) * N_SPLITS * MAX_EPOCHS


def run_halving(X, y):
    search = HalvingGridSearchCV(estimator(), GRID, **halving_kwargs()).fit(X, y)
    # Each rung's fits train from scratch: every fit trains its rung's epochs.
    return search, int(np.sum(search.cv_results_["n_resources"])) * N_SPLITS


def run_fused_halving(X, y):
    search = FusedHalvingGridSearchCV(estimator(), GRID, **halving_kwargs()).fit(X, y)
    return search, search.epochs_trained_["trained"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tile", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    X, y = load_digits(return_X_y=True)
    X = np.tile((X / 16).astype(np.float32), (args.tile, 1))
    y = np.tile(y, args.tile)

    # Warm-up: imports, allocators and kernels, on a slice too small to matter.
    FusedHalvingGridSearchCV(estimator(), {"lr": [1e-3, 3e-3]}, **{**halving_kwargs(), "max_resources": 4}).fit(X[:300], y[:300])
    HalvingGridSearchCV(estimator(), {"lr": [1e-3, 3e-3]}, **{**halving_kwargs(), "max_resources": 4}).fit(X[:300], y[:300])

    results = {}
    for name, run in [
        ("GridSearchCV", run_grid),
        ("HalvingGridSearchCV", run_halving),
        ("FusedHalvingGridSearchCV", run_fused_halving),
    ]:
        start = time.perf_counter()
        search, epochs = run(X, y)
        results[name] = (time.perf_counter() - start, epochs, search)

    n_candidates = len(results["GridSearchCV"][2].cv_results_["params"])
    print(
        f"digits {X.shape}, MLP(64), Adam, batch size 32, {n_candidates} candidates, {N_SPLITS} folds, "
        f"halving over max_epochs {MIN_EPOCHS} -> {MAX_EPOCHS} (factor {FACTOR}), {args.threads} torch thread(s), "
        f"{os.cpu_count()} cores, torch {torch.__version__}, load average {os.getloadavg()[0]:.1f} at the end\n"
    )
    for name, (seconds, epochs, search) in results.items():
        print(f"  {name:<26} {seconds:7.2f} s   {epochs:4d} model-epochs   best_params_ {search.best_params_}")
    fused = results["FusedHalvingGridSearchCV"][2]
    print(f"\n  fused stacks:\n{fused.fused_stacks_.to_string(float_format=lambda v: f'{v:.2f}')}")
    print(f"  resumed_fits_ {fused.resumed_fits_}   epochs_trained_ {fused.epochs_trained_}")

    ratio = results["FusedHalvingGridSearchCV"][0] / results["HalvingGridSearchCV"][0]
    same = fused.best_params_ == results["HalvingGridSearchCV"][2].best_params_
    gap = np.abs(fused.cv_results_["mean_test_score"] - results["HalvingGridSearchCV"][2].cv_results_["mean_test_score"]).max()
    verdict = "meets" if ratio <= TARGET_RATIO and same else "MISSES"
    print(
        f"\nFusedHalvingGridSearchCV / HalvingGridSearchCV = {ratio:.2f} ({verdict} the <= {TARGET_RATIO:g} target), "
        f"same best_params_: {same}, largest mean_test_score difference {gap:.2g}"
    )


if __name__ == "__main__":
    main()
