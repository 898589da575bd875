"""The network as arrays: one NumPy forward pass reproduces every family's predict_proba."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import keras_slow

from mnistkit.models import MODEL_NAMES
from mnistkit.network import (
    Layer,
    Network,
    NetworkError,
    from_binary,
    from_payload,
    to_binary,
    to_payload,
)
from mnistkit.training import RunConfig, train

SMALL_RUNS = {
    "scratch-linear": RunConfig("scratch-linear", train_size=3000, epochs=2),
    "sklearn-mlp": RunConfig(
        "sklearn-mlp", {"hidden_layers": (64, 32), "activation": "tanh"}, train_size=3000, epochs=2
    ),
    "keras-mlp": RunConfig("keras-mlp", {"hidden_layers": (64,)}, train_size=3000, epochs=2),
    "keras-cnn": RunConfig(
        "keras-cnn", {"filters": 6, "kernel_size": 5, "dense_units": 32}, train_size=3000, epochs=2
    ),
}


_TRAINED: dict = {}  # each small run trained once per session, whichever test asks first


def trained_small(name: str, mnist):
    if name not in _TRAINED:
        _TRAINED[name] = train(SMALL_RUNS[name], mnist)
    return _TRAINED[name]


@pytest.fixture(scope="module", params=keras_slow(sorted(SMALL_RUNS)))
def small_model(request, mnist):
    return trained_small(request.param, mnist)


def test_every_family_is_covered():
    assert set(SMALL_RUNS) <= set(MODEL_NAMES)


def test_the_forward_pass_reproduces_predict_proba_on_real_test_digits(small_model, mnist):
    images = mnist.x_test[:1000]
    network = small_model.model.to_network()
    expected = small_model.model.predict_proba(images)
    got = network.predict_proba(images)
    assert got.shape == (1000, 10)
    assert np.max(np.abs(got - expected)) <= 1e-5
    assert np.array_equal(network.predict(images), small_model.model.predict(images))


def test_the_cnn_hands_out_its_convolutions_and_pooling(mnist):
    small_model = trained_small("keras-cnn", mnist)
    network = small_model.model.to_network()
    assert network.input_shape == (28, 28, 1)
    assert [layer.kind for layer in network.layers] == [
        "conv2d",
        "maxpool2d",
        "conv2d",
        "maxpool2d",
        "flatten",
        "dense",
        "dense",
    ]
    assert network.layers[0].weights.shape == (5, 5, 1, 6)
    assert network.layers[2].weights.shape == (5, 5, 6, 12)
    assert network.parameters == small_model.model.count_parameters()
    maps = network.activations(mnist.x_test[:3])[1]
    assert maps.shape == (3, 24, 24, 6)  # six 24x24 feature maps per digit


def test_the_browser_payload_reads_the_same(small_model, mnist):
    images = mnist.x_test[:200]
    network = small_model.model.to_network()
    again = from_payload(to_payload(network))
    assert again.family == small_model.config.model
    # float32 weights: the same digits, probabilities within float32's rounding
    assert np.max(np.abs(again.predict_proba(images) - network.predict_proba(images))) <= 1e-4
    layout, arrays = to_binary(network)
    assert len(arrays) == 4 * network.parameters  # float32 values, nothing else
    binary = from_binary(layout, arrays)
    assert np.array_equal(binary.predict_proba(images), again.predict_proba(images))


def test_a_binary_network_cut_short_is_refused_in_words(small_model):
    layout, arrays = to_binary(small_model.model.to_network())
    with pytest.raises(NetworkError, match="cut short"):
        from_binary(layout, arrays[:-8])


def test_a_sigmoid_output_is_normalised_like_predict_proba(mnist):
    run = RunConfig(
        "keras-mlp", {"hidden_layers": (32,), "output": "sigmoid"}, train_size=2000, epochs=1
    )
    trained = train(run, mnist)
    network = trained.model.to_network()
    assert network.normalise_output
    got = network.predict_proba(mnist.x_test[:300])
    assert np.allclose(got.sum(axis=1), 1.0)
    assert np.max(np.abs(got - trained.model.predict_proba(mnist.x_test[:300]))) <= 1e-5


def test_convolution_and_pooling_match_a_direct_computation(rng):
    kernel = rng.normal(size=(3, 3, 1, 2))
    bias = rng.normal(size=2)
    image = rng.integers(0, 256, size=(28, 28)).astype(np.uint8)
    network = Network(
        (
            Layer("conv2d", kernel, bias, "relu"),
            Layer("maxpool2d", pool=2),
            Layer("flatten"),
        ),
        input_shape=(28, 28, 1),
    )
    out = network.activations(image[np.newaxis])
    pixels = image / 255.0
    direct = np.zeros((26, 26, 2))
    for row in range(26):
        for column in range(26):
            patch = pixels[row : row + 3, column : column + 3]
            direct[row, column] = np.tensordot(patch, kernel[:, :, 0, :], axes=2) + bias
    assert np.allclose(out[1][0], np.maximum(direct, 0))
    pooled = np.maximum(direct, 0).reshape(13, 2, 13, 2, 2).max(axis=(1, 3))
    assert np.allclose(out[2][0], pooled)
    assert out[3].shape == (1, 13 * 13 * 2)


def test_a_malformed_stack_is_refused_in_a_sentence():
    with pytest.raises(NetworkError, match="kind"):
        Layer("attention")
    with pytest.raises(NetworkError, match="bias"):
        Layer("dense", np.zeros((784, 10)), np.zeros(3))
    with pytest.raises(NetworkError, match="28x28"):
        Network((Layer("dense", np.zeros((784, 10)), np.zeros(10)),)).predict_proba(np.zeros(5))
