"""
The grid users write, in one stack
==================================

scikit-learn's MLP tutorial tunes the hidden layers' width, the activation,
the solver and the learning-rate schedule together. In
:class:`skbatch.FusedGridSearchCV`, every fold model of every such candidate
trains in one stacked model: narrower networks are padded with units held
at exactly zero (or get a block of their own when padding would cost too
much), each model applies its own activation and its own solver's update to
its own rows, and with ``early_stopping=True`` each holds out its own
validation rows and leaves the stack when its own rule stops it. Each model
still equals its own fit, so the search gives ``GridSearchCV``'s answer.
"""

# %%
# The grid
# --------
# 2 widths x 2 activations x 2 solvers x 2 schedules, 3-fold, on 1,000
# digits, with early stopping: 48 fits, which ``GridSearchCV`` trains one at
# a time. Each fit runs at most 8 epochs, a fixed budget for an example, so
# scikit-learn's ConvergenceWarning for the fits still improving is silenced.
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from skbatch import FusedGridSearchCV, MLPClassifier

warnings.filterwarnings("ignore", category=ConvergenceWarning)
X, y = load_digits(return_X_y=True)
X, y = X[:1000] / 16.0, y[:1000]

estimator = MLPClassifier(max_epochs=8, batch_size=32, early_stopping=True, n_iter_no_change=2, random_state=0)
param_grid = {
    "hidden_layer_sizes": [(32,), (64,)],
    "activation": ["tanh", "relu"],
    "solver": ["sgd", "adam"],
    "learning_rate": ["constant", "adaptive"],
}
cv = StratifiedKFold(3, shuffle=True, random_state=0)
estimator.fit(X[:200], y[:200])  # torch's start-up, out of both timings

searches, times = {}, {}
for search_class in (GridSearchCV, FusedGridSearchCV):
    search = search_class(estimator, param_grid, cv=cv)
    start = time.perf_counter()
    searches[search_class.__name__] = search.fit(X, y)
    times[search_class.__name__] = time.perf_counter() - start
plain, fused = searches["GridSearchCV"], searches["FusedGridSearchCV"]
for name, seconds in times.items():
    print(f"{name:<18} {seconds:5.1f} s")

# %%
# One stack, the same answer
# --------------------------
# ``fused_stacks_`` has one row per stack: one here, holding every fold
# model of the 16 candidates. ``epochs`` is the most any of them ran, and
# ``epochs_trained`` adds up the epochs each ran: a model whose own rule
# stops it leaves the stack then, and costs nothing after.
print(fused.fused_stacks_[["n_models", "batch_size", "epochs", "epochs_trained"]])
print("unfused fits:", fused.unfused_fits_)
print(f"best_params_ equal: {plain.best_params_ == fused.best_params_}")
gap = np.abs(plain.cv_results_["mean_test_score"] - fused.cv_results_["mean_test_score"]).max()
print(f"largest difference in mean_test_score: {gap:.1e}")

# %%
# Each candidate's score, both ways
# ---------------------------------
# The points lie on the diagonal: each model of the stack is its own fit.
fig, ax = plt.subplots(figsize=(5, 5))
colors = {"sgd": "tab:blue", "adam": "tab:orange"}
for params, plain_score, fused_score in zip(
    plain.cv_results_["params"], plain.cv_results_["mean_test_score"], fused.cv_results_["mean_test_score"]
):
    ax.scatter(plain_score, fused_score, color=colors[params["solver"]], s=10 + params["hidden_layer_sizes"][0] / 2)
low = min(plain.cv_results_["mean_test_score"].min(), fused.cv_results_["mean_test_score"].min()) - 0.01
ax.plot([low, 1], [low, 1], color="grey", linewidth=0.8)
ax.set_xlabel("GridSearchCV mean test accuracy")
ax.set_ylabel("FusedGridSearchCV mean test accuracy")
ax.set_title("Widths, activations, solvers, schedules: one stack")
for solver, color in colors.items():
    ax.scatter([], [], color=color, label=f"solver={solver!r}")
ax.legend(loc="lower right")
fig.tight_layout()
fig.savefig("plot_heterogeneous_stack.png")
