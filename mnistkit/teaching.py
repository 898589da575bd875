"""Why a model reads a drawing the way it does: every model's reading, a linear model's evidence,
and how the models fare on a learner's own handwriting.

Nothing here knows about a screen: the Draw page lays these results out. A linear model's score
for a digit is the sum over the pixels of pixel times weight (plus a bias), so each pixel's share
of the score, its *evidence*, can be shown as an image: where it is positive, the ink there made
the digit more likely; where it is negative, less.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mnistkit.data import MAX_DIGIT_SET, DataError, load_digit_set, save_digit_set
from mnistkit.evaluation import Evaluation, evaluate
from mnistkit.models.base import NotTrainedError
from mnistkit.network import Layer, Network, NetworkError
from mnistkit.preprocess import SIZE, grayscale, ink_bounding_box, ink_map, stroke_width

PIXELS = SIZE * SIZE
# MNIST's strokes are 10-17% of a digit's size (10th to 90th percentile of its test digits).
MNIST_STROKE_SHARE = (0.10, 0.17)


class NotLinearError(ValueError):
    """A model whose scores are not one weighted sum of the pixels per digit."""


@dataclass(frozen=True)
class Reading:
    """One model's reading of one digit."""

    name: str
    probabilities: np.ndarray  # (10,), 0..1, summing to 1

    @property
    def prediction(self) -> int:
        return int(np.argmax(self.probabilities))

    @property
    def confidence(self) -> float:
        return float(self.probabilities.max())


@dataclass(frozen=True)
class Evidence:
    """How each pixel of one digit pushed each of a linear model's ten scores up or down."""

    weights: np.ndarray  # (10, 28, 28) the learned weight image ("template") of each digit
    contributions: np.ndarray  # (10, 28, 28) pixel value times weight, as the model adds them
    biases: np.ndarray  # (10,) added to each digit's score whatever the pixels
    scores: np.ndarray  # (10,) the sum of each digit's contributions plus its bias

    @property
    def prediction(self) -> int:
        return int(np.argmax(self.scores))


@dataclass(frozen=True)
class HandwritingScore:
    """One model's results on a learner's handwriting next to its result on MNIST's test set."""

    name: str
    evaluation: Evaluation  # on the learner's digits
    mnist_accuracy: float | None  # on MNIST's test digits, 0..1, if it was measured

    @property
    def accuracy(self) -> float:
        return self.evaluation.accuracy


def read_with_every_model(models: Mapping[str, Any], digit: np.ndarray) -> list[Reading]:
    """The ten probabilities each model gives one 28x28 digit, in the order given."""
    batch = _one_digit(digit)[np.newaxis]
    return [
        Reading(name, np.asarray(model.predict_proba(batch), dtype=np.float64)[0])
        for name, model in models.items()
    ]


def answers(readings: list[Reading]) -> dict[int, list[str]]:
    """Which models gave which answer, the commonest answer first."""
    grouped: dict[int, list[str]] = {}
    for reading in readings:
        grouped.setdefault(reading.prediction, []).append(reading.name)
    return dict(sorted(grouped.items(), key=lambda item: -len(item[1])))


def disagree(readings: list[Reading]) -> bool:
    """Whether the models do not all give the same answer."""
    return len(answers(readings)) > 1


def disagreement_lines(grouped: dict[int, list[str]]) -> list[str]:
    """One line per answer naming its models, each name in quotes, so that names holding
    commas stay whole: ``Reads 3: “Linear net (NumPy), cross entropy” and “Keras MLP”``."""
    lines = []
    for answer, names in grouped.items():
        quoted = [f"“{name}”" for name in names]
        listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
        lines.append(f"Reads {answer}: {listed}")
    return lines


def is_linear(model: Any) -> bool:
    """Whether ``model`` scores each digit with one weighted sum of the 784 pixels."""
    return _linear_network(model) is not None


def weight_images(model: Any) -> np.ndarray:
    """A linear model's ten rows of weights as (10, 28, 28) images."""
    dense, _ = _linear_layer(model)
    return dense.weights.T.reshape(10, SIZE, SIZE)


def evidence(model: Any, digit: np.ndarray) -> Evidence:
    """Each pixel's share of each digit's score: the pixel as the model sees it times its weight."""
    dense, input_scale = _linear_layer(model)
    weights = dense.weights.T.reshape(10, SIZE, SIZE)
    pixels = _one_digit(digit).astype(np.float64) * input_scale
    contributions = weights * pixels
    biases = np.asarray(dense.biases, dtype=np.float64).reshape(10)
    scores = contributions.reshape(10, -1).sum(axis=1) + biases
    return Evidence(weights, contributions, biases, scores)


def stroke_share(image) -> float:
    """How wide the drawing's strokes are, as a share of the digit's height or width (larger)."""
    ink, _ = ink_map(grayscale(image))
    mask = ink > 0.5
    top, left, bottom, right = ink_bounding_box(mask)
    return stroke_width(mask) / max(bottom - top, right - left)


def stroke_hint(image) -> str | None:
    """A sentence when the strokes are much thinner or thicker than MNIST's, else None."""
    share = stroke_share(image)
    low, high = MNIST_STROKE_SHARE
    measured = f"Your strokes are about {100 * share:.0f}% of your digit's size; MNIST's are "
    measured += f"{100 * low:.0f} to {100 * high:.0f}%."
    if share < low / 2:
        return (
            f"{measured} Thin strokes turn faint at 28x28 (they are thickened a little to "
            "survive): a wider pen makes your digit look more like MNIST's."
        )
    if share > 2 * high:
        return f"{measured} Thick strokes fill the holes of 0, 6, 8 and 9: try a thinner pen."
    return None


