"""Peak memory of training and predicting on a large sparse X: it must stay under 1 GB.

A 60,000 x 40,000 CSR matrix with 1M non-zeros is 12 MB sparse and 9.6 GB
dense (float32). Each measurement runs in a fresh subprocess, so its peak
resident set size (``getrusage`` max RSS, which counts torch's allocations
as tracemalloc does not) is its own:

- ``import``: the interpreter with numpy, scipy, torch and skbatch loaded (the floor);
- ``fit``: that, plus building the matrix, ``MLPClassifier.fit`` and ``predict``.

Run: ``python benchmarks/bench_sparse_memory.py [--rows 60000] [--features 40000] [--nnz 1000000]``
"""

import argparse
import json
import resource
import subprocess
import sys
import time

LIMIT_GB = 1.0


def _peak_gb():
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def _child(args):
    import numpy as np
    import scipy.sparse as sp

    from skbatch import MLPClassifier

    result = {"import_gb": _peak_gb()}
    if args.stage == "fit":
        rng = np.random.default_rng(0)
        rows = rng.integers(0, args.rows, args.nnz)
        cols = rng.integers(0, args.features, args.nnz)
        X = sp.csr_matrix((rng.random(args.nnz, dtype=np.float32), (rows, cols)), shape=(args.rows, args.features))
        y = rng.integers(0, 5, args.rows)
        start = time.perf_counter()
        clf = MLPClassifier(hidden_layer_sizes=(64,), batch_size=256, max_epochs=args.epochs, random_state=0, device="cpu").fit(X, y)
        result["fit_s"] = time.perf_counter() - start
        result["predict_shape"] = list(clf.predict_proba(X).shape)
        result["nnz"] = int(X.nnz)
    result["peak_gb"] = _peak_gb()
    print(json.dumps(result))


def run_stage(stage, args):
    """Run one measurement (``'import'`` or ``'fit'``) in a fresh interpreter; its JSON result."""
    command = [sys.executable, __file__, "--child", stage]
    command += ["--rows", str(args.rows), "--features", str(args.features), "--nnz", str(args.nnz)]
    command += ["--epochs", str(args.epochs)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def parse_args(argv=None):
    """This script's options; ``[]`` gives the defaults (the 60,000 x 40,000 case)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--features", type=int, default=40_000)
    parser.add_argument("--nnz", type=int, default=1_000_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--child", dest="stage", choices=["import", "fit"], default=None)
    return parser.parse_args(argv)


def main():
    args = parse_args()
    if args.stage is not None:
        _child(args)
        return
    floor = run_stage("import", args)
    fit = run_stage("fit", args)
    dense_gb = args.rows * args.features * 4 / 1e9
    print(f"X: {args.rows} x {args.features}, {fit['nnz']} non-zeros ({dense_gb:.1f} GB if dense float32)")
    print(f"peak RSS after imports:           {floor['peak_gb']:.2f} GB")
    print(f"peak RSS fit ({args.epochs} epochs) + predict: {fit['peak_gb']:.2f} GB (fit took {fit['fit_s']:.1f} s)")
    print(f"target: < {LIMIT_GB:.1f} GB -> {'OK' if fit['peak_gb'] < LIMIT_GB else 'FAILED'}")


if __name__ == "__main__":
    main()
