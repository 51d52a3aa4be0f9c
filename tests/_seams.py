"""Torch modules the tests share: stand-ins for what CI lacks (a GPU that runs out of memory, a way to count fits)
and modules with one property a test needs.

Module level, so joblib's worker processes can unpickle them.
"""

import os

import torch
from torch import nn

# Set by a test to raise KeyboardInterrupt when this many fits have started
# training in the process: an interruption in the middle of a search.
INTERRUPT_AT = None
BUILT = 0


class CountingNet(nn.Module):
    """A linear classifier that counts how many times it trained: once per trained fit.

    Counted at its first forward pass in training mode, not when built: a
    fit restored from the cache builds its module too, but never trains it.
    Appends a line to ``log`` (a file, so fits in worker processes count
    too) and bumps the module-level ``BUILT``.
    """

    def __init__(self, n_features_in, n_classes, log=None, kill_marker=None):
        super().__init__()
        self.log, self.kill_marker = log, kill_marker
        self.counted = False
        self.linear = nn.Linear(n_features_in, n_classes)

    def _count(self):
        global BUILT
        self.counted = True
        BUILT += 1
        if INTERRUPT_AT is not None and BUILT >= INTERRUPT_AT:
            raise KeyboardInterrupt
        if self.kill_marker is not None and count_lines(self.log) >= 3:
            _die_once(self.kill_marker)
        if self.log is not None:
            with open(self.log, "a") as handle:
                handle.write(f"{os.getpid()}\n")

    def forward(self, X):
        if self.training and not self.counted:
            self._count()
        return self.linear(X)


def _die_once(marker):
    """Kill this process, as the OOM killer would, if ``marker`` exists; only one process gets to."""
    try:
        os.remove(marker)
    except FileNotFoundError:
        return
    os._exit(1)


def count_lines(path):
    return sum(1 for _ in open(path)) if os.path.exists(path) else 0


class MemoryHungryNet(nn.Module):
    """Raises torch's out-of-memory error when a training batch holds more than ``max_batch`` samples.

    What a GPU does when the batch does not fit; prediction (no gradients)
    is left alone, as it would fit in a real card's memory at any size here.
    """

    def __init__(self, n_features_in, n_classes, max_batch=32, tag=None):
        super().__init__()
        self.max_batch = max_batch
        self.linear = nn.Linear(n_features_in, n_classes)

    def forward(self, X):
        if self.training and X.shape[0] > self.max_batch:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 15.77 GiB total capacity)")
        return self.linear(X)


class BrokenNet(nn.Module):
    """Fails in its first forward pass with an error that is neither OOM nor NaN."""

    def __init__(self, n_features_in, n_classes):
        super().__init__()
        self.linear = nn.Linear(n_features_in, n_classes)

    def forward(self, X):
        raise ValueError("BrokenNet cannot run forward")


class BatchNormNet(nn.Module):
    """A linear layer, then BatchNorm: its running statistics are buffers, which fused training cannot stack."""

    def __init__(self, n_features_in, n_classes):
        super().__init__()
        self.linear = nn.Linear(n_features_in, n_classes)
        self.norm = nn.BatchNorm1d(n_classes)

    def forward(self, X):
        return self.norm(self.linear(X))
