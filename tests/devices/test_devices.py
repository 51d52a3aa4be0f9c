import pytest
import torch

from skbatch import MLPClassifier, resolve_device
from skbatch.devices import resolve as devices


@pytest.fixture
def fake_gpus(monkeypatch):
    """Pretend torch sees ``n`` CUDA devices."""

    def install(n):
        monkeypatch.setattr(devices, "_cuda_device_count", lambda: n)

    return install


def test_cpu_and_torch_device_objects():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_auto_is_cpu_without_cuda(fake_gpus):
    fake_gpus(0)
    assert resolve_device("auto") == torch.device("cpu")


def test_auto_and_cuda_take_the_first_gpu(fake_gpus):
    fake_gpus(2)
    assert resolve_device("auto") == torch.device("cuda", 0)
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)


def test_cuda_without_cuda_is_a_clear_error(fake_gpus):
    fake_gpus(0)
    with pytest.raises(ValueError, match=r"device='cuda' asks for CUDA, but .*Use device='cpu'"):
        resolve_device("cuda")


def test_missing_gpu_index_is_a_clear_error(fake_gpus):
    fake_gpus(2)
    with pytest.raises(ValueError, match=r"device='cuda:3' names a GPU that does not exist: torch sees 2"):
        resolve_device("cuda:3")


@pytest.mark.parametrize("bad", ["tpu", "cuda:x", "gpu0", ""])
def test_unknown_device_names(bad):
    with pytest.raises(ValueError, match=r"The 'device' parameter must be 'auto', 'cpu', 'cuda' or 'cuda:N'"):
        resolve_device(bad)


def test_fit_rejects_cuda_before_training(fake_gpus, small_digits):
    fake_gpus(0)
    X, y = small_digits
    clf = MLPClassifier(device="cuda", max_epochs=1)
    with pytest.raises(ValueError, match="asks for CUDA"):
        clf.fit(X, y)
    assert not hasattr(clf, "net_")


def test_device_is_resolved_in_fit_not_init(fake_gpus, small_digits):
    fake_gpus(3)  # a constructor that probed CUDA would already have failed below
    clf = MLPClassifier(device="cuda:2", max_epochs=1)
    fake_gpus(0)
    with pytest.raises(ValueError, match="asks for CUDA"):
        clf.fit(*small_digits)


def test_fitted_device_on_cpu(small_digits):
    clf = MLPClassifier(device="auto", max_epochs=1, hidden_layer_sizes=(8,)).fit(*small_digits)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert clf.device_.type == expected


@pytest.mark.gpu
def test_fit_and_predict_on_cuda(small_digits):
    X, y = small_digits
    clf = MLPClassifier(device="cuda", max_epochs=3, random_state=0).fit(X, y)
    assert clf.device_ == torch.device("cuda", 0)
    assert next(clf.net_.module_.parameters()).is_cuda
    assert clf.predict(X).shape == y.shape
