"""Parallel search speedup on the CPU: GridSearchCV with n_jobs=N against n_jobs=1, side by side.

The same grid, the same folds and the same data run once with ``n_jobs=1``
(one process, torch using every core) and once with ``n_jobs=N`` (N loky
workers, each fit on its share of the cores), interleaved ``--repeats``
times after a warm-up that starts the workers. Printed: the median wall
time of each and the speedup, against a target of 1.7 for 2 jobs on 2 cores.

Run: ``python benchmarks/bench_parallel_search.py [--n-jobs 2] [--repeats 3]``
"""

import argparse
import os
import statistics
import time
import warnings

import joblib
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from skbatch import MLPClassifier

# Every fit trains a fixed epoch budget, as a benchmark must; the ConvergenceWarning
# scikit-learn's MLP (and skbatch's) raises for each such fit says nothing here.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

TARGET_SPEEDUP = 1.7


def search(n_jobs, epochs):
    return GridSearchCV(
        MLPClassifier(hidden_layer_sizes=(64,), max_epochs=epochs, tol=0.0, random_state=0, device="cpu"),
        {"batch_size": [32, 128], "lr": [1e-3, 1e-2]},
        cv=StratifiedKFold(n_splits=4, shuffle=True, random_state=0),
        n_jobs=n_jobs,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    runs = {1: lambda: search(1, args.epochs).fit(X, y), args.n_jobs: lambda: search(args.n_jobs, args.epochs).fit(X, y)}
    scores = {n: run().cv_results_["mean_test_score"] for n, run in runs.items()}  # warm-up
    times = {n: [] for n in runs}
    for _ in range(args.repeats):
        for n_jobs, run in runs.items():
            start = time.perf_counter()
            run()
            times[n_jobs].append(time.perf_counter() - start)

    n_fits = 4 * 4
    print(
        f"GridSearchCV on digits {X.shape}: MLP(64), {n_fits} fits of {args.epochs} epochs, "
        f"{joblib.cpu_count()} cores (os.cpu_count()={os.cpu_count()}), torch {torch.__version__}, "
        f"median of {args.repeats}, load average {os.getloadavg()[0]:.1f} at the end"
    )
    for n_jobs, samples in times.items():
        print(f"  n_jobs={n_jobs}: {statistics.median(samples):7.2f} s   ({', '.join(f'{t:.2f}' for t in samples)})")
    speedup = statistics.median(times[1]) / statistics.median(times[args.n_jobs])
    verdict = "meets" if speedup >= TARGET_SPEEDUP else "MISSES"
    print(f"speedup n_jobs={args.n_jobs} / n_jobs=1 = {speedup:.2f} ({verdict} the {TARGET_SPEEDUP}x target)")
    same = np.array_equal(scores[1], scores[args.n_jobs])
    print(f"cv_results_ mean test scores identical across n_jobs: {same}")


if __name__ == "__main__":
    main()
