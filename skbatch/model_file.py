"""Deprecated names of :func:`skbatch.save` and :func:`skbatch.load`, kept for the callers of skbatch 0.1's model files.

Both write and read the format of :mod:`skbatch.saving`; the skops files
that ``save_model`` wrote before (formats ``skbatch-model/1`` and ``/2``)
are refused by :func:`skbatch.load`, which names their format.
"""

import warnings

from .saving import load, save

__all__ = ["load_model", "save_model"]


def _deprecated(old, new):
    warnings.warn(
        f"skbatch.model_file.{old} is deprecated and will be removed; use skbatch.{new}, which writes and reads the same file format.",
        FutureWarning,
        stacklevel=3,
    )


def save_model(model, path):
    """Deprecated: :func:`skbatch.save`."""
    _deprecated("save_model", "save")
    return save(model, path)


def load_model(path, *, trusted=None):
    """Deprecated: :func:`skbatch.load`."""
    _deprecated("load_model", "load")
    return load(path, trusted=trusted)
