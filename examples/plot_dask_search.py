"""
==========================
A search on a Dask cluster
==========================

scikit-learn's searches run their fits through joblib, and joblib runs them
on a Dask cluster with one line: ``with skbatch.dask_parallel(client):``,
joblib's ``dask`` backend set up so that the search survives the loss of a
worker. Here the cluster is local, two worker processes on this machine; on
a real cluster, connect the client to its scheduler's address instead, and
on a GPU cluster start one worker per GPU with ``dask-cuda`` (see the user
guide's page on clusters).

With a fixed ``random_state`` the scores are the same as on one process.
"""

# %%
# The data, the grid and the search
# ---------------------------------
import matplotlib.pyplot as plt
import numpy as np
from distributed import Client, LocalCluster
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

from skbatch import MLPClassifier, dask_parallel

X, y = load_digits(return_X_y=True)
X = X / 16
grid = {"batch_size": [32, 128], "lr": [1e-3, 1e-2]}


def make_search(n_jobs):
    net = MLPClassifier(hidden_layer_sizes=(32,), max_epochs=8, random_state=0, device="auto")
    return GridSearchCV(net, grid, cv=3, n_jobs=n_jobs)


def plot(results):
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for lr in grid["lr"]:
        rows = results["param_lr"] == lr
        ax.errorbar(
            np.asarray(results["param_batch_size"][rows], dtype=int),
            results["mean_test_score"][rows],
            yerr=results["std_test_score"][rows],
            marker="o",
            capsize=3,
            label=f"lr={lr:g}",
        )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch_size")
    ax.set_ylabel("mean CV accuracy")
    ax.set_title("GridSearchCV on a Dask cluster")
    ax.legend()
    fig.tight_layout()
    fig.savefig("dask_search.png", dpi=100)


# %%
# The one line, on a cluster of two worker processes
# --------------------------------------------------
# The workers are new processes that import this file, so the cluster starts
# under ``if __name__ == "__main__"``. The search then runs once more on this
# process alone, to compare the scores, and the cluster's results are plotted.
if __name__ == "__main__":
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            print(client)
            with dask_parallel(client):
                on_dask = make_search(n_jobs=-1).fit(X, y)
    print("on the cluster:", on_dask.best_params_, round(on_dask.best_score_, 3))

    local = make_search(n_jobs=1).fit(X, y)
    same = np.array_equal(local.cv_results_["mean_test_score"], on_dask.cv_results_["mean_test_score"])
    print("identical scores on one process and on the cluster:", same)
    plot(on_dask.cv_results_)
