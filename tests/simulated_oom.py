"""A torch module that runs out of memory above a batch size: device memory limits, simulated on the CPU."""

import pytest
import torch
from torch import nn

from skbatch.training import max_batch


class OutOfMemoryAbove(nn.Module):
    """A linear model whose training forward pass runs out of memory above ``limit`` samples."""

    def __init__(self, n_features_in, n_classes, limit=40):
        super().__init__()
        self.limit = limit
        self.linear = nn.Linear(n_features_in, n_classes)

    def forward(self, X):
        if self.training and len(X) > self.limit:
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate a batch of {len(X)} (simulated, limit {self.limit}).")
        return self.linear(X)


@pytest.fixture
def released(monkeypatch):
    """Devices the search released memory on; the collection is skipped, as nothing simulated holds memory."""
    calls = []
    monkeypatch.setattr(max_batch, "release_device_memory", calls.append)
    return calls
