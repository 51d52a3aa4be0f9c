"""
Which batch size, at which learning rate? A measured trade-off on digits
========================================================================

Batch size trades training speed, memory and generalization against each
other. :func:`skbatch.batch_size_study` measures all three for one network
on one dataset: it times a fit at each batch size, tracks its peak device
memory, and cross-validates it. The learning rate follows the batch size
(``lr_scaling='sqrt'``), so each batch size is compared at a fitting rate
rather than at one rate tuned for a single size.

Runs on the CPU in well under a minute and saves ``batch_size_study.png``
and ``learning_curves.png``.
"""

# %%
# The data and the estimator
# --------------------------
# Digits: 1797 images of 8x8 pixels, scaled to [0, 1]. A fixed epoch budget
# (no early stopping) makes every batch size pass over the data equally often.
import matplotlib

matplotlib.use("Agg")

import pandas as pd
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits

from skbatch import MLPClassifier, batch_size_study, plot_batch_size_study, plot_learning_curves

# A network this small gains nothing from more CPU threads; where cores are
# shared, extra threads only wait on each other and distort the timings.
torch.set_num_threads(1)

X, y = load_digits(return_X_y=True)
X = X / 16.0

estimator = MLPClassifier(
    hidden_layer_sizes=(64,),
    max_epochs=15,
    lr=1e-3,
    lr_scaling="sqrt",
    base_batch_size=64,
    n_iter_no_change=15,
    random_state=0,
    device="auto",
)

# %%
# The study
# ---------
# One row per batch size. ``'max'`` is the largest batch whose training step
# fits device memory; on the CPU, which sets no limit, it is every sample.
study = batch_size_study(estimator, X, y, batch_sizes=[16, 64, 256, "max"], cv=3)
with pd.option_context("display.width", 200, "display.max_columns", None, "display.precision", 3):
    print(study)

# %%
# Speed, memory and scores against batch size
# -------------------------------------------
# Larger batches process more samples per second but make fewer updates per
# epoch; with a fixed epoch budget, the cross-validated score shows where
# too few updates start to cost accuracy.
fig = plot_batch_size_study(study, title="MLP(64) on digits, 15 epochs, lr scaled by sqrt")
fig.savefig("batch_size_study.png", dpi=100)

# %%
# Learning curves
# ---------------
# Held-out accuracy per epoch needs held-out data, so these fits use
# ``early_stopping=True`` (10% of the data, stratified) with patience
# larger than the budget, which records the curve without stopping early.
curves = {f"batch {size}": clone(estimator).set_params(batch_size=size, early_stopping=True).fit(X, y) for size in (16, 256, "max")}
fig = plot_learning_curves(curves, title="Loss and validation accuracy per epoch")
fig.savefig("learning_curves.png", dpi=100)
