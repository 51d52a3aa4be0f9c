"""Every GPU check in one run: the ``gpu``-marked tests and the GPU benchmarks, one summary line per figure.

Meant for a session that is lent a GPU for a few minutes: ``make gpu-check``
runs it once, in well under 10 minutes, and prints, at the end, a block of
lines to paste into a note:

- ``gpu tests``: ``pytest -m gpu`` on the suite;
- ``fit overhead``: skbatch's fit against a hand-written torch loop on CUDA
  (``bench_fit_overhead.measure``);
- ``fused vs unfused``: FusedGridSearchCV against GridSearchCV on CUDA
  (``bench_fused_cv.make_runs``);
- ``seed grid``: scikit-learn's tutorial grid (widths, activations,
  solvers, schedules; 24 candidates x 5 folds) in FusedGridSearchCV on
  CUDA, against skbatch's GridSearchCV on CUDA and scikit-learn's MLP on
  the CPU (``bench_seed_grid``), with its stacks;
- ``device pool``: the folds of a cross-validation with ``DevicePool('auto')``,
  which GPUs they trained on, out of those visible;
- ``memory across folds``: ``peak_memory_`` of each fold, and what the
  process still holds after;
- ``max batch``: ``find_max_batch_size`` against the largest batch that
  really trains, found by bisecting real fits under a memory cap.

Where torch sees no CUDA device it says so and exits 0 at once. Exits 1
if a test or a figure failed. ``--rehearse-on-cpu`` runs the checks that
do not need CUDA on the CPU, small, to try the script itself before a GPU
session spends its minutes on it.

Run: ``python benchmarks/gpu_check.py [--quick] [--rehearse-on-cpu]``
"""

import argparse
import gc
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def gpu_tests(args):
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-m", "gpu", "-p", "no:cacheprovider", "tests"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=args.test_timeout)
    print(done.stdout[-4000:], done.stderr[-2000:], sep="")
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "no output"
    if done.returncode not in (0, 5):  # 5: no test collected
        raise RuntimeError(f"pytest -m gpu exited {done.returncode}: {last}")
    return last


def fit_overhead(args):
    from bench_fit_overhead import TARGET_RATIO, measure

    repeats, epochs = (3 if args.quick else 5), (2 if args.rehearse_on_cpu else 10)
    parts = []
    # Default params (alpha=1e-4), then alpha=0, where plain skorch runs too.
    for alpha in (1e-4, 0.0):
        times = measure(device=args.device, repeats=repeats, epochs=epochs, alpha=alpha)
        medians = {name: statistics.median(samples) for name, samples in times.items()}
        ratio = medians["skbatch"] / medians["torch loop"]
        skorch = f", skorch {medians['skorch']:.3f} s" if "skorch" in medians else ""
        parts.append(
            f"alpha={alpha}: skbatch / torch loop = {ratio:.2f} "
            f"(torch {medians['torch loop']:.3f} s, skbatch {medians['skbatch']:.3f} s{skorch})"
        )
    return "; ".join(parts) + f" on {args.device} (target {TARGET_RATIO}x on the CPU; digits, MLP(100), batch 32)"


def fused_vs_unfused(args):
    import numpy as np
    from sklearn.datasets import load_digits

    from bench_fused_cv import make_runs

    X, y = load_digits(return_X_y=True)
    tile = 2 if args.quick else 5
    X, y = np.tile((X / 16).astype(np.float32), (tile, 1)), np.tile(y, tile)
    epochs = 5
    if args.rehearse_on_cpu:
        X, y, epochs = X[:600], y[:600], 1
    parts = []
    for batch_size in (32, 128):
        runs = make_runs(batch_size, epochs=epochs, device=args.device, n_features=X.shape[1], n_classes=10)
        runs["FusedGridSearchCV"](X[:300], y[:300])  # warm-up
        seconds = {}
        for name in ("GridSearchCV (skbatch)", "FusedGridSearchCV"):
            start = time.perf_counter()
            runs[name](X, y)
            seconds[name] = time.perf_counter() - start
        ratio = seconds["GridSearchCV (skbatch)"] / seconds["FusedGridSearchCV"]
        parts.append(
            f"batch {batch_size}: unfused / fused = {ratio:.2f} "
            f"({seconds['GridSearchCV (skbatch)']:.1f} s / {seconds['FusedGridSearchCV']:.1f} s)"
        )
    return "; ".join(parts) + f" on {args.device}, {X.shape[0]} rows, 4 lrs x 5 folds, {epochs} epochs"


def seed_grid(args):
    import numpy as np
    from sklearn.datasets import load_digits

    from bench_seed_grid import GRID, timed_searches

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    epochs = 3 if args.quick else 10
    if args.rehearse_on_cpu:
        X, y, epochs = X[:300], y[:300], 1
    searches, seconds = timed_searches(X, y, epochs=epochs, early_stopping=False, device=args.device, skip_unfused=False)
    fused = searches["skbatch FusedGridSearchCV"]
    same = fused.best_params_ == searches["skbatch GridSearchCV"].best_params_
    return (
        f"fused / unfused = {seconds['skbatch FusedGridSearchCV'] / seconds['skbatch GridSearchCV']:.2f} on {args.device}, "
        f"fused / scikit-learn (CPU) = {seconds['skbatch FusedGridSearchCV'] / seconds['scikit-learn GridSearchCV']:.2f} "
        f"({seconds['skbatch FusedGridSearchCV']:.1f} s / {seconds['skbatch GridSearchCV']:.1f} s / "
        f"{seconds['scikit-learn GridSearchCV']:.1f} s); {len(fused.fused_stacks_)} stack(s) of "
        f"{fused.fused_stacks_['n_models'].tolist()} models; same best_params_: {same}; "
        f"{len(GRID['hidden_layer_sizes']) * 8} candidates x 5 folds, {epochs} epochs, {len(X)} rows"
    )


