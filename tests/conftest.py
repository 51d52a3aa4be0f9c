"""The fixtures every folder shares.

torch and scikit-learn are imported where they are used, not here: under
pytest-xdist the controller process loads this file too, and imports in it
(about 4 s) delay the start of the workers, which import them anyway.
"""

import os

import numpy as np
import pytest

from fork_server import python_runner


@pytest.fixture(scope="session")
def digits():
    """Digits scaled to [0, 1]: 1797 rows, 64 features, 10 classes."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


@pytest.fixture(scope="session")
def small_digits(digits):
    """A 400-row slice of digits, for tests that only need a real, quick fit."""
    X, y = digits
    return X[:400], y[:400]


@pytest.fixture(scope="session")
def fresh_python():
    """Runs a script or ``-c`` code as ``python`` does, each in a process of its own: ``fresh_python.run(argv, cwd, timeout)``.

    On Linux the processes fork from a server that imported torch,
    scikit-learn and skbatch once (fork_server.py): a gallery example or a
    README block then costs its own work, not 5 s of imports besides.
    """
    # pytest-xdist already keeps every core busy, so a script runs on one:
    # one torch thread (extra ones spin against each other: a small grid took
    # 140 s instead of 6 s), and n_jobs=-1 means one joblib job, not worker
    # processes that each import torch again. Agg: no window opens.
    runner = python_runner({**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "LOKY_MAX_CPU_COUNT": "1"})
    yield runner
    runner.close()


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # Tests run two at a time on two cores; more threads per test only contend.
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device; torch sees none here")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


def make_blobs_data(n_samples=120, n_features=4, n_classes=3, seed=0):
    rng = np.random.RandomState(seed)
    centers = rng.normal(scale=4.0, size=(n_classes, n_features))
    y = np.arange(n_samples) % n_classes
    X = centers[y] + rng.normal(size=(n_samples, n_features))
    return X, y


@pytest.fixture
def global_random_seed():
    """scikit-learn's fixture of its own test suite (tests/estimators/test_sklearn_mlp_port.py): its default seed, 42."""
    return 42
