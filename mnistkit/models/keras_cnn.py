"""A small Keras convolutional network, like keras-io's "Simple MNIST convnet".

Two blocks of a 3x3 (or 5x5) convolution and 2x2 max pooling find strokes, then their corners
and curves; a dense layer and ten softmax outputs turn them into a digit. The Keras plumbing it
shares with the MLP is in ``keras_base``; Keras is imported only when a model is first built.
"""

from __future__ import annotations

from mnistkit.models.base import Hyperparameter, Preset
from mnistkit.models.keras_base import KerasClassifier

IMAGE_SIDE = 28
POOL = 2  # each block's max pooling keeps the largest of every 2x2 window


class KerasCNN(KerasClassifier):
    """A Keras CNN; the model rescales 0-255 pixels itself, so a saved file takes raw images.

    Its defaults (16 and 32 3x3 filters, dense 64, dropout 0.2, Adam from 2e-3 down to zero on a
    cosine over 4 epochs of batches of 32) are chosen to read 99% of the test digits after about
    two minutes of training on two cores; small batches are also the fastest per epoch there.
    """

    family = "keras-cnn"
    # Not yet measured with bench/job_memory.py: Keras and JAX as for the MLP, plus the
    # convolutions' activations per batch; seconds from its default run (5 epochs of 60,000).
    job_memory_mb = (450.0, 1.0)
    seconds_per_image = 7e-4
    display_name = "Keras CNN"
    summary = (
        "A convolutional network built with Keras: small filters slide over the image to find "
        "strokes and then shapes made of strokes, wherever they are, before a dense layer reads "
        "the digit."
    )
    input_shape = (IMAGE_SIDE, IMAGE_SIDE, 1)
    hyperparameters = (
        Hyperparameter(
            "filters",
            "int",
            16,
            "Filters in the first convolution block, each looking for one pattern; the second "
            "block has twice as many.",
            low=1,
            high=64,
        ),
        Hyperparameter(
            "kernel_size",
            "choice",
            3,
            "The side of each filter in pixels: 3 for 3x3 windows, 5 for 5x5.",
            options=(3, 5),
        ),
        Hyperparameter(
            "dense_units",
            "int",
            64,
            "Units in the dense layer after the convolutions; 0 leaves it out, as keras-io does.",
            low=0,
            high=512,
        ),
        Hyperparameter(
            "dropout",
            "float",
            0.2,
            "Share of the convolutions' outputs switched off at random at each training step, "
            "against overfitting.",
            low=0.0,
            high=0.9,
        ),
        Hyperparameter(
            "optimizer",
            "choice",
            "adam",
            "How the gradient turns into weight updates.",
            options=("adam", "sgd", "rmsprop"),
        ),
        Hyperparameter(
            "learning_rate",
            "float",
            2e-3,
            "How far each update moves the weights at the start; too far and the loss blows up.",
            low=1e-6,
            high=10.0,
            log=True,
        ),
        Hyperparameter(
            "schedule",
            "choice",
            "cosine",
            "How the learning rate changes during the run: 'cosine' glides it from learning_rate "
            "down to zero by the last epoch (big steps first, fine ones at the end); 'constant' "
            "keeps it.",
            options=("cosine", "constant"),
        ),
        Hyperparameter(
            "batch_size", "int", 32, "Images averaged per weight update.", low=1, high=1024
        ),
        Hyperparameter("epochs", "int", 4, "Passes over the training images.", low=1, high=100),
    )
    presets = {
        "keras-io": Preset(
            "keras-io",
            "keras-io's Simple MNIST convnet: 32 and 64 3x3 filters, no dense layer, dropout "
            "0.5, Adam at a constant learning rate, batches of 128, 15 epochs (slow on a small "
            "machine).",
            hyperparameters={
                "filters": 32,
                "kernel_size": 3,
                "dense_units": 0,
                "dropout": 0.5,
                "optimizer": "adam",
                "learning_rate": 1e-3,
                "schedule": "constant",
                "batch_size": 128,
            },
            epochs=15,
            validation_share=0.1,
        ),
    }

    def __init__(
        self,
        *,
        filters=16,
        kernel_size=3,
        dense_units=64,
        dropout=0.2,
        optimizer="adam",
        learning_rate=2e-3,
        schedule="cosine",
        batch_size=32,
        epochs=4,
        random_state=None,
    ):
        self.filters = filters
        self.kernel_size = kernel_size
        self.dense_units = dense_units
        self.dropout = dropout
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.schedule = schedule
        self.batch_size = batch_size
        self.epochs = epochs
        self.random_state = random_state

    def describe(self) -> str:
        filters = self.declaration("filters").validate(self.filters)
        kernel = self.declaration("kernel_size").validate(self.kernel_size)
        return f"{self.display_name} {filters}-{2 * filters} {kernel}x{kernel}"

    def count_parameters(self) -> int:
        settings = self._validated_params()
        filters, kernel, units = (
            settings["filters"],
            settings["kernel_size"],
            settings["dense_units"],
        )
        first = kernel * kernel * 1 * filters + filters
        second = kernel * kernel * filters * (2 * filters) + 2 * filters
        flat = feature_side(kernel) ** 2 * 2 * filters
        head = flat * units + units + units * 10 + 10 if units else flat * 10 + 10
        return first + second + head

    def _build(self, settings: dict):
        """The Keras model, compiled; each layer gets its own seed derived from random_state."""
        import keras  # here, not at the top: Keras and JAX take seconds to import

        def glorot():
            return keras.initializers.GlorotUniform(seed=self._layer_seed(len(layers)))

        def convolution(filters: int):
            return keras.layers.Conv2D(
                filters, settings["kernel_size"], activation="relu", kernel_initializer=glorot()
            )

        layers = [keras.Input(shape=self.input_shape), keras.layers.Rescaling(1 / 255)]
        for filters in (settings["filters"], 2 * settings["filters"]):
            layers.append(convolution(filters))
            layers.append(keras.layers.MaxPooling2D(POOL))
        layers.append(keras.layers.Flatten())
        if settings["dropout"] > 0:
            seed = self._layer_seed(len(layers))
            layers.append(keras.layers.Dropout(settings["dropout"], seed=seed))
        if settings["dense_units"]:
            layers.append(
                keras.layers.Dense(
                    settings["dense_units"], activation="relu", kernel_initializer=glorot()
                )
            )
        layers.append(keras.layers.Dense(10, activation="softmax", kernel_initializer=glorot()))
        return self._compile(keras.Sequential(layers, name="mnistkit_cnn"), settings)


def feature_side(kernel_size: int) -> int:
    """The side of the second block's feature maps: 5 for 3x3 filters, 4 for 5x5."""
    side = IMAGE_SIDE
    for _ in range(2):
        side = (side - kernel_size + 1) // POOL  # a "valid" convolution, then pooling
    return side
