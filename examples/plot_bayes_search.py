"""
BayesSearchCV over batch size, learning rate and hidden layers
==============================================================

scikit-optimize's :class:`~skopt.BayesSearchCV` fits a model of the score
and proposes the next candidate where it expects the most gain, so it needs
fewer fits than a grid over the same three params.

``Categorical`` in scikit-optimize 0.10 cannot hold tuples, so the hidden
layers are given as strings: ``'128-64'`` means ``(128, 64)``.
"""

# %%
# The search space
# ----------------
# Batch size and learning rate span orders of magnitude, so both are searched
# on a log scale.
from sklearn.datasets import load_digits
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skopt import BayesSearchCV
from skopt.space import Categorical, Integer, Real

from skbatch import MLPClassifier

X, y = load_digits(return_X_y=True)

# The scaler sits in the pipeline, so each fold is scaled with statistics of
# its own training part only.
search_spaces = {
    "mlpclassifier__batch_size": Integer(16, 512, prior="log-uniform"),
    "mlpclassifier__lr": Real(1e-4, 1e-1, prior="log-uniform"),
    "mlpclassifier__hidden_layer_sizes": Categorical(["64", "128", "128-64"]),
}
search = BayesSearchCV(
    make_pipeline(StandardScaler(), MLPClassifier(max_epochs=10, random_state=0)),
    search_spaces,
    n_iter=10,
    cv=StratifiedKFold(3, shuffle=True, random_state=0),
    n_jobs=-1,
    random_state=0,
)
search.fit(X, y)
print("best_params_:")
for name, value in search.best_params_.items():
    print(f"    {name.removeprefix('mlpclassifier__')} = {value}")
print(f"best CV accuracy: {search.best_score_:.3f}")

# %%
# The candidates, in the order they were tried
# --------------------------------------------
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter

results = pd.DataFrame(search.cv_results_)
scores = results["mean_test_score"].to_numpy()

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
left.plot(np.arange(1, len(scores) + 1), scores, "o", label="candidate")
left.plot(np.arange(1, len(scores) + 1), np.maximum.accumulate(scores), label="best so far")
left.set(xlabel="iteration", ylabel="mean CV accuracy", title="Search progress")
left.legend()

points = right.scatter(
    results["param_mlpclassifier__batch_size"].astype(int), results["param_mlpclassifier__lr"].astype(float), c=scores, cmap="viridis", s=60
)
right.set(xscale="log", yscale="log", xlabel="batch_size", ylabel="lr", title="Where the search looked")
# Batch sizes span under two decades, where matplotlib labels every minor
# tick (2x10^1, 3x10^1, ...) and the labels run into each other.
sizes = [16, 32, 64, 128, 256, 512]
right.set_xticks(sizes, [str(size) for size in sizes])
right.xaxis.set_minor_formatter(NullFormatter())
fig.colorbar(points, ax=right, label="mean CV accuracy")
fig.tight_layout()
fig.savefig("plot_bayes_search.png")
