"""
Your own torch module as a scikit-learn classifier
==================================================

:class:`skbatch.TorchClassifier` trains any ``torch.nn.Module`` class the
way it trains the built-in networks: the module is built in ``fit`` with its
input shape and number of classes taken from the data, batches are slices
of tensors on the training device, and the estimator goes into pipelines and
searches like any other.

The contract: ``fit`` calls ``module(n_features_in=..., n_classes=...,
**module_kwargs)`` when each sample is a vector, or ``module(input_shape=...,
n_classes=..., **module_kwargs)`` when samples have more dimensions (an ``X``
of 3+ dimensions, or rows reshaped by ``image_shape``). ``forward`` returns
one unnormalised score per class. :class:`skbatch.TorchRegressor` is the
same with ``n_outputs`` in place of ``n_classes``.
"""

# %%
# A module written here
# ---------------------
# One convolution, a 2x2 max pooling and a linear layer on top; nothing in
# it knows about digits. ``input_shape`` is ``(channels, height, width)``,
# filled in by ``fit``; ``width`` is the module's own hyperparameter.
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from torch import nn

from skbatch import TorchClassifier
from skbatch.demo import results_table


class OneConvNet(nn.Module):
    def __init__(self, input_shape, n_classes, width=8):
        super().__init__()
        channels, height, width_px = input_shape
        self.features = nn.Sequential(
            nn.Conv2d(channels, width, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.classify = nn.Linear(width * (height // 2) * (width_px // 2), n_classes)

    def forward(self, X):
        return self.classify(self.features(X))


# %%
# Wrap it, and search it like any estimator
# -----------------------------------------
# ``image_shape=(1, 8, 8)`` turns each row of 64 pixels into a one-channel
# image, so the module receives ``input_shape=(1, 8, 8)``. The search varies
# the module's own ``width`` through ``module_kwargs`` and the batch size.
X, y = load_digits(return_X_y=True)
X = X / 16

clf = TorchClassifier(module=OneConvNet, image_shape=(1, 8, 8), max_epochs=10, lr=3e-3, random_state=0, device="cpu")
grid = {
    "module_kwargs": [{"width": 4}, {"width": 16}],
    "batch_size": [32, 128],
}
# One process per fit: joblib gives each its share of the cores, which suits
# networks this small better than all cores on one fit.
search = GridSearchCV(clf, grid, cv=StratifiedKFold(3, shuffle=True, random_state=0), n_jobs=-1)
search.fit(X, y)
print(results_table(search).to_string(index=False))
print("best:", search.best_params_, f"accuracy {search.best_score_:.4f}")

# %%
# What fit filled in
# ------------------
best = search.best_estimator_
print("input_shape_:", best.input_shape_, "classes:", len(best.classes_))
print(best.net_.module_)

# %%
# Accuracy by batch size and width
# --------------------------------
table = results_table(search)
fig, ax = plt.subplots(figsize=(5, 3.5))
for width in (4, 16):
    rows = table[table["module_kwargs"].map(lambda kwargs: kwargs["width"]) == width].sort_values("batch_size")
    ax.errorbar(rows["batch_size"], rows["mean_test_score"], yerr=rows["std_test_score"], marker="o", label=f"width={width}")
ax.set_xscale("log", base=2)
ax.set_xlabel("batch_size")
ax.set_ylabel("3-fold accuracy")
ax.set_title("OneConvNet in TorchClassifier")
ax.legend()
fig.tight_layout()
fig.savefig("plot_custom_module.png", dpi=100)
