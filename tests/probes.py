"""A network that records when it trained and with how many threads, for the placement tests.

In a module of its own so that worker processes (loky, Dask) import it by name.
"""

import os
import time

import torch
from torch import nn

from skbatch import TorchClassifier


class ProbeNet(nn.Module):
    """Linear model that records, per training batch, the time and the torch threads it saw."""

    def __init__(self, n_features_in, n_classes, sleep=0.0):
        super().__init__()
        self.linear = nn.Linear(n_features_in, n_classes)
        self.sleep = sleep
        self.calls = []
        self.pid = os.getpid()

    def forward(self, X):
        if self.training:
            self.pid = os.getpid()
            time.sleep(self.sleep)
            self.calls.append((time.time(), torch.get_num_threads()))
        return self.linear(X)


def probe(device, sleep=0.01):
    """A classifier on ProbeNet: on 45 training samples, 30 batches of at least ``sleep`` s."""
    return TorchClassifier(
        module=ProbeNet,
        module_kwargs={"sleep": sleep},
        batch_size=3,
        max_epochs=2,
        device=device,
        random_state=0,
    )


def intervals(estimators):
    """(start, end, slot) of the training of each fitted probe."""
    return [(e.net_.module_.calls[0][0], e.net_.module_.calls[-1][0], e.device_slot_) for e in estimators]


def overlapping_pairs(spans):
    return [(a, b) for i, a in enumerate(spans) for b in spans[i + 1 :] if a[0] < b[1] and b[0] < a[1]]
