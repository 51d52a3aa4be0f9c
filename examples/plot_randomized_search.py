"""
RandomizedSearchCV with scipy distributions
===========================================

:class:`~sklearn.model_selection.RandomizedSearchCV` draws each candidate
from distributions: ``scipy.stats.loguniform`` for the learning rate and the
L2 penalty, which span orders of magnitude, ``uniform`` for dropout, and a
list for what takes only a few values.
"""

# %%
# Distributions, not grids
# ------------------------
from scipy.stats import loguniform, uniform
from sklearn.datasets import load_digits
from sklearn.model_selection import RandomizedSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbatch import MLPClassifier, search_report

X, y = load_digits(return_X_y=True)
pipe = make_pipeline(StandardScaler(), MLPClassifier(max_epochs=10, random_state=0))

param_distributions = {
    "mlpclassifier__lr": loguniform(1e-4, 1e-1),
    "mlpclassifier__alpha": loguniform(1e-6, 1e-2),
    "mlpclassifier__dropout": uniform(0.0, 0.5),
    "mlpclassifier__batch_size": [16, 32, 64, 128, 256],
    "mlpclassifier__hidden_layer_sizes": [(64,), (128,), (128, 64)],
}
search = RandomizedSearchCV(
    pipe,
    param_distributions,
    n_iter=12,
    cv=StratifiedKFold(3, shuffle=True, random_state=0),
    n_jobs=-1,
    random_state=0,
)
search.fit(X, y)
print("best_params_:")
for name, value in search.best_params_.items():
    print(f"    {name} = {value}")
print(f"best CV accuracy: {search.best_score_:.3f}")
table = search_report(search)
columns = [*table.attrs["param_columns"], "mean_test_score", "std_test_score", "mean_fit_time"]
print(table[columns].head(5).to_string(float_format=lambda v: f"{v:.4g}"))

# %%
# Learning rate against batch size
# --------------------------------
# Larger batches make fewer updates per epoch, so within a fixed epoch budget
# they need a larger learning rate to reach the same accuracy.
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6, 4))
points = ax.scatter(table["lr"].astype(float), table["mean_test_score"], c=table["batch_size"].astype(int), cmap="plasma", norm="log", s=60)
ax.set(xscale="log", xlabel="lr", ylabel="mean CV accuracy", title="12 random candidates on digits")
fig.colorbar(points, ax=ax, label="batch_size")
fig.tight_layout()
fig.savefig("plot_randomized_search.png")
