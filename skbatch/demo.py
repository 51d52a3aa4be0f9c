"""The bundled demo: a cross-validated search over batch size, learning rate and depth on digits.

Run with ``python -m skbatch.demo`` (or ``make demo``).
"""

import argparse
import time
import warnings

import pandas as pd
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .estimators.mlp import MLPClassifier
from .inspection.report import search_report

__all__ = ["run_demo", "results_table"]

PARAM_GRID = {
    "mlpclassifier__batch_size": [16, 64, 256],
    "mlpclassifier__lr": [1e-3, 1e-2],
    "mlpclassifier__hidden_layer_sizes": [(64,), (128, 64)],
}


def results_table(search, top=None):
    """Return a finished search's ``cv_results_`` as a ranked DataFrame.

    Parameters
    ----------
    search : fitted GridSearchCV, RandomizedSearchCV or BayesSearchCV
        The search to summarise.
    top : int, default=None
        Keep only the best ``top`` candidates.

    Returns
    -------
    pandas.DataFrame
        One row per candidate: its params (prefixes stripped), mean and std
        test score, rank and mean fit time in seconds, best first: the
        first columns of :func:`skbatch.search_report`, which has more.
    """
    report = search_report(search)
    scores = ["mean_test_score", "std_test_score", "rank_test_score", "mean_fit_time"]
    columns = report.attrs["param_columns"] + scores
    table = report[columns]
    return table if top is None else table.head(top)


def run_demo(*, cv=5, max_epochs=20, n_jobs=-1, random_state=0):
    """Search batch size, lr and hidden layers of an MLP on digits; return the fitted search."""
    X, y = load_digits(return_X_y=True)
    pipeline = make_pipeline(
        StandardScaler(),
        MLPClassifier(max_epochs=max_epochs, random_state=random_state),
    )
    search = GridSearchCV(
        pipeline,
        PARAM_GRID,
        cv=StratifiedKFold(cv, shuffle=True, random_state=random_state),
        n_jobs=n_jobs,
    )
    with warnings.catch_warnings():
        # Every fit gets the same epoch budget, so that batch sizes compare at
        # equal epochs; most stop there before the stopping rule is met, which
        # scikit-learn's MLP (and skbatch's, which follows it) warns about once
        # per fit. The demo says so once instead.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return search.fit(X, y)


def main(argv=None, prog="python -m skbatch.demo"):
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--cv", type=int, default=5, help="number of folds (default: 5)")
    parser.add_argument("--max-epochs", type=int, default=20, help="epochs per fit (default: 20)")
    parser.add_argument("--n-jobs", type=int, default=-1, help="parallel fits (default: all cores)")
    args = parser.parse_args(argv)

    n_candidates = (
        len(PARAM_GRID["mlpclassifier__batch_size"])
        * len(PARAM_GRID["mlpclassifier__lr"])
        * len(PARAM_GRID["mlpclassifier__hidden_layer_sizes"])
    )
    print(f"GridSearchCV on digits (1797 images, 10 classes): {n_candidates} candidates x {args.cv} folds, {args.max_epochs} epochs each")
    start = time.perf_counter()
    search = run_demo(cv=args.cv, max_epochs=args.max_epochs, n_jobs=args.n_jobs)
    elapsed = time.perf_counter() - start

    best = {k.rsplit("__", 1)[-1]: v for k, v in search.best_params_.items()}
    print(f"\nbest_params_: {best}")
    print(f"best CV accuracy: {search.best_score_:.4f}")
    print(f"search time: {elapsed:.1f} s")
    print(f"(a budget of {args.max_epochs} epochs per fit: the ConvergenceWarning of fits that used it all is silenced)\n")
    with pd.option_context("display.width", 120, "display.max_columns", 20):
        print(results_table(search, top=8).to_string(float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()
