"""
A convolutional network against a multilayer perceptron on digits
=================================================================

Digits are 8x8 images, stored as rows of 64 pixels. An MLP sees those rows as
64 unrelated numbers; :class:`skbatch.ConvNetClassifier` reshapes each row
to an image (``image_shape=(8, 8)``) and learns local strokes with small
shared kernels. Both train for the same number of epochs, with the same
batch size and learning rate, and are compared by 5-fold cross-validation.
"""

# %%
# Data and the two estimators
# ---------------------------
# Pixels range from 0 to 16; dividing by 16 puts them in [0, 1] for both
# networks. Everything but the architecture is shared.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import StratifiedKFold, cross_validate

from skbatch import ConvNetClassifier, MLPClassifier

X, y = load_digits(return_X_y=True)
X = X / 16

training = {"max_epochs": 20, "batch_size": 64, "lr": 3e-3, "random_state": 0, "device": "cpu"}
estimators = {
    "MLPClassifier (100,)": MLPClassifier(hidden_layer_sizes=(100,), **training),
    "ConvNetClassifier (16, 32)": ConvNetClassifier(
        image_shape=(8, 8), channels=(16, 32), kernel_size=3, pooling="max", dense_layer_sizes=(64,), **training
    ),
}

# %%
# Cross-validated accuracy at equal epochs
# ----------------------------------------
# ``n_jobs=-1`` trains each fold in its own process, and joblib gives each
# process its share of the cores: networks this small run several times
# faster on one thread per fold than on all cores in turn.
cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
results = {name: cross_validate(estimator, X, y, cv=cv, return_estimator=True, n_jobs=-1) for name, estimator in estimators.items()}
for name, result in results.items():
    scores = result["test_score"]
    print(f"{name:<28} accuracy {scores.mean():.4f} +/- {scores.std():.4f}")

# %%
# Per-fold accuracy and training loss
# -----------------------------------
# Left: each fold's held-out accuracy. Right: the training loss of each
# fold's network per epoch (``loss_curve_``).
fig, (ax_score, ax_loss) = plt.subplots(1, 2, figsize=(10, 4))
for position, (name, result) in enumerate(results.items()):
    scores = result["test_score"]
    ax_score.bar(position, scores.mean(), color=f"C{position}", alpha=0.4)
    ax_score.scatter(np.full(len(scores), position), scores, color=f"C{position}")
    for fold, estimator in enumerate(result["estimator"]):
        ax_loss.plot(estimator.loss_curve_, color=f"C{position}", label=name if fold == 0 else None)
ax_score.set_xticks(range(len(results)), list(results), fontsize=8)
ax_score.set_ylim(0.85, 1.0)
ax_score.set_ylabel("5-fold test accuracy")
ax_loss.set_xlabel("epoch")
ax_loss.set_ylabel("training loss")
ax_loss.set_yscale("log")
ax_loss.legend()
fig.tight_layout()
fig.savefig("plot_convnet_digits.png", dpi=100)
