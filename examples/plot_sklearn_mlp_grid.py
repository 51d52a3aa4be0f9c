"""
scikit-learn's MLP grid, unchanged
==================================

A grid written for :class:`sklearn.neural_network.MLPClassifier` runs
unchanged on :class:`skbatch.MLPClassifier`: the params have the same names
and meanings. Only the epoch budget differs in name (``max_iter`` there,
``max_epochs`` here), and it is not part of the grid.
"""

# %%
# The grid
# --------
# This is the grid from countless scikit-learn tutorials, as is.
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, StratifiedKFold

import skbatch

param_grid = {
    "hidden_layer_sizes": [(50,), (100,), (150,)],
    "activation": ["tanh", "relu"],
    "solver": ["sgd", "adam"],
    "learning_rate": ["constant", "adaptive"],
}

X, y = load_digits(return_X_y=True)
# Pixels run from 0 to 16; dividing by the known range fits nothing on the
# data, so no statistics leak from the test folds into training.
X = X / 16.0
cv = StratifiedKFold(3, shuffle=True, random_state=0)

# %%
# The search
# ----------
# 24 candidates x 3 folds. ``max_epochs=10`` keeps it fast; ``lr=1e-2`` is
# scikit-learn's ``learning_rate_init`` default times ten, which suits the
# short budget.
search = GridSearchCV(
    skbatch.MLPClassifier(max_epochs=10, lr=1e-2, random_state=0),
    param_grid,
    cv=cv,
    n_jobs=-1,
)
search.fit(X, y)
print(f"best_params_: {search.best_params_}")
print(f"best CV accuracy: {search.best_score_:.3f}")

# %%
# Reading the results
# -------------------
# :func:`skbatch.search_report` turns the search into a table, best first.
from skbatch import search_report

table = search_report(search)
columns = [*table.attrs["param_columns"], "mean_test_score", "std_test_score", "mean_fit_time"]
print(table[columns].head(8).to_string(float_format=lambda v: f"{v:.3f}"))

# %%
# Plain SGD at a constant rate lags Adam over so few epochs; the adaptive
# schedule cannot help much in 10 epochs either.
import matplotlib.pyplot as plt

table["candidate"] = table.apply(lambda r: f"{r.solver}, {r.learning_rate}, {r.activation}, {r.hidden_layer_sizes[0]}", axis=1)
fig, ax = plt.subplots(figsize=(6, 6))
ax.barh(table["candidate"][::-1], table["mean_test_score"][::-1], xerr=table["std_test_score"][::-1], color="tab:blue")
ax.set(xlabel="mean CV accuracy", title="The 24 candidates, best on top", xlim=(max(0, table["mean_test_score"].min() - 0.1), 1))
ax.tick_params(axis="y", labelsize=7)
fig.tight_layout()
fig.savefig("plot_sklearn_mlp_grid.png")
