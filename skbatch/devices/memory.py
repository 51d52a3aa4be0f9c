"""Device memory: recognise out-of-memory errors, measure a fit's peak, release what it held."""

import contextlib
import gc

import torch

__all__ = ["is_out_of_memory", "track_peak_memory", "release_device_memory"]


def is_out_of_memory(error):
    """Whether ``error`` says the device ran out of memory.

    Parameters
    ----------
    error : BaseException
        Any exception raised while training or predicting.

    Returns
    -------
    bool
        True for ``torch.OutOfMemoryError`` (CUDA's allocator), for the
        ``RuntimeError`` that other back ends and older code paths raise with
        "out of memory" in the message, and for the CPU allocator's failure.
    """
    if isinstance(error, torch.OutOfMemoryError):
        return True
    message = str(error).lower()
    return isinstance(error, RuntimeError) and any(marker in message for marker in _OUT_OF_MEMORY_MARKERS)


# CUDA and MPS say "out of memory"; torch's CPU allocator says "DefaultCPUAllocator:
# can't allocate memory" (or "not enough memory" in older releases).
_OUT_OF_MEMORY_MARKERS = (
    "out of memory",
    "defaultcpuallocator: can't allocate memory",
    "defaultcpuallocator: not enough memory",
)


class PeakMemory:
    """Result of :func:`track_peak_memory`: ``bytes`` is None where it cannot be measured."""

    def __init__(self):
        self.bytes = None


@contextlib.contextmanager
def track_peak_memory(device):
    """Measure the most device memory torch allocated inside the block.

    Parameters
    ----------
    device : torch.device
        Device to watch. Only CUDA devices report a figure; torch keeps no
        allocation statistics for the CPU, so ``bytes`` stays None there.

    Yields
    ------
    PeakMemory
        Its ``bytes`` attribute is set when the block exits, also when it
        exits with an error.
    """
    peak = PeakMemory()
    if device.type != "cuda":
        yield peak
        return
    torch.cuda.reset_peak_memory_stats(device)
    try:
        yield peak
    finally:
        peak.bytes = int(torch.cuda.max_memory_allocated(device))


def release_device_memory(device):
    """Return cached blocks to the device after tensors were dropped.

    Call after the references to a model, its optimizer and its data are
    gone: the garbage collector frees cycles that still hold tensors, and
    CUDA's caching allocator hands the freed blocks back, so the next fit
    (or another process on the same GPU) starts from a clean card.
    """
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
