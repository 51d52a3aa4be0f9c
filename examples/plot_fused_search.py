"""
Fused cross-validation: the same search in less time
====================================================

:class:`skbatch.FusedGridSearchCV` takes exactly the params of
scikit-learn's :class:`~sklearn.model_selection.GridSearchCV` and gives the
same results. What changes is how the fold models train: the candidates
that share an architecture and a batch size, and all their folds, train
together as one stacked model, each with its own weights, rows, learning
rate and optimizer state. For small networks a training step is mostly
Python and kernel launches, so one stacked step costs little more than one
ordinary step.
"""

# %%
# The grid
# --------
# Three learning rates and two batch sizes, 3-fold: 18 fits of an MLP with
# 100 hidden units. Both searches get the same estimator, grid and folds.
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from skbatch import FusedGridSearchCV, MLPClassifier

X, y = load_digits(return_X_y=True)
X = X / 16.0  # pixels run from 0 to 16: a known range, nothing fitted on the test folds

estimator = MLPClassifier(hidden_layer_sizes=(100,), max_epochs=8, random_state=0)
param_grid = {"lr": [3e-4, 1e-3, 3e-3], "batch_size": [32, 64]}
cv = StratifiedKFold(3, shuffle=True, random_state=0)

# %%
# Both searches, timed
# --------------------
# ``n_jobs=1`` in both, so the times compare training and nothing else.
# ``cv`` has a ``random_state``: fusing needs the same folds at every call
# to ``split``. The first fit in a process pays for torch's start-up, so
# one short fit comes before either timing.
estimator.fit(X[:200], y[:200])

times = {}
searches = {}
for search_class in (GridSearchCV, FusedGridSearchCV):
    search = search_class(estimator, param_grid, cv=cv, n_jobs=1)
    start = time.perf_counter()
    search.fit(X, y)
    times[search_class.__name__] = time.perf_counter() - start
    searches[search_class.__name__] = search

for name, seconds in times.items():
    print(f"{name:<18} {seconds:5.2f} s")
print(f"speedup: {times['GridSearchCV'] / times['FusedGridSearchCV']:.1f}x")

# %%
# On data this small, with so few epochs, what every fit costs besides
# training (writing and reading the fit cache, scoring, the refit of the
# best candidate) is a large share of the fused search, so the speedup
# grows with the training time; ``benchmarks/bench_fused_cv.py`` measures
# it on a larger grid.

# %%
# The same results
# ----------------
# Each fused model starts from the weights its own fit would draw and
# visits its rows in the same order, so its scores match the ordinary
# fit's up to floating-point rounding.
plain, fused = searches["GridSearchCV"], searches["FusedGridSearchCV"]
print(f"best_params_: {plain.best_params_} and {fused.best_params_}")
n_candidates = len(plain.cv_results_["params"])
gap = np.abs(plain.cv_results_["mean_test_score"] - fused.cv_results_["mean_test_score"]).max()
print(f"largest difference in mean_test_score over the {n_candidates} candidates: {gap:.4f}")

# %%
# What was fused
# --------------
# ``fused_stacks_`` has one row per stack: here one per batch size,
# each holding the 3 learning rates x 3 folds. ``unfused_fits_`` says why
# any fit trained on its own; it is empty.
print(fused.fused_stacks_.to_string(float_format=lambda v: f"{v:.2f}"))
print(f"unfused_fits_: {fused.unfused_fits_}")

# %%
# The two times
# -------------
# Both include the refit of the best candidate on all the data, which is
# one ordinary fit either way.
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(5, 3))
ax.barh(list(times)[::-1], list(times.values())[::-1], color=["tab:orange", "tab:blue"])
ax.set(xlabel="wall time (s)", title=f"{n_candidates} candidates x 3 folds on digits")
fig.tight_layout()
fig.savefig("plot_fused_search.png")