def add_digit(
    images: np.ndarray | None, labels: np.ndarray | None, digit: np.ndarray, label: int
) -> tuple[np.ndarray, np.ndarray]:
    """The set with one more digit and its label, as new arrays (n + 1, 28, 28) and (n + 1,)."""
    digit = _one_digit(digit)
    if isinstance(label, bool) or not isinstance(label, int | np.integer) or not 0 <= label <= 9:
        raise DataError(f"The digit you meant must be a whole number from 0 to 9; got {label!r}.")
    if images is None or labels is None or len(labels) == 0:
        images = np.zeros((0, SIZE, SIZE), dtype=np.uint8)
        labels = np.zeros(0, dtype=np.uint8)
    if len(labels) >= MAX_DIGIT_SET:
        raise DataError(f"Your set already holds {MAX_DIGIT_SET:,} digits, as many as it may.")
    return (
        np.concatenate([images, digit[np.newaxis]]),
        np.append(labels, np.uint8(label)).astype(np.uint8),
    )


def merged(
    images: np.ndarray | None, labels: np.ndarray | None, more_images, more_labels
) -> tuple[np.ndarray, np.ndarray]:
    """The learner's set with the digits of another (an uploaded file) added after its own."""
    if images is None or labels is None or len(labels) == 0:
        images = np.zeros((0, SIZE, SIZE), dtype=np.uint8)
        labels = np.zeros(0, dtype=np.uint8)
    if len(labels) + len(more_labels) > MAX_DIGIT_SET:
        raise DataError(
            f"Together they would hold {len(labels) + len(more_labels):,} digits, more than the "
            f"{MAX_DIGIT_SET:,} a set may have."
        )
    return np.concatenate([images, more_images]), np.concatenate([labels, more_labels])


def handwriting_file(images: np.ndarray, labels: np.ndarray) -> bytes:
    """A learner's set as .npz bytes in MNIST's layout (x: uint8 28x28 ink on 0, y: digits)."""
    return save_digit_set(images, labels)


def read_handwriting_file(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """A learner's set from an uploaded .npz, checked (and never unpickled) before it is used."""
    return load_digit_set(data)


def scores_on_handwriting(
    models: Mapping[str, Any],
    images: np.ndarray,
    labels: np.ndarray,
    mnist_accuracies: Mapping[str, float | None] | None = None,
) -> list[HandwritingScore]:
    """Each model's accuracy and confusion matrix on the learner's digits, beside its MNIST one."""
    if len(labels) == 0:
        raise DataError("Your handwriting set is empty: add a digit first.")
    mnist_accuracies = mnist_accuracies or {}
    return [
        HandwritingScore(name, evaluate(model, images, labels), mnist_accuracies.get(name))
        for name, model in models.items()
    ]


def _linear_network(model: Any) -> Network | None:
    """The model's network if it is one dense layer from the 784 pixels to ten scores."""
    try:
        network = model.to_network()
    except (NotImplementedError, NotTrainedError, NetworkError):
        return None
    layers = network.layers
    if len(layers) != 1 or layers[0].kind != "dense" or layers[0].weights.shape != (PIXELS, 10):
        return None
    return network


def _linear_layer(model: Any) -> tuple[Layer, float]:
    """The one dense layer of a linear model, and the scale its input pixels are given."""
    network = _linear_network(model)
    if network is None:
        raise NotLinearError(
            "Only a linear model (ten weighted sums of the pixels) has a weight per pixel to show."
        )
    return network.layers[0], network.input_scale


def _one_digit(digit: np.ndarray) -> np.ndarray:
    digit = np.asarray(digit)
    if digit.shape != (SIZE, SIZE) or digit.dtype != np.uint8:
        raise ValueError(
            f"Expected one 28x28 digit of uint8 pixels; got shape {digit.shape} of {digit.dtype}."
        )
    return digit


# --- a convolutional network's first layer --------------------------------------------------


class NotConvolutionalError(ValueError):
    """A model whose network does not start with a convolution."""


@dataclass(frozen=True)
class FeatureMaps:
    """What a network's first convolution finds in one digit: one map per filter."""

    kernels: np.ndarray  # (filters, k, k) each filter's weights, as it lies over the pixels
    maps: np.ndarray  # (filters, height, width) its output at every position, after ReLU


_NETWORKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def network_of(model: Any):
    """``model.to_network()``, made once per trained model (a finished model does not change)."""
    network = _NETWORKS.get(model)
    if network is None:
        network = _NETWORKS[model] = model.to_network()
    return network


def has_convolutions(model: Any) -> bool:
    """Whether the model's network starts with a convolution (a CNN)."""
    try:
        layers = network_of(model).layers
    except (ValueError, NotImplementedError):  # a model that cannot hand out its arrays
        return False
    return bool(layers) and layers[0].kind == "conv2d"


def feature_maps(model: Any, digit: np.ndarray) -> FeatureMaps:
    """The first convolution's filters and their feature maps for one 28x28 digit."""
    network = network_of(model)
    if not has_convolutions(model):
        raise NotConvolutionalError(
            "This model has no convolution layer; feature maps need a CNN (Keras CNN)."
        )
    first = network.layers[0]
    outputs = network.activations(_one_digit(digit))[1][0]  # (height, width, filters)
    kernels = np.moveaxis(np.asarray(first.weights)[:, :, 0, :], -1, 0)  # one input channel
    return FeatureMaps(kernels=kernels, maps=np.moveaxis(outputs, -1, 0))
