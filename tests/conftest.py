"""Fixtures shared by the test modules."""

import pytest
import torch


@pytest.fixture
def one_torch_thread():
    """Train with one torch thread for the duration of a test.

    pytest-xdist already keeps every core busy; torch's extra intra-op threads
    only spin against each other, which made a small grid search on digits
    take 140 s instead of 6 s on the 2-core CI machine.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
