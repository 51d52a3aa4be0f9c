"""Fused cross-validation against one-by-one fits: FusedGridSearchCV, GridSearchCV and plain skorch, side by side.

The same 5-fold grid (4 learning rates, MLP(100), Adam, ``--epochs`` epochs)
on digits tiled ``--tile`` times runs three ways, for each batch size on
its own (32, then 128), so that each ratio compares like with like:

- skbatch's ``MLPClassifier`` in scikit-learn's ``GridSearchCV`` (each of
  the 20 fold models trains alone);
- the same in ``FusedGridSearchCV`` (the 20 fold models train as one
  stacked model, then the per-fold fits restore them from the fit cache);
- a plain skorch ``NeuralNetClassifier`` in ``GridSearchCV``, for reference.

Every search refits its best candidate on all rows, as GridSearchCV does by
default: one ordinary fit in GridSearchCV, while FusedGridSearchCV trains
each candidate's full-data fit in its stack and the refit restores it. The runs are
interleaved ``--repeats`` times after a warm-up on a small slice of the
data. Printed: the median wall time of each, the ratios unfused / fused and
skorch / fused against a target of 5x for unfused / fused at batch size 32
on the CPU, the refit included, the mean CV accuracy of the best candidate of both skbatch
searches (fusing should not change it), and the fused stacks.

Run: ``python benchmarks/bench_fused_cv.py [--device cpu] [--repeats 3] [--threads 1]``
"""

import argparse
import os
import statistics
import time
import warnings

import numpy as np
import pandas as pd
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from skorch import NeuralNetClassifier
from torch import nn

from skbatch import FusedGridSearchCV, MLPClassifier

# Every fit trains a fixed epoch budget, as a benchmark must; the ConvergenceWarning
# scikit-learn's MLP (and skbatch's) raises for each such fit says nothing here.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

TARGET_SPEEDUP = 5.0
TARGET_BATCH_SIZE = 32
BATCH_SIZES = (32, 128)
LEARNING_RATES = [3e-4, 1e-3, 3e-3, 1e-2]
N_SPLITS = 5


class PlainMLP(nn.Module):
    """The MLP a skorch user writes by hand: Linear, ReLU, Linear."""

    def __init__(self, n_features=64, n_hidden=100, n_classes=10):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(n_features, n_hidden), nn.ReLU(), nn.Linear(n_hidden, n_classes))

    def forward(self, X):
        return self.layers(X)


def cv():
    return StratifiedKFold(N_SPLITS, shuffle=True, random_state=0)


def skbatch_search(search_class, batch_size, *, epochs, device):
    estimator = MLPClassifier(hidden_layer_sizes=(100,), max_epochs=epochs, tol=0.0, random_state=0, device=device)
    return search_class(estimator, {"lr": LEARNING_RATES, "batch_size": [batch_size]}, cv=cv(), n_jobs=1)


def skorch_search(batch_size, *, epochs, device, n_features, n_classes):
    net = NeuralNetClassifier(
        PlainMLP,
        module__n_features=n_features,
        module__n_classes=n_classes,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        max_epochs=epochs,
        iterator_train__shuffle=True,
        train_split=None,
        verbose=0,
        device=device,
    )
    return GridSearchCV(net, {"lr": LEARNING_RATES, "batch_size": [batch_size]}, cv=cv(), n_jobs=1)


def make_runs(batch_size, *, epochs, device, n_features, n_classes):
    """The three searches of one batch size, each a function of (X, y) that returns the fitted search."""

    def unfused(X, y):
        return skbatch_search(GridSearchCV, batch_size, epochs=epochs, device=device).fit(X, y)

    def fused(X, y):
        return skbatch_search(FusedGridSearchCV, batch_size, epochs=epochs, device=device).fit(X, y)

    def plain_skorch(X, y):
        torch.manual_seed(0)  # skorch initialises its modules from torch's global generator
        search = skorch_search(batch_size, epochs=epochs, device=device, n_features=n_features, n_classes=n_classes)
        return search.fit(X, y)

    return {"GridSearchCV (skbatch)": unfused, "FusedGridSearchCV": fused, "GridSearchCV (skorch)": plain_skorch}


