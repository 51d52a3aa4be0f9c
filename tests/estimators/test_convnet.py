"""ConvNetClassifier and ConvNetModule: image shapes, architecture params, and errors."""

import numpy as np
import pytest
import torch
from sklearn.model_selection import cross_val_score
from sklearn.utils._param_validation import InvalidParameterError
from torch import nn

from skbatch import ConvNetClassifier, MLPClassifier
from skbatch.training.modules import ConvNetModule, GeneratorDropout


def fast(**params):
    defaults = {"channels": (4, 8), "dense_layer_sizes": (16,), "max_epochs": 2, "random_state": 0, "device": "cpu"}
    return ConvNetClassifier(**{**defaults, **params})


def test_flat_rows_with_image_shape_become_one_channel_images(small_digits):
    X, y = small_digits
    clf = fast(image_shape=(8, 8)).fit(X, y)
    assert clf.input_shape_ == (1, 8, 8)
    assert clf.n_features_in_ == 64
    assert clf.net_.module_.features[0].in_channels == 1
    assert clf.predict(X).shape == (len(X),)


def test_three_dimensional_x_gives_the_same_network_as_flat_rows(small_digits):
    X, y = small_digits
    flat = fast(image_shape=(8, 8)).fit(X, y)
    images = fast().fit(X.reshape(-1, 8, 8), y)
    assert images.input_shape_ == (1, 8, 8)
    np.testing.assert_allclose(images.predict_proba(X.reshape(-1, 8, 8)), flat.predict_proba(X), rtol=1e-5)


def test_four_dimensional_x_gives_the_number_of_channels(small_digits):
    X, y = small_digits
    X_rgb = np.repeat(X.reshape(-1, 1, 8, 8), 3, axis=1)
    clf = fast().fit(X_rgb, y)
    assert clf.input_shape_ == (3, 8, 8)
    assert clf.net_.module_.features[0].in_channels == 3
    assert clf.predict(X_rgb[:5]).shape == (5,)


def test_classes_come_from_the_data(small_digits):
    X, y = small_digits
    clf = fast(image_shape=(8, 8)).fit(X[y < 3], y[y < 3])
    assert clf.classes_.tolist() == [0, 1, 2]
    assert clf.net_.module_.head.layers[-1].out_features == 3


def test_flat_rows_without_image_shape_are_one_pixel_high(small_digits):
    X, y = small_digits
    clf = fast().fit(X[:, :10], y)
    assert clf.input_shape_ == (1, 1, 10)


def test_predict_rejects_images_of_another_shape(small_digits):
    X, y = small_digits
    clf = fast().fit(X.reshape(-1, 8, 8), y)
    with pytest.raises(ValueError, match=r"X has samples of shape \(1, 8, 4\), but ConvNetClassifier"):
        clf.predict(X.reshape(-1, 8, 8)[:, :, :4])


def test_image_shape_must_fit_the_number_of_features(small_digits):
    X, y = small_digits
    with pytest.raises(ValueError, match=r"image_shape=\(7, 8\) holds 56 values, but X has 64 features"):
        fast(image_shape=(7, 8)).fit(X, y)


def test_image_shape_must_match_images_that_carry_their_shape(small_digits):
    X, y = small_digits
    with pytest.raises(ValueError, match=r"X already holds samples of shape \(8, 8\), but image_shape=\(4, 16\)"):
        fast(image_shape=(4, 16)).fit(X.reshape(-1, 8, 8), y)


def test_image_shape_rejects_non_positive_sizes(small_digits):
    X, y = small_digits
    with pytest.raises(InvalidParameterError, match=r"'image_shape' parameter of ConvNetClassifier .* Got \(0, 8\)"):
        fast(image_shape=(0, 8)).fit(X, y)


def test_samples_of_more_than_three_dimensions_are_rejected(small_digits):
    X, y = small_digits
    with pytest.raises(ValueError, match=r"takes images of shape \(height, width\) or \(channels, height, width\)"):
        fast().fit(X.reshape(-1, 1, 1, 8, 8), y)


def test_channels_take_the_string_form_for_scikit_optimize(small_digits):
    X, y = small_digits
    clf = fast(channels="4-6", image_shape=(8, 8)).fit(X, y)
    convs = [layer for layer in clf.net_.module_.features if isinstance(layer, nn.Conv2d)]
    assert [conv.out_channels for conv in convs] == [4, 6]


@pytest.mark.parametrize("param, value", [("channels", ()), ("channels", "4-x"), ("dense_layer_sizes", (0,))])
def test_layer_sizes_reject_bad_values(small_digits, param, value):
    X, y = small_digits
    with pytest.raises(InvalidParameterError, match=f"The '{param}' parameter of ConvNetClassifier"):
        fast(**{param: value}).fit(X, y)


def test_no_dense_layers_leaves_a_linear_head(small_digits):
    X, y = small_digits
    clf = fast(dense_layer_sizes=(), image_shape=(8, 8)).fit(X, y)
    linears = [layer for layer in clf.net_.module_.head.layers if isinstance(layer, nn.Linear)]
    assert len(linears) == 1
    assert linears[0].in_features == 8 * 2 * 2


@pytest.mark.parametrize("pooling, layer", [("max", nn.MaxPool2d), ("avg", nn.AvgPool2d)])
def test_pooling_halves_each_side(pooling, layer):
    module = ConvNetModule((1, 8, 8), 10, channels=(4, 8), pooling=pooling, dense_layer_sizes=())
    assert sum(isinstance(m, layer) for m in module.features) == 2
    assert module.head.layers[0].in_features == 8 * 2 * 2


def test_no_pooling_keeps_full_resolution():
    module = ConvNetModule((1, 8, 8), 10, channels=(4,), pooling=None, dense_layer_sizes=())
    assert module.head.layers[0].in_features == 4 * 8 * 8


def test_narrow_images_keep_at_least_one_pixel():
    module = ConvNetModule((1, 1, 5), 3, channels=(4, 4, 4), dense_layer_sizes=(8,))
    assert module(torch.zeros(2, 1, 1, 5)).shape == (2, 3)


def test_dropout_sits_after_the_convolutions_and_each_dense_layer():
    module = ConvNetModule((1, 8, 8), 10, channels=(4,), dense_layer_sizes=(16,), dropout=0.5)
    assert isinstance(module.features[-1], GeneratorDropout)
    assert sum(isinstance(m, GeneratorDropout) for m in module.head.layers) == 1


@pytest.mark.slow
def test_beats_the_mlp_on_digits_at_equal_epochs(digits):
    X, y = digits
    common = {"max_epochs": 20, "batch_size": 64, "lr": 3e-3, "random_state": 0, "device": "cpu"}
    cnn = cross_val_score(ConvNetClassifier(image_shape=(8, 8), **common), X, y, cv=3).mean()
    mlp = cross_val_score(MLPClassifier(**common), X, y, cv=3).mean()
    assert cnn > mlp


def test_takes_every_training_param_of_mlp_classifier():
    training = set(MLPClassifier().get_params()) - {"hidden_layer_sizes"}
    assert training <= set(ConvNetClassifier().get_params())


def test_find_max_batch_size_builds_the_network_from_image_shape(small_digits):
    from skbatch import find_max_batch_size

    X, y = small_digits
    search = find_max_batch_size(fast(image_shape=(8, 8)), X, y)
    assert search.batch_size == len(X)
