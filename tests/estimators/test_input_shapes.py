"""sample_shape: the shape of one sample from X's shape and the image_shape param."""

import pytest
from sklearn.utils._param_validation import InvalidParameterError

from skbatch.estimators.input_shapes import sample_shape


@pytest.mark.parametrize(
    "X_shape, image_shape, expected",
    [
        ((10, 64), None, (64,)),
        ((10, 64), (8, 8), (8, 8)),
        ((10, 64), [1, 8, 8], (1, 8, 8)),
        ((10, 8, 8), None, (8, 8)),
        ((10, 3, 8, 8), None, (3, 8, 8)),
        ((10, 3, 8, 8), (3, 8, 8), (3, 8, 8)),
    ],
)
def test_sample_shape(X_shape, image_shape, expected):
    assert sample_shape(X_shape, image_shape, "Est") == expected


def test_image_shape_must_hold_as_many_values_as_a_row():
    with pytest.raises(ValueError, match=r"image_shape=\(8, 7\) holds 56 values, but X has 64 features per row"):
        sample_shape((10, 64), (8, 7), "Est")


def test_image_shape_must_agree_with_x_that_has_its_own_shape():
    with pytest.raises(ValueError, match=r"X already holds samples of shape \(3, 8, 8\), but image_shape=\(8, 8\)"):
        sample_shape((10, 3, 8, 8), (8, 8), "Est")


@pytest.mark.parametrize("image_shape", [(), (8, 0), (8, 2.5), (True, 8), 8, "8x8"])
def test_image_shape_must_be_positive_ints(image_shape):
    with pytest.raises(InvalidParameterError, match=r"The 'image_shape' parameter of Est must be None or a non-empty tuple"):
        sample_shape((10, 64), image_shape, "Est")
