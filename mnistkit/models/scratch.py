"""A linear network written with NumPy alone: ten weighted sums of the 784 pixels.

Each digit owns a row of 784 weights, and its score for an image is the sum of the image's pixels
times those weights; the highest score is the prediction. Training compares the scores with the
goal (1 for the right digit, 0 for the nine others) and moves every weight a little against the
gradient of the loss. With squared error, raw 0-255 pixels and one image per step, that step is
the delta rule of the from-scratch article, ``weights -= learning_rate * outer(delta, pixels)``,
and the ``article`` preset gives the article's numbers exactly. The defaults show what the same
ten weighted sums reach with pixels scaled to 0-1, softmax with cross-entropy and mini-batches.
What a learner can change, and the presets, are declared in ``scratch_settings.py``.
"""

from __future__ import annotations

import math

import numpy as np
from threadpoolctl import threadpool_limits

from mnistkit import archives
from mnistkit.models.base import N_PIXELS, DigitClassifier, ModelFileError
from mnistkit.models.scratch_settings import HYPERPARAMETERS, PRESETS


class ScratchLinearNet(DigitClassifier):
    """Ten weighted sums of the pixels (and an optional bias each), trained by gradient descent."""

    family = "scratch-linear"
    display_name = "Linear net (NumPy)"
    summary = (
        "Ten weighted sums of the 784 pixels, one per digit, trained by gradient descent: "
        "the from-scratch article's network, in a page of NumPy."
    )
    hyperparameters = HYPERPARAMETERS  # in scratch_settings.py, with their ranges and help
    presets = PRESETS

    def __init__(
        self,
        *,
        loss="cross_entropy",
        batch_size=100,
        learning_rate=0.2,
        input_scaling="unit",
        initial_weights="zeros",
        fit_intercept=True,
        shuffle=True,
        epochs=10,
        random_state=None,
    ):
        self.loss = loss
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.input_scaling = input_scaling
        self.initial_weights = initial_weights
        self.fit_intercept = fit_intercept
        self.shuffle = shuffle
        self.epochs = epochs
        self.random_state = random_state

    def partial_fit(self, X, y, classes=None):  # noqa: ARG002 - scikit-learn's signature
        """Train one more epoch over ``X``, batch by batch; returns ``self``."""
        settings = self._validated_params()
        images = self._images(X, dtype=None)  # pixels are converted batch by batch, in float64
        labels = self._labels(y, len(images))
        if not hasattr(self, "coef_"):
            self._initialise(settings["initial_weights"])
        batch_size = settings["batch_size"]
        order = np.arange(len(images))
        if settings["shuffle"]:
            order = self._epoch_rng(len(self.loss_curve_)).permutation(len(images))
        total_loss = 0.0
        with (
            threadpool_limits(limits=1, user_api="blas"),  # small products: 1 thread never stalls
            np.errstate(over="ignore", invalid="ignore"),  # a blow-up is reported, not warned
        ):
            for start in range(0, len(images), batch_size):
                rows = order[start : start + batch_size]
                total_loss += self._step(images[rows], labels[rows], settings)
                if not math.isfinite(total_loss):
                    break  # diverged: no point finishing the epoch
        self._record_loss(total_loss / len(images))
        return self

    def _step(self, images, labels, settings) -> float:
        """One gradient step on one batch; returns the batch's summed loss."""
        inputs = self._scale(images)
        if settings["loss"] == "squared_error" and len(inputs) == 1:
            return self._delta_rule(inputs[0], labels[0], settings)
        loss, coef_gradient, intercept_gradient = loss_and_gradients(
            self.coef_, self.intercept_, inputs, labels, settings["loss"]
        )
        self.coef_ -= settings["learning_rate"] * coef_gradient
        if settings["fit_intercept"]:
            self.intercept_ -= settings["learning_rate"] * intercept_gradient
        return loss * len(inputs)

    def _delta_rule(self, pixels, label, settings) -> float:
        """The article's step: one image, squared error; returns the image's loss."""
        weights, learning_rate = self.coef_, settings["learning_rate"]  # a row per digit
        scores = weights @ pixels + self.intercept_
        delta = scores - one_hot([label])[0]  # each digit's score minus its goal, 1 or 0
        weights -= learning_rate * np.outer(delta, pixels)  # in place: the model's weights move
        if settings["fit_intercept"]:
            self.intercept_ -= learning_rate * delta
        return 0.5 * float((delta * delta).sum())  # half the squared error: its gradient is delta

    def decision_function(self, X) -> np.ndarray:
        """The ten scores of each image: its pixels' weighted sums (plus the biases)."""
        self._check_trained()
        return self._scale(self._images(X, dtype=None)) @ self.coef_.T + self.intercept_

    def predict_proba(self, X) -> np.ndarray:
        # Cross-entropy trains the scores as softmax inputs. Squared error trains them towards 0
        # and 1 without making them probabilities; softmax is used for it too, because it keeps
        # their order: the most probable digit is always the top score.
        return softmax(self.decision_function(X))

    def predict(self, X) -> np.ndarray:
        scores = self.decision_function(X)  # checks that the model is trained
        return self.classes_[np.argmax(scores, axis=1)]

    def describe(self) -> str:
        return f"{self.display_name}, {str(self.loss).replace('_', ' ')}"

    def count_parameters(self) -> int:
        return 10 * N_PIXELS + (10 if self.fit_intercept else 0)

    def to_network(self):
        """One dense layer: the ten weight rows as columns, the biases, softmax."""
        from mnistkit.network import Layer, Network

        self._check_trained()
        weights = np.asarray(self.coef_, dtype=np.float64).T.copy()
        dense = Layer("dense", weights, np.asarray(self.intercept_, np.float64).copy(), "softmax")
        scale = 1.0 if self.input_scaling == "raw" else 1.0 / 255.0
        return Network((dense,), input_scale=scale, family=self.family)

    def _initialise(self, initial_weights: str) -> None:
        """Fresh weights, zero biases, an empty loss curve."""
        # i / 10_000 rounds to exactly the same float as the article's literals 0.000i.
        rows = np.arange(10) / 10_000 if initial_weights == "article" else np.zeros(10)
        self.coef_ = np.repeat(rows[:, np.newaxis], N_PIXELS, axis=1)
        self.intercept_ = np.zeros(10)
        self.classes_ = np.arange(10)
        self.loss_curve_ = []

    def _scale(self, images: np.ndarray) -> np.ndarray:
        """Pixels as float64: 0-255 as given (``raw``) or divided by 255 (``unit``)."""
        pixels = images.astype(np.float64)
        return pixels if self.input_scaling == "raw" else pixels / 255.0

    # --- its file: the weights and biases as a NumPy archive, read without pickle --------------

    file_suffix = ".npz"
    # bench/job_memory.py, full MNIST, 2 epochs: 141 MB at 10,000 images and 132 at 60,000
    # (scoring the 10,000 test digits dominates).
    job_memory_mb = (140.0, 0.2)
    seconds_per_image = 2e-6
    learned_arrays = {"coef_": (10, N_PIXELS), "intercept_": (10,)}  # each float64, finite

    def write_learned(self, path):
        arrays = {key: np.asarray(getattr(self, key), np.float64) for key in self.learned_arrays}
        with path.open("wb") as file:
            np.savez(file, **arrays)

    @classmethod
    def read_learned(cls, path, name):
        return cls._read_arrays(path, name, set(cls.learned_arrays))

    @classmethod
    def read_format_1(cls, path, name):
        """Format 1 kept the settings' JSON next to the weights, as an array called metadata."""
        try:
            if archives.npz_keys(path) != {*cls.learned_arrays, "metadata"}:
                return None
        except archives.ArchiveError as error:
            raise ModelFileError.about(name, error) from error
        arrays = cls._read_arrays(path, name, {*cls.learned_arrays, "metadata"})
        metadata = arrays.pop("metadata")
        if metadata.dtype == np.uint8 and metadata.ndim == 1:
            return metadata.tobytes().decode("utf-8", "replace"), arrays
        if metadata.dtype.kind == "U" and metadata.ndim == 0:
            return str(metadata), arrays
        raise ModelFileError(f"{name} has unreadable settings, so it cannot be loaded.")

    @classmethod
    def _read_arrays(cls, path, name, keys):
        """The arrays ``keys`` (exactly those), the learned ones checked for shape and values."""
        try:
            if archives.npz_keys(path) != keys:
                raise cls.not_its_file(name, "weights (exactly the arrays coef_ and intercept_)")
            arrays = archives.read_npz(path, keys)
        except archives.ArchiveError as error:
            raise ModelFileError.about(name, error) from error
        for key, shape in cls.learned_arrays.items():
            array = arrays[key]
            if array.shape != shape or array.dtype != np.float64 or not np.all(np.isfinite(array)):
                raise ModelFileError(f"{name} has unusable {key} weights, so it cannot be loaded.")
        return arrays


def loss_and_gradients(coef, intercept, inputs, labels, loss):
    """The batch's mean loss and its gradients with respect to ``coef`` and ``intercept``."""
    count = len(inputs)
    scores = inputs @ coef.T + intercept
    if loss == "squared_error":
        # Half the squared error, so that its gradient is the article's delta: score - goal.
        delta = scores - one_hot(labels)
        total = 0.5 * float((delta * delta).sum())
    else:
        log_probabilities = log_softmax(scores)
        total = -float(log_probabilities[np.arange(count), labels].sum())
        delta = np.exp(log_probabilities) - one_hot(labels)  # softmax minus goal
    return total / count, delta.T @ inputs / count, delta.sum(axis=0) / count


def one_hot(labels: np.ndarray) -> np.ndarray:
    """Each label as a row of ten goals: 1 for its digit, 0 for the others."""
    goals = np.zeros((len(labels), 10))
    goals[np.arange(len(labels)), labels] = 1.0
    return goals


def log_softmax(scores: np.ndarray) -> np.ndarray:
    """The logarithm of softmax, computed without overflow."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(scores: np.ndarray) -> np.ndarray:
    """Scores turned into probabilities that sum to 1, in the same order."""
    return np.exp(log_softmax(scores))
