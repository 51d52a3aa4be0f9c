"""Fit time on a large sparse X against scikit-learn's MLP, side by side in one run, and peak memory.

A TF-IDF-like CSR matrix (16,000 x 40,000, about 330k non-zeros, float32)
is fitted by ``sklearn.neural_network.MLPClassifier`` and by
``skbatch.MLPClassifier`` with the same params (MLP(64), Adam, batch 256,
3 epochs, default ``alpha``), one thread each (torch and BLAS). scikit-learn
multiplies the sparse matrix directly; skbatch's first layer multiplies
each sparse batch directly too (``skbatch.training.sparse.sparse_linear``),
so both cost by the non-zeros, not by ``rows x n_features``. The target
is ``skbatch / scikit-learn <= 0.8``.

Then the peak memory of fit and predict on the 60,000 x 40,000 case, from
``bench_sparse_memory.py`` (a fresh subprocess), against its 1 GB limit.

Run: ``python benchmarks/bench_sparse_speed.py [--rows 16000] [--features 40000] [--nnz 330000] [--repeats 1]``
"""

import argparse
import statistics
import time
import warnings

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from threadpoolctl import threadpool_limits

import bench_sparse_memory
from skbatch import MLPClassifier

# Both fits train a fixed 3 epochs, which neither calls converged.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

TARGET_RATIO = 0.8


def tfidf_like(rows, features, nnz, seed=0):
    """A CSR float32 matrix with ``nnz`` entries at random places (duplicates summed), and 5 classes."""
    rng = np.random.default_rng(seed)
    X = sp.csr_matrix(
        (rng.random(nnz, dtype=np.float32), (rng.integers(0, rows, nnz), rng.integers(0, features, nnz))),
        shape=(rows, features),
    )
    return X, rng.integers(0, 5, rows)


def measure(X, y, *, epochs, repeats):
    """Seconds per fit of each library, ``repeats`` runs each, interleaved, and each one's training accuracy."""
    params = dict(hidden_layer_sizes=(64,), batch_size=256, random_state=0)
    runs = {
        "scikit-learn": lambda: SklearnMLPClassifier(max_iter=epochs, **params).fit(X, y),
        "skbatch": lambda: MLPClassifier(max_epochs=epochs, device="cpu", **params).fit(X, y),
    }
    times = {name: [] for name in runs}
    scores = {}
    # torch's one-time imports (its optimizers import torch._dynamo on first
    # use, seconds on a slow machine) and scikit-learn's, out of the timing:
    # a warm-up of each on a few rows, as bench_seed_grid.py does.
    SklearnMLPClassifier(max_iter=1, **params).fit(X[:512], y[:512])
    MLPClassifier(max_epochs=1, device="cpu", **params).fit(X[:512], y[:512])
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            model = run()
            times[name].append(time.perf_counter() - start)
            scores[name] = model.score(X, y)
    return times, scores


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=16_000)
    parser.add_argument("--features", type=int, default=40_000)
    parser.add_argument("--nnz", type=int, default=330_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--skip-memory", action="store_true", help="only the speed comparison")
    args = parser.parse_args()
    torch.set_num_threads(1)

    X, y = tfidf_like(args.rows, args.features, args.nnz)
    with threadpool_limits(1):
        times, scores = measure(X, y, epochs=args.epochs, repeats=args.repeats)
    print(
        f"CSR {args.rows} x {args.features}, {X.nnz} non-zeros, MLP(64), Adam, batch 256, "
        f"{args.epochs} epochs, 1 thread, median of {args.repeats}"
    )
    for name, samples in times.items():
        print(f"  {name:<12} {statistics.median(samples):7.2f} s   training accuracy {scores[name]:.3f}")
    ratio = statistics.median(times["skbatch"]) / statistics.median(times["scikit-learn"])
    verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
    print(f"skbatch / scikit-learn = {ratio:.2f} ({verdict} the {TARGET_RATIO} target)")

    if not args.skip_memory:
        memory = bench_sparse_memory.parse_args([])
        fit = bench_sparse_memory.run_stage("fit", memory)
        print(
            f"peak RSS, fit ({memory.epochs} epochs) + predict on {memory.rows} x {memory.features} "
            f"({fit['nnz']} non-zeros): {fit['peak_gb']:.2f} GB, fit {fit['fit_s']:.1f} s "
            f"({'under' if fit['peak_gb'] < bench_sparse_memory.LIMIT_GB else 'OVER'} "
            f"the {bench_sparse_memory.LIMIT_GB:.0f} GB limit)"
        )


if __name__ == "__main__":
    main()