def device_pool(args):
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import cross_validate

    from skbatch import DevicePool, MLPClassifier

    n_gpus = torch.cuda.device_count()
    X, y = load_digits(return_X_y=True)
    n_folds = max(3, 2 * n_gpus)
    estimator = MLPClassifier(max_epochs=10, random_state=0, device=DevicePool("auto"))
    results = cross_validate(estimator, X / 16, y, cv=n_folds, n_jobs=n_gpus, return_estimator=True)
    used = {fitted.device_uuid_ for fitted in results["estimator"]}
    spread = "all" if len(used) == n_gpus else "NOT all"
    return f"{n_folds} folds, n_jobs={n_gpus}, trained on {len(used)} of {n_gpus} visible GPUs ({spread})"


def memory_across_folds(args):
    import numpy as np
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import cross_validate

    from skbatch import MLPClassifier

    X, y = load_digits(return_X_y=True)
    X, y = np.tile(X / 16, (4, 1)), np.tile(y, 4)
    hidden = (1024, 1024)
    if args.rehearse_on_cpu:
        X, y, hidden = X[:500], y[:500], (16,)
    before = torch.cuda.memory_allocated() if args.device == "cuda" else 0
    estimator = MLPClassifier(hidden_layer_sizes=hidden, max_epochs=3, random_state=0, device=args.device)
    results = cross_validate(estimator, X, y, cv=5, n_jobs=1, return_estimator=True)
    peaks = [fitted.peak_memory_ for fitted in results["estimator"]]
    if None in peaks:  # the CPU's peak is not measured
        return f"peak_memory_ per fold: {peaks} (not measured on {args.device})"
    del results
    gc.collect()
    left = torch.cuda.memory_allocated() - before
    flat = "flat" if max(peaks) <= 1.05 * min(peaks) else "NOT flat"
    mb = [f"{peak / 2**20:.1f}" for peak in peaks]
    return f"peak_memory_ per fold (MB): {', '.join(mb)} ({flat}); held after the folds: {left / 2**20:+.1f} MB"


def max_batch(args):
    import numpy as np
    import torch

    from skbatch import MLPClassifier, find_max_batch_size
    from skbatch.training.max_batch import _search

    # A cap makes the limit a few GB whatever the card, so the bisection is quick.
    cap = 2 * 2**30
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(min(1.0, cap / total), 0)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40_000, 512)).astype(np.float32)
    y = rng.integers(0, 10, size=len(X))

    def estimator(batch_size=32):
        return MLPClassifier(hidden_layer_sizes=(4096, 4096), batch_size=batch_size, max_epochs=1, random_state=0, device="cuda:0")

    def trains(size):
        try:
            estimator(size).fit(X, y)
            return True
        except torch.OutOfMemoryError:
            return False
        finally:
            gc.collect()
            torch.cuda.empty_cache()

    try:
        found = find_max_batch_size(estimator(), X, y).batch_size
        real = _search(trains, len(X), start=found, rtol=0).batch_size
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, 0)
    verdict = "fits" if found <= real else "DOES NOT FIT"
    return (
        f"find_max_batch_size = {found}, largest batch a fit trains = {real} "
        f"({found / real:.1%} of it; the answer {verdict}) under a {cap / 2**30:.0f} GiB cap, MLP(4096, 4096)"
    )


# The checks that mean something only on a GPU; a rehearsal on the CPU skips them.
_CUDA_ONLY = {"gpu tests", "device pool", "max batch"}

CHECKS = {
    "gpu tests": gpu_tests,
    "fit overhead": fit_overhead,
    "fused vs unfused": fused_vs_unfused,
    "seed grid": seed_grid,
    "device pool": device_pool,
    "memory across folds": memory_across_folds,
    "max batch": max_batch,
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and less data")
    parser.add_argument("--test-timeout", type=float, default=300, help="seconds for pytest -m gpu")
    parser.add_argument("--rehearse-on-cpu", action="store_true", help="try the script on the CPU, small")
    args = parser.parse_args(argv)

    import torch

    args.device = "cpu" if args.rehearse_on_cpu else "cuda"
    if args.rehearse_on_cpu:
        args.quick = True
    elif not torch.cuda.is_available():
        print(f"gpu-check: skipped: torch {torch.__version__} sees no CUDA device here; nothing to run.")
        return 0

    sys.path.insert(0, str(HERE))  # the benchmarks, imported for their functions
    names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())) or "none"
    print(f"gpu-check: torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.device_count()} GPU(s): {names}")
    summary, failed = [], False
    for name, check in CHECKS.items():
        if args.rehearse_on_cpu and name in _CUDA_ONLY:
            summary.append(f"{name}: skipped in a rehearsal on the CPU")
            continue
        print(f"\n== {name}", flush=True)
        start = time.perf_counter()
        try:
            line = check(args)
        except Exception as error:  # report it, and run the other checks
            traceback.print_exc()
            line, failed = f"FAILED: {type(error).__name__}: {error}", True
        summary.append(f"{name}: {line} [{time.perf_counter() - start:.0f} s]")
        print(summary[-1], flush=True)
    print("\ngpu-check summary")
    print("\n".join(summary))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
