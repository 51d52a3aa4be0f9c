"""
Quickstart: an MLPClassifier in a Pipeline
==========================================

:class:`skbatch.MLPClassifier` is a scikit-learn estimator: it goes into a
:class:`~sklearn.pipeline.Pipeline`, is scored by
:func:`~sklearn.model_selection.cross_val_score`, and records what the batch
size did during training (``batch_size_``, ``n_updates_per_epoch_``,
``loss_curve_``).
"""

# %%
# Train and score in a Pipeline
# -----------------------------
# Networks train best on standardised inputs, so the scaler is the first step.
# ``max_epochs`` is small to keep the example fast.
from sklearn.datasets import load_digits
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbatch import MLPClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

pipe = make_pipeline(
    StandardScaler(),
    MLPClassifier(hidden_layer_sizes=(64,), batch_size=64, max_epochs=10, random_state=0),
)
pipe.fit(X_train, y_train)
print(f"held-out accuracy: {pipe.score(X_test, y_test):.3f}")

clf = pipe[-1]
print(f"trained on {clf.device_} with batch_size_={clf.batch_size_}: {clf.n_updates_per_epoch_} updates per epoch for {clf.n_iter_} epochs")

# %%
# Cross-validation
# ----------------
# Each fold fits a fresh clone of the pipeline, exactly as with scikit-learn's
# own estimators.
scores = cross_val_score(pipe, X, y, cv=3)
print(f"3-fold accuracy: {scores.mean():.3f} +/- {scores.std():.3f}")

# %%
# What the batch size changes
# ---------------------------
# Smaller batches make more updates per epoch, so the training loss falls
# faster per epoch (each epoch also takes longer).
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6, 4))
for batch_size in (32, 128, 512):
    pipe.set_params(mlpclassifier__batch_size=batch_size).fit(X_train, y_train)
    clf = pipe[-1]
    ax.plot(range(1, clf.n_iter_ + 1), clf.loss_curve_, label=f"batch_size={batch_size} ({clf.n_updates_per_epoch_} updates/epoch)")
ax.set(xlabel="epoch", ylabel="training loss", yscale="log", title="Training loss on digits")
ax.legend()
fig.tight_layout()
fig.savefig("plot_quickstart.png")
