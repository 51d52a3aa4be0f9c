"""Turn the ``device`` param into a torch device, with clear errors where CUDA is missing."""

import re

import torch

__all__ = ["resolve_device"]

_CUDA_PATTERN = re.compile(r"cuda(?::(\d+))?")


def _cuda_device_count():
    """Number of CUDA devices torch can use here; the seam tests replace."""
    if not torch.cuda.is_available():
        return 0
    return torch.cuda.device_count()


def _no_cuda_reason():
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build"
    return f"torch {torch.__version__} (CUDA {torch.version.cuda}) finds no usable GPU"


def resolve_device(device):
    """Return the torch device that ``device`` names on this machine.

    Parameters
    ----------
    device : str or torch.device
        ``'auto'`` (CUDA when present, else CPU), ``'cpu'``, ``'cuda'`` or
        ``'cuda:N'``.

    Returns
    -------
    torch.device
        A CPU device, or a CUDA device with an explicit index.

    Raises
    ------
    ValueError
        If ``device`` is not one of the forms above, asks for CUDA where
        torch sees none, or names a CUDA index that does not exist.
    """
    name = str(device) if isinstance(device, torch.device) else device
    if name == "auto":
        return torch.device("cuda:0" if _cuda_device_count() > 0 else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    match = _CUDA_PATTERN.fullmatch(name) if isinstance(name, str) else None
    if match is None:
        raise ValueError(f"The 'device' parameter must be 'auto', 'cpu', 'cuda' or 'cuda:N'. Got {device!r} instead.")
    n_devices = _cuda_device_count()
    if n_devices == 0:
        raise ValueError(
            f"device={name!r} asks for CUDA, but {_no_cuda_reason()}. "
            "Use device='cpu', or device='auto' to train on CUDA only where "
            "it is present."
        )
    index = int(match.group(1) or 0)
    if index >= n_devices:
        raise ValueError(
            f"device={name!r} names a GPU that does not exist: torch sees {n_devices} CUDA device(s), cuda:0 to cuda:{n_devices - 1}."
        )
    return torch.device("cuda", index)
