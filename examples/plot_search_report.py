"""
Watch, resume and read a hyperparameter search
==============================================

A grid search over batch size and learning rate of an MLP on the digits
dataset, as a data scientist runs it in a notebook:

- :func:`skbatch.progress_bar` shows how many fits are done and how long
  the rest will take;
- ``cache_dir`` keeps every finished fit, so running the search again (after
  Ctrl-C, a crash, or a restarted kernel) trains only what is missing;
- a learning rate that is far too high diverges: that candidate is scored
  with ``error_score`` and the search goes on;
- :func:`skbatch.search_report` gives one row per candidate with the device
  and fit time of every split and the reason of every failure, and
  :func:`skbatch.plot_search` plots the score against each param.
"""

# %%
# The search
# ----------
import tempfile
import time
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbatch import MLPClassifier, plot_search, progress_bar, search_report

X, y = load_digits(return_X_y=True)
cache_dir = tempfile.mkdtemp(prefix="skbatch-example-")

pipeline = make_pipeline(
    StandardScaler(),
    MLPClassifier(hidden_layer_sizes=(64,), solver="sgd", max_epochs=5, random_state=0, cache_dir=cache_dir),
)
grid = {
    "mlpclassifier__batch_size": [64, 256],
    # 1e4 diverges: those fits fail with a NonFiniteLossError naming lr and batch size.
    "mlpclassifier__lr": [1e-2, 1e-1, 1e4],
}
search = GridSearchCV(pipeline, grid, cv=StratifiedKFold(3, shuffle=True, random_state=0), error_score=np.nan, n_jobs=1)

# %%
# First run, with a progress bar over all 18 fits
# -----------------------------------------------
with warnings.catch_warnings():
    warnings.simplefilter("ignore", (FitFailedWarning, UserWarning))
    start = time.perf_counter()
    with progress_bar():
        search.fit(X, y)
    first = time.perf_counter() - start

# %%
# Second run, same cache directory: nothing is retrained
# ------------------------------------------------------
# The failed fits are tried again (a failure such as out of memory may not
# recur), the finished ones are restored.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", (FitFailedWarning, UserWarning))
    start = time.perf_counter()
    search.fit(X, y)
    second = time.perf_counter() - start
print(f"first run {first:.1f} s, rerun from the cache {second:.1f} s")
print("best_params_:", search.best_params_)

# %%
# The report
# ----------
report = search_report(search, X, y)
columns = report.attrs["param_columns"] + [
    "mean_test_score",
    "rank_test_score",
    "split0_device",
    "split0_fit_time",
    "n_failed_fits",
]
with pd.option_context("display.width", 160, "display.max_columns", 20, "display.max_colwidth", 60):
    print(report[columns].to_string(float_format=lambda v: f"{v:.3g}"))
    print()
    print(report.loc[report["n_failed_fits"] > 0, "errors"].iloc[0][:200])

# %%
# Score against each param
# ------------------------
figure = plot_search(search)
figure.savefig("search_report.png", dpi=100)
