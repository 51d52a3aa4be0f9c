"""
How large should a batch be? The gradient noise scale, measured
===============================================================

McCandlish et al. (2018) show that the gradient noise scale
``B_simple = tr(Sigma) / |G|^2`` predicts the critical batch size: below
it, doubling the batch nearly halves the steps training needs; above it,
the extra examples per step are mostly wasted. It grows as the loss falls.

This example measures it three ways, on digits (1797 images, shipped with
scikit-learn) and on a generated dataset of 20,000 rows
(:func:`~sklearn.datasets.make_classification`, 40 features, 5 classes;
nothing is downloaded):

- during training, for free, with ``track_noise_scale=True``;
- exactly, from per-example gradients, with
  :func:`skbatch.gradient_noise_scale`;
- in :func:`skbatch.batch_size_study`, which turns it into goodput
  (samples per second times statistical efficiency, as in Pollux) and
  recommends a batch size.

Then ``batch_size_growth='noise'`` lets the batch follow the noise scale
while training. Runs on the CPU in under a minute and saves
``noise_scale.png`` and ``noise_scale_study.png``.
"""

# %%
# The data
# --------
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits, make_classification

from skbatch import MLPClassifier, batch_size_study, gradient_noise_scale, plot_batch_size_study

X_digits, y_digits = load_digits(return_X_y=True)
X_digits = (X_digits / 16).astype(np.float32)
X_synth, y_synth = make_classification(n_samples=20_000, n_features=40, n_informative=20, n_classes=5, class_sep=0.8, random_state=0)
X_synth = X_synth.astype(np.float32)
datasets = {"digits (1,797 rows)": (X_digits, y_digits), "make_classification (20,000 rows)": (X_synth, y_synth)}

# %%
# The noise scale over training
# -----------------------------
# ``track_noise_scale=True`` pairs consecutive batches and applies the
# paper's two-batch estimator to the gradients the fit computes anyway;
# ``noise_scale_curve_`` holds one value per epoch. At the end, the exact
# value from every row's own gradient checks it.
curves = {}
for name, (X, y) in datasets.items():
    clf = MLPClassifier(hidden_layer_sizes=(64,), batch_size=64, max_epochs=8, track_noise_scale=True, random_state=0, device="cpu").fit(
        X, y
    )
    exact = gradient_noise_scale(clf, X, y)
    curves[name] = (clf.noise_scale_curve_, exact.b_simple)
    print(f"{name}: tracked {clf.noise_scale_curve_[-1]:.0f}, exact {exact.b_simple:.0f} ({exact.method})")

# %%
# Goodput and the recommendation
# ------------------------------
# Larger batches run more samples per second, but each sample buys less
# progress once the batch passes the noise scale. Goodput weighs the two.
study = batch_size_study(
    MLPClassifier(hidden_layer_sizes=(64,), max_epochs=6, random_state=0, device="cpu"),
    X_digits,
    y_digits,
    batch_sizes=[16, 64, 256, 1024],
    cv=2,
)
print(
    study[["batch_size_used", "samples_per_second", "noise_scale", "statistical_efficiency", "goodput", "cv_score", "recommended"]]
    .round(3)
    .to_string(index=False)
)

# %%
# A batch that grows with the noise scale
# ---------------------------------------
# ``batch_size_growth='noise'`` starts small and, at each epoch, grows the
# batch toward the noise scale measured so far (at most doubling, within
# the largest batch that fits in memory): the adaptive batch size of
# McCandlish et al., in place of a decaying learning rate.
adaptive = MLPClassifier(
    hidden_layer_sizes=(64,), batch_size=16, batch_size_growth="noise", max_epochs=8, random_state=0, device="cpu"
).fit(X_synth, y_synth)
print("batch size per epoch:", adaptive.batch_size_curve_)

# %%
# The figures
# -----------
fig, (ax_noise, ax_goodput, ax_adaptive) = plt.subplots(1, 3, figsize=(15, 4.2))
for (name, (curve, exact)), color in zip(curves.items(), ["tab:blue", "tab:orange"]):
    epochs = np.arange(1, len(curve) + 1)
    ax_noise.plot(epochs, curve, "o-", color=color, label=f"{name}, tracked")
    ax_noise.plot(epochs[-1], exact, "*", markersize=14, color=color, label=f"{name}, exact at the end")
ax_noise.set_xlabel("epoch")
ax_noise.set_ylabel("gradient noise scale B_simple")
ax_noise.set_title("noise scale over training (batch 64)")
ax_noise.legend(fontsize="x-small")

sizes = study["batch_size_used"]
ax_goodput.plot(sizes, study["samples_per_second"], "o--", color="tab:gray", label="samples / s")
ax_goodput.plot(sizes, study["goodput"], "^-", color="tab:green", label="goodput")
best = study[study["recommended"]].iloc[0]
ax_goodput.axvline(best["batch_size_used"], color="tab:green", linestyle=":")
ax_goodput.annotate(
    f"recommended: {best['batch_size_used']}\nCV score {best['cv_score']:.3f}",
    xy=(best["batch_size_used"], best["goodput"]),
    xytext=(0.05, 0.8),
    textcoords="axes fraction",
    color="tab:green",
    arrowprops={"arrowstyle": "->", "color": "tab:green"},
)
ax_goodput.set_xscale("log", base=2)
ax_goodput.set_xlabel("batch size")
ax_goodput.set_ylabel("samples per second")
ax_goodput.set_title("goodput on digits")
ax_goodput.legend(fontsize="small", loc="lower right")

epochs = np.arange(1, len(adaptive.batch_size_curve_) + 1)
ax_adaptive.plot(epochs, adaptive.batch_size_curve_, "o-", label="batch size")
ax_adaptive.plot(epochs, adaptive.noise_scale_curve_, "s--", color="tab:orange", label="noise scale (tracked)")
ax_adaptive.set_yscale("log", base=2)
ax_adaptive.set_xlabel("epoch")
ax_adaptive.set_title("batch_size_growth='noise' (make_classification)")
ax_adaptive.legend(fontsize="small")
fig.tight_layout()
fig.savefig("noise_scale.png", dpi=90)

fig_study = plot_batch_size_study(study, title="digits: batch_size_study with its recommendation")
fig_study.savefig("noise_scale_study.png", dpi=80)