def best_candidate(search):
    return search.best_params_["lr"], search.best_score_


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tile", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    X, y = load_digits(return_X_y=True)
    X = np.tile((X / 16).astype(np.float32), (args.tile, 1))
    y = np.tile(y, args.tile)
    shape = dict(n_features=X.shape[1], n_classes=len(np.unique(y)))
    runs = {bs: make_runs(bs, epochs=args.epochs, device=args.device, **shape) for bs in BATCH_SIZES}

    # Warm-up: imports, allocators and kernels, on a slice too small to matter.
    warm_rows = next(cv().split(X, y))[1]
    for bs in BATCH_SIZES:
        for run in make_runs(bs, epochs=1, device=args.device, **shape).values():
            run(X[warm_rows], y[warm_rows])

    times = {bs: {name: [] for name in batch_runs} for bs, batch_runs in runs.items()}
    refit_times = {bs: {name: [] for name in batch_runs} for bs, batch_runs in runs.items()}
    searches = {}
    for _ in range(args.repeats):
        for bs, batch_runs in runs.items():
            for name, run in batch_runs.items():
                start = time.perf_counter()
                search = run(X, y)
                times[bs][name].append(time.perf_counter() - start)
                refit_times[bs][name].append(search.refit_time_)
                searches[bs, name] = search

    n_fits = len(LEARNING_RATES) * N_SPLITS
    print(
        f"digits tiled {args.tile}x {X.shape}, MLP(100), Adam, {args.epochs} epochs, "
        f"{len(LEARNING_RATES)} lrs x {N_SPLITS} folds = {n_fits} fits (+1 refit) per batch size, "
        f"device {args.device}, n_jobs=1, {args.threads} torch thread(s), {os.cpu_count()} cores, "
        f"torch {torch.__version__}, median of {args.repeats}, load average {os.getloadavg()[0]:.1f} at the end"
    )
    ratios, cv_ratios = {}, {}
    stacks = []
    for bs in BATCH_SIZES:
        medians = {name: statistics.median(samples) for name, samples in times[bs].items()}
        print(f"\nbatch size {bs}:")
        for name, samples in times[bs].items():
            refit = statistics.median(refit_times[bs][name])
            print(f"  {name:<24} {medians[name]:7.2f} s   (refit {refit:5.2f} s; runs {', '.join(f'{t:.2f}' for t in samples)})")
        fused = medians["FusedGridSearchCV"]
        unfused_ratio = medians["GridSearchCV (skbatch)"] / fused
        skorch_ratio = medians["GridSearchCV (skorch)"] / fused
        ratios[bs] = unfused_ratio
        # Without the refit (FusedGridSearchCV's only restores), the ratio is that of the CV itself.
        cv_only = {name: statistics.median(t - r for t, r in zip(times[bs][name], refit_times[bs][name])) for name in medians}
        cv_ratio = cv_ratios[bs] = cv_only["GridSearchCV (skbatch)"] / cv_only["FusedGridSearchCV"]
        print(
            f"  unfused / fused = {unfused_ratio:5.2f}   skorch / fused = {skorch_ratio:5.2f}   "
            f"(unfused / fused without the refit = {cv_ratio:5.2f})"
        )

        unfused_search, fused_search = searches[bs, "GridSearchCV (skbatch)"], searches[bs, "FusedGridSearchCV"]
        (unfused_lr, unfused_score), (fused_lr, fused_score) = map(best_candidate, (unfused_search, fused_search))
        gap = np.abs(unfused_search.cv_results_["mean_test_score"] - fused_search.cv_results_["mean_test_score"]).max()
        print(
            f"  best mean CV accuracy: unfused {unfused_score:.4f} (lr={unfused_lr:g}), "
            f"fused {fused_score:.4f} (lr={fused_lr:g}); "
            f"largest difference over the {len(LEARNING_RATES)} candidates {gap:.4f}"
        )
        if fused_search.unfused_fits_:
            print(f"  fits FusedGridSearchCV left unfused: {fused_search.unfused_fits_}")
        stacks.append(fused_search.fused_stacks_)

    print("\nfused_stacks_ (last run of each batch size):")
    print(pd.concat(stacks, ignore_index=True).to_string(float_format=lambda v: f"{v:.2f}"))
    ratio = ratios[TARGET_BATCH_SIZE]
    verdict = "meets" if ratio >= TARGET_SPEEDUP else "MISSES"
    where = "" if args.device == "cpu" else f" (the target is for the CPU; this ran on {args.device})"
    print(
        f"\nunfused / fused at batch size {TARGET_BATCH_SIZE} = {ratio:.2f} "
        f"({verdict} the {TARGET_SPEEDUP:g}x target; without the refit {cv_ratios[TARGET_BATCH_SIZE]:.2f}){where}"
    )


if __name__ == "__main__":
    main()
