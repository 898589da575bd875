"""A Keras Sequential MLP like the articles': dense hidden layers, dropout, ten outputs.

The Keras plumbing it shares with the CNN (training, reading, the lock) is in ``keras_base``;
Keras itself is imported only when a model is first built, so importing this module costs nothing.
"""

from __future__ import annotations

from mnistkit.models.base import (
    N_PIXELS,
    Hyperparameter,
    Preset,
    dense_parameter_count,
)
from mnistkit.models.keras_base import (  # noqa: F401 - re-exported for older imports
    KERAS_LOCK,
    PREDICT_BATCH_SIZES,
    KerasClassifier,
    _full_batches,
    keras_layers_as_arrays,
)


class KerasMLP(KerasClassifier):
    """A Keras MLP; the model rescales 0-255 pixels itself, so a saved file takes raw images."""

    family = "keras-mlp"
    # bench/job_memory.py: 365 MB at 10,000 images and 391 at 60,000, most of it Keras and JAX.
    job_memory_mb = (370.0, 0.6)
    seconds_per_image = 4e-5
    display_name = "Keras MLP"
    summary = (
        "A multi-layer perceptron built with Keras: dense hidden layers with dropout between the "
        "pixels and the ten outputs, the network of the Keras articles."
    )
    hyperparameters = (
        Hyperparameter(
            "hidden_layers",
            "layers",
            (256, 128),
            "Units in each hidden layer, e.g. 128-128 or 512-256-128.",
            low=1,
            high=1024,
        ),
        Hyperparameter(
            "activation",
            "choice",
            "relu",
            "What each hidden unit applies to its weighted sum.",
            options=("relu", "tanh", "sigmoid"),
        ),
        Hyperparameter(
            "dropout",
            "float",
            0.3,
            "Share of hidden units switched off at random at each training step, against "
            "overfitting.",
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
            1e-3,
            "How far each update moves the weights; too far and the loss blows up.",
            low=1e-6,
            high=10.0,
            log=True,
        ),
        Hyperparameter(
            "batch_size", "int", 128, "Images averaged per weight update.", low=1, high=1024
        ),
        Hyperparameter(
            "output",
            "choice",
            "softmax",
            "softmax with cross-entropy; or sigmoid: ten separate yes/no outputs with binary "
            "cross-entropy, as in the 512-256-128 article.",
            options=("softmax", "sigmoid"),
        ),
        Hyperparameter("epochs", "int", 12, "Passes over the training images.", low=1, high=100),
    )
    presets = {
        "article-004": Preset(
            "article-004",
            "The 128-128 article: ReLU, softmax, Adam, batches of 32, 3 epochs, 10% kept aside "
            "for validation.",
            hyperparameters={
                "hidden_layers": (128, 128),
                "activation": "relu",
                "dropout": 0.0,
                "optimizer": "adam",
                "learning_rate": 1e-3,
                "batch_size": 32,
                "output": "softmax",
            },
            epochs=3,
            validation_share=0.1,
        ),
        "article-003": Preset(
            "article-003",
            "The 512-256-128 article: ReLU, ten sigmoid outputs with binary cross-entropy, Adam, "
            "batches of 32, 50 epochs (slow).",
            hyperparameters={
                "hidden_layers": (512, 256, 128),
                "activation": "relu",
                "dropout": 0.0,
                "optimizer": "adam",
                "learning_rate": 1e-3,
                "batch_size": 32,
                "output": "sigmoid",
            },
            epochs=50,
        ),
    }

    def __init__(
        self,
        *,
        hidden_layers=(256, 128),
        activation="relu",
        dropout=0.3,
        optimizer="adam",
        learning_rate=1e-3,
        batch_size=128,
        output="softmax",
        epochs=12,
        random_state=None,
    ):
        self.hidden_layers = hidden_layers
        self.activation = activation
        self.dropout = dropout
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.output = output
        self.epochs = epochs
        self.random_state = random_state

    def describe(self) -> str:
        layers = self.declaration("hidden_layers")
        return f"{self.display_name} {layers.format(layers.validate(self.hidden_layers))}"

    def count_parameters(self) -> int:
        return dense_parameter_count(self.declaration("hidden_layers").validate(self.hidden_layers))

    def _build(self, settings: dict):
        """The Keras model, compiled; each layer gets its own seed derived from random_state."""
        import keras  # here, not at the top: Keras and JAX take seconds to import

        def dense(width: int, activation: str):
            initializer = keras.initializers.GlorotUniform(seed=self._layer_seed(len(layers)))
            return keras.layers.Dense(width, activation=activation, kernel_initializer=initializer)

        layers = [keras.Input(shape=(N_PIXELS,)), keras.layers.Rescaling(1 / 255)]
        for width in settings["hidden_layers"]:
            layers.append(dense(width, settings["activation"]))
            if settings["dropout"] > 0:
                seed = self._layer_seed(len(layers))
                layers.append(keras.layers.Dropout(settings["dropout"], seed=seed))
        layers.append(dense(10, settings["output"]))
        return self._compile(keras.Sequential(layers, name="mnistkit_mlp"), settings)
