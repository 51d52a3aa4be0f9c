import numpy as np
import pytest
import torch
from skorch.dataset import Dataset
from torch.utils.data import Subset

from skbatch import (
    MLPClassifier,
    TensorBatchIterator,
    n_updates_per_epoch,
    resolve_batch_size,
)


@pytest.mark.parametrize(
    "batch_size, n_samples, expected",
    [
        ("auto", 150, 150),
        ("auto", 1000, 200),
        ("full", 1000, 1000),
        (-1, 1000, 1000),
        (64, 1000, 64),
        (5000, 1000, 1000),
        (1, 1000, 1),
    ],
)
def test_resolve_batch_size(batch_size, n_samples, expected):
    assert resolve_batch_size(batch_size, n_samples) == expected


@pytest.mark.parametrize(
    "n_samples, batch_size, drop_last, expected",
    [(1050, 100, False, 11), (1050, 100, True, 10), (1000, 100, True, 10), (50, 50, True, 1), (7, 1, False, 7)],
)
def test_n_updates_per_epoch(n_samples, batch_size, drop_last, expected):
    assert n_updates_per_epoch(n_samples, batch_size, drop_last) == expected


def _dataset(n=1050):
    X = torch.arange(n, dtype=torch.float32).reshape(-1, 1).repeat(1, 3)
    return Dataset(X, torch.arange(n))


def test_iterator_batches_and_last_partial_batch():
    sizes = [len(Xb) for Xb, _ in TensorBatchIterator(_dataset(), batch_size=100)]
    assert sizes == [100] * 10 + [50]
    sizes = [len(Xb) for Xb, _ in TensorBatchIterator(_dataset(), batch_size=100, drop_last=True)]
    assert sizes == [100] * 10


def test_iterator_shuffle_visits_every_sample_once_and_keeps_pairs():
    generator = torch.Generator().manual_seed(0)
    iterator = TensorBatchIterator(_dataset(), batch_size=64, shuffle=True, generator=generator)
    first = torch.cat([yb for _, yb in iterator])
    second = torch.cat([yb for _, yb in iterator])
    assert sorted(first.tolist()) == list(range(1050))
    assert not torch.equal(first, second), "each pass draws a new order"
    for Xb, yb in iterator:
        assert torch.equal(Xb[:, 0].long(), yb), "rows stay paired with their labels"


def test_iterator_order_is_reproducible_from_the_generator():
    def order(seed):
        generator = torch.Generator().manual_seed(seed)
        return torch.cat([yb for _, yb in TensorBatchIterator(_dataset(), batch_size=64, shuffle=True, generator=generator)])

    assert torch.equal(order(3), order(3))
    assert not torch.equal(order(3), order(4))


def test_iterator_reads_a_subset_of_a_dataset():
    subset = Subset(_dataset(), [5, 7, 9])
    batches = list(TensorBatchIterator(subset, batch_size=2))
    assert [yb.tolist() for _, yb in batches] == [[5, 7], [9]]


def test_iterator_without_labels_yields_none():
    dataset = Dataset(torch.zeros(5, 2), None)
    assert [yb for _, yb in TensorBatchIterator(dataset, batch_size=2)] == [None, None, None]


def test_iterator_falls_back_to_a_dataloader_for_other_datasets():
    data = [(np.float32(i), i) for i in range(5)]
    batches = list(TensorBatchIterator(data, batch_size=2))
    assert [b[1].tolist() for b in batches] == [[0, 1], [2, 3], [4]]


@pytest.mark.parametrize(
    "batch_size, drop_last, used, updates",
    [
        (100, False, 100, 11),
        (100, True, 100, 10),
        ("full", False, 1050, 1),
        (-1, False, 1050, 1),
        (5000, False, 1050, 1),
        ("auto", False, 200, 6),
    ],
)
def test_fitted_estimator_reports_batch_size_and_updates(digits, batch_size, drop_last, used, updates):
    X, y = digits
    clf = MLPClassifier(
        hidden_layer_sizes=(8,), batch_size=batch_size, drop_last=drop_last, max_epochs=1, device="cpu", random_state=0
    ).fit(X[:1050], y[:1050])
    assert clf.batch_size_ == used
    assert clf.n_updates_per_epoch_ == updates
    assert all(row["train_batch_count"] == updates for row in clf.net_.history)


def test_online_learning_with_batch_size_one(small_digits):
    X, y = small_digits
    clf = MLPClassifier(hidden_layer_sizes=(16,), batch_size=1, max_epochs=2, lr=1e-3, device="cpu", random_state=0)
    clf.fit(X[:200], y[:200])
    assert clf.batch_size_ == 1 and clf.n_updates_per_epoch_ == 200
    assert clf.score(X[:200], y[:200]) > 0.5


def test_batch_size_is_measured_on_the_rows_that_train(digits):
    # early_stopping holds out 10%; 'full' means the rest.
    X, y = digits
    clf = MLPClassifier(batch_size="full", early_stopping=True, max_epochs=1, device="cpu", random_state=0).fit(X[:1000], y[:1000])
    assert clf.batch_size_ == 900


def test_to_tensor_copies_read_only_arrays_and_shares_writable_ones():
    from skbatch.training.iterator import to_tensor

    writable = np.arange(6, dtype=np.float32)
    assert np.shares_memory(to_tensor(writable).numpy(), writable)
    read_only = writable.copy()
    read_only.flags.writeable = False
    tensor = to_tensor(read_only)
    assert not np.shares_memory(tensor.numpy(), read_only)
    tensor += 1  # must not reach the caller's (read-only) data
    np.testing.assert_array_equal(read_only, np.arange(6))


def test_fit_on_read_only_memmap(tmp_path, small_digits):
    # What a search worker receives for large data: joblib's read-only memmap.
    import joblib

    X, y = small_digits
    joblib.dump(X.astype(np.float32), tmp_path / "X.joblib")
    X_map = joblib.load(tmp_path / "X.joblib", mmap_mode="r")
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_epochs=1, random_state=0).fit(X_map, y)
    np.testing.assert_array_equal(clf.predict(X_map), clf.predict(X))
