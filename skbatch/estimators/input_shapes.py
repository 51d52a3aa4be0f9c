"""The shape of one sample: flat rows, rows reshaped by ``image_shape``, or arrays of 3+ dimensions."""

from numbers import Integral

from .._compat import InvalidParameterError

__all__ = ["IMAGE_SHAPE_CONSTRAINT", "ShapedInputMixin", "sample_shape"]

IMAGE_SHAPE_CONSTRAINT = ["array-like", None]


def sample_shape(X_shape, image_shape, owner):
    """Return the shape of one sample, as the module will receive it.

    Parameters
    ----------
    X_shape : tuple of int
        Shape of the validated ``X``, samples first.
    image_shape : tuple of int or None
        The ``image_shape`` param: the shape each row of a 2-D ``X`` is
        reshaped to, e.g. ``(8, 8)`` for digits, or None to keep rows flat.
        Where ``X`` has 3 or more dimensions it carries its own shape, and
        ``image_shape`` must be None or equal to ``X_shape[1:]``.
    owner : str
        Estimator name for error messages.

    Returns
    -------
    tuple of int

    Raises
    ------
    InvalidParameterError
        If ``image_shape`` holds anything but positive ints.
    ValueError
        If ``image_shape`` does not fit the data.
    """
    data_shape = tuple(X_shape[1:])
    if image_shape is None:
        return data_shape
    shape = _check_image_shape(image_shape, owner)
    if len(X_shape) > 2:
        if shape != data_shape:
            raise ValueError(
                f"X already holds samples of shape {data_shape}, but image_shape={shape}. "
                f"Set image_shape=None (or {data_shape}) for X of {len(X_shape)} dimensions; "
                "image_shape is the shape rows of a 2-D X are reshaped to."
            )
        return shape
    n_pixels = 1
    for size in shape:
        n_pixels *= size
    if n_pixels != data_shape[0]:
        raise ValueError(
            f"image_shape={shape} holds {n_pixels} values, but X has {data_shape[0]} "
            f"features per row. Pass an image_shape whose sizes multiply to {data_shape[0]}."
        )
    return shape


def _check_image_shape(image_shape, owner):
    try:
        shape = tuple(image_shape)
    except TypeError:
        shape = ()
    if not shape or not all(isinstance(s, Integral) and not isinstance(s, bool) and s >= 1 for s in shape):
        raise InvalidParameterError(
            f"The 'image_shape' parameter of {owner} must be None or a non-empty tuple "
            f"of positive ints such as (8, 8) or (3, 32, 32). Got {image_shape!r} instead."
        )
    return tuple(int(s) for s in shape)


class ShapedInputMixin:
    """For estimators with an ``image_shape`` param that also take X of 3 or more dimensions.

    Put it before the estimator base; add ``IMAGE_SHAPE_CONSTRAINT`` to the
    constraint table under ``"image_shape"``.
    """

    _allow_nd = True

    def _sample_shape(self, X):
        return sample_shape(X.shape, self.image_shape, type(self).__name__)
