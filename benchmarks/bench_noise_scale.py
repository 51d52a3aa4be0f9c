"""Overhead of ``track_noise_scale=True`` on fit time, measured side by side.

Fits the same MLPClassifier (same seed, epochs, batch size) on digits with
and without tracking the gradient noise scale, interleaved ``--repeats``
times, and reports the median of each and their ratio. The target is
``tracked / plain <= 1.10``: the tracker only reuses the gradients the fit
computes (a copy every other step and one dot product per pair of batches).

Run: ``python benchmarks/bench_noise_scale.py [--batch-size 32] [--epochs 10] [--repeats 5]``
"""

import argparse
import statistics
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from skbatch import MLPClassifier

# Every fit trains a fixed epoch budget, as a benchmark must; the ConvergenceWarning
# scikit-learn's MLP (and skbatch's) raises for each such fit says nothing here.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

TARGET_RATIO = 1.10


def fit_seconds(X, y, *, track, batch_size, epochs, hidden):
    clf = MLPClassifier(
        hidden_layer_sizes=hidden,
        batch_size=batch_size,
        max_epochs=epochs,
        n_iter_no_change=epochs + 1,
        track_noise_scale=track,
        random_state=0,
        device="cpu",
    )
    return clf.fit(X, y).fit_time_


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--hidden", type=int, nargs="+", default=[100])
    args = parser.parse_args()
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    kwargs = {"batch_size": args.batch_size, "epochs": args.epochs, "hidden": tuple(args.hidden)}
    fit_seconds(X, y, track=True, **kwargs)  # warm-up: lazy initialisation, allocator caches
    times = {False: [], True: []}
    for _ in range(args.repeats):
        for track in (False, True):
            times[track].append(fit_seconds(X, y, track=track, **kwargs))
    plain, tracked = statistics.median(times[False]), statistics.median(times[True])
    ratio = tracked / plain
    print(f"digits, MLP {tuple(args.hidden)}, batch_size={args.batch_size}, {args.epochs} epochs, median of {args.repeats}")
    print(f"  plain fit                  {plain:8.3f} s")
    print(f"  track_noise_scale=True     {tracked:8.3f} s")
    print(f"  overhead ratio             {ratio:8.3f}  (target <= {TARGET_RATIO})  {'OK' if ratio <= TARGET_RATIO else 'OVER'}")


if __name__ == "__main__":
    main()
