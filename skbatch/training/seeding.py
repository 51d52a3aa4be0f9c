"""Seeding one fit's torch random stream without touching the caller's."""

import contextlib

import torch

__all__ = ["seeded_torch"]


@contextlib.contextmanager
def seeded_torch(seed, device):
    """Seed torch for one fit without touching the caller's global random state."""
    cuda_devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(seed)
        yield
