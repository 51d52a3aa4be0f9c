"""
=========================================
Spreading a search over a pool of devices
=========================================

Each fit of a scikit-learn search is a fresh clone trained in a joblib
worker. With ``device=DevicePool(...)`` every fit waits for a free slot of
the pool, trains on that slot's device and hands the slot back, so four
workers on a four-GPU machine train on four different GPUs instead of all
on ``cuda:0``.

This example runs on any machine: where there are GPUs, ``'auto'`` pools
them all; where there are none, it uses two ``'cpu'`` slots, which place
the fits the same way (they are the same file locks). The plot shows the
slot each fit held and how long it trained.
"""

# %%
# A pool and a search
# -------------------
# ``fits_per_device=2`` lets two fits share a device: here, two CPU slots.
# On a GPU machine ``DevicePool('auto', fits_per_device=2)`` would let two
# small models share each GPU.
import tempfile

import matplotlib.pyplot as plt
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, cross_validate

from skbatch import DevicePool, MLPClassifier

X, y = load_digits(return_X_y=True)
X = X / 16

if torch.cuda.is_available():
    pool = DevicePool("auto")
else:
    # A fresh lock folder keeps this run apart from any other on the machine.
    pool = DevicePool(["cpu"], fits_per_device=2, lock_dir=tempfile.mkdtemp())
print(pool, "\nslots:", pool.slots())

net = MLPClassifier(hidden_layer_sizes=(64,), max_epochs=15, batch_size=64, random_state=0, device=pool)

# %%
# The search itself needs nothing more
# ------------------------------------
search = GridSearchCV(net, {"lr": [1e-3, 1e-2]}, cv=3, n_jobs=2).fit(X, y)
print(search.best_params_, round(search.best_score_, 3))

# %%
# Where each fit trained
# ----------------------
# A search keeps no fitted clone per fold; ``cross_validate`` with
# ``return_estimator=True`` runs the fits the same way and hands them back,
# each with its record: the slot, the device, the GPU's UUID (None on the
# CPU), the training time, the epochs, the batch size, the peak device
# memory (None on the CPU).
results = cross_validate(net, X, y, cv=8, n_jobs=2, return_estimator=True)
for fold, est in enumerate(results["estimator"]):
    print(
        f"fold {fold}: slot {est.device_slot_}, device {est.device_}, GPU {est.device_uuid_}, "
        f"{est.fit_time_:.2f} s, {est.n_iter_} epochs, batch size {est.batch_size_}, "
        f"peak memory {est.peak_memory_}"
    )

# %%
# Fits per slot
# -------------
estimators = results["estimator"]
fig, ax = plt.subplots(figsize=(7, 3))
for index, slot in enumerate(sorted({est.device_slot_ for est in estimators})):
    folds = [fold for fold, est in enumerate(estimators) if est.device_slot_ == slot]
    ax.bar(folds, [estimators[fold].fit_time_ for fold in folds], color=f"C{index}", label=slot)
ax.set_xlabel("fold")
ax.set_ylabel("training time (s)")
ax.set_title("Each fit held one slot of the pool")
ax.legend(title="slot")
fig.tight_layout()
fig.savefig("multi_device_search.png", dpi=100)
