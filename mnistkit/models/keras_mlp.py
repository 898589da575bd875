"""A Keras Sequential MLP like the articles': dense hidden layers, dropout, ten outputs.

Keras, and JAX under it, take seconds to import, so they are imported only when a model is first
built or trained; importing this module costs nothing.
"""

from __future__ import annotations

import numpy as np

from mnistkit.models import keras_files
from mnistkit.models.base import (
    N_PIXELS,
    DigitClassifier,
    Hyperparameter,
    Preset,
    dense_parameter_count,
)
from mnistkit.models.keras_files import KERAS_LOCK  # every fit, predict and save takes turns

# XLA compiles the network afresh for every new number of images it is asked to read (about 0.2 s,
# and 2 MB kept for good, each time), so a learner adding digits to a handwriting set one by one
# would have the server compile without end. Predictions therefore run on a few fixed batch sizes,
# the last batch padded with blank images: at most four compilations per model.
PREDICT_BATCH_SIZES = (1, 16, 128, 1024)


class KerasMLP(DigitClassifier):
    """A Keras MLP; the model rescales 0-255 pixels itself, so a saved file takes raw images."""

    family = "keras-mlp"
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

    def partial_fit(self, X, y, classes=None):  # noqa: ARG002 - scikit-learn's signature
        """Train one more epoch over ``X``; returns ``self``."""
        settings = self._validated_params()
        images = self._pixels(X)
        labels = self._labels(y, len(images))
        if not hasattr(self, "model_"):
            self.model_ = self._build(settings)
            self.classes_ = np.arange(10)
            self.loss_curve_ = []
        targets = labels
        if settings["output"] == "sigmoid":
            targets = np.eye(10, dtype=np.float32)[labels]  # ten yes/no goals per image
        # The images are shuffled here rather than by Keras, whose shuffle draws from NumPy's
        # global random state: this way the order depends on random_state alone.
        order = self._epoch_rng(len(self.loss_curve_)).permutation(len(images))
        order = _full_batches(order, settings["batch_size"])
        with KERAS_LOCK:
            history = self.model_.fit(
                images[order],
                targets[order],
                batch_size=settings["batch_size"],
                epochs=1,
                shuffle=False,
                verbose=0,
            )
        self._record_loss(history.history["loss"][-1])
        return self

    def predict_proba(self, X) -> np.ndarray:
        self._check_trained()
        pixels = self._pixels(X)
        with KERAS_LOCK:
            batches = [
                np.asarray(self.model_.predict_on_batch(batch))[:count]
                for batch, count in _fixed_size_batches(pixels)
            ]
        outputs = np.concatenate(batches, dtype=np.float64) if batches else np.empty((0, 10))
        if self.output == "sigmoid":
            # Ten separate yes/no probabilities; dividing by their sum keeps their order.
            outputs /= np.maximum(outputs.sum(axis=1, keepdims=True), np.finfo(np.float64).tiny)
        return outputs

    def describe(self) -> str:
        layers = self.declaration("hidden_layers")
        return f"{self.display_name} {layers.format(layers.validate(self.hidden_layers))}"

    def count_parameters(self) -> int:
        return dense_parameter_count(self.declaration("hidden_layers").validate(self.hidden_layers))

    def to_network(self):
        """The Keras layers as arrays: Rescaling becomes the input scale, Dropout does nothing."""
        from mnistkit.network import Network

        self._check_trained()
        layers, scale = keras_layers_as_arrays(self.model_)
        return Network(
            layers,
            input_scale=scale,
            input_shape=(N_PIXELS,),
            normalise_output=self.output == "sigmoid",
            family=self.family,
        )

    def _pixels(self, X) -> np.ndarray:
        """Images as (n, 784) uint8 or float32 0-255: the model's first layer divides by 255."""
        images = self._images(X, dtype=None)  # uint8 stays uint8: a quarter of the copying
        return images if images.dtype in (np.uint8, np.float32) else images.astype(np.float32)

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
        model = keras.Sequential(layers, name="mnistkit_mlp")
        optimizers = {
            "adam": keras.optimizers.Adam,
            "sgd": keras.optimizers.SGD,
            "rmsprop": keras.optimizers.RMSprop,
        }
        model.compile(
            optimizer=optimizers[settings["optimizer"]](learning_rate=settings["learning_rate"]),
            loss="sparse_categorical_crossentropy"
            if settings["output"] == "softmax"
            else "binary_crossentropy",
        )
        return model

    def _layer_seed(self, index: int) -> int | None:
        """A seed for the layer at ``index``, derived from random_state (None: random)."""
        seed = self._seed()
        if seed is None:
            return None
        # Three numbers, so never the same stream as an epoch's [seed, epoch].
        return int(np.random.SeedSequence([seed, index, 1]).generate_state(1)[0])

    # --- its file: Keras's own .keras archive, read safely (see keras_files) --------------------

    file_suffix = keras_files.SUFFIX

    def write_learned(self, path):
        keras_files.write_model(self.model_, path)

    @classmethod
    def read_learned(cls, path, name):
        return {"model_": keras_files.read_model(path, name, cls, input_shape=(N_PIXELS,))}


def keras_layers_as_arrays(model) -> tuple[tuple, float]:
    """A Keras model's layers as ``mnistkit.network`` layers, and the product of its Rescalings.

    Dense, Conv2D, MaxPooling2D and Flatten become layers; Dropout and Input do nothing when
    reading; Rescaling (with no offset) must come before any other layer.
    """
    from mnistkit.network import Layer, NetworkError

    layers: list = []
    scale = 1.0
    with KERAS_LOCK:  # another thread's fit or predict empties the variables meanwhile
        for keras_layer in model.layers:
            kind = type(keras_layer).__name__
            config = keras_layer.get_config()
            activation = config.get("activation", "linear")
            if kind == "Rescaling":
                if layers or float(config.get("offset", 0.0)) != 0.0:
                    raise NetworkError(
                        "Only a Rescaling of the input pixels can be turned into arrays."
                    )
                scale *= float(config["scale"])
            elif kind == "Dense":
                kernel, bias = (
                    np.array(array, dtype=np.float64) for array in keras_layer.get_weights()
                )
                layers.append(Layer("dense", kernel, bias, activation))
            elif kind == "Conv2D":
                kernel, bias = (
                    np.array(array, dtype=np.float64) for array in keras_layer.get_weights()
                )
                if tuple(config["strides"]) != (1, 1) or tuple(config["dilation_rate"]) != (1, 1):
                    raise NetworkError("Only convolutions with stride 1 can be turned into arrays.")
                layers.append(Layer("conv2d", kernel, bias, activation, padding=config["padding"]))
            elif kind == "MaxPooling2D":
                pool = tuple(config["pool_size"])
                strides = tuple(config.get("strides") or pool)
                if pool[0] != pool[1] or strides != pool or config["padding"] != "valid":
                    raise NetworkError("Only square, non-overlapping max pooling can be arrays.")
                layers.append(Layer("maxpool2d", pool=int(pool[0])))
            elif kind == "Flatten":
                layers.append(Layer("flatten"))
            elif kind in ("Dropout", "InputLayer"):
                continue
            else:
                raise NetworkError(f"A Keras {kind} layer cannot be turned into arrays.")
    return tuple(layers), scale


def _full_batches(order: np.ndarray, batch_size: int) -> np.ndarray:
    """``order`` topped up from its own start so that every batch holds ``batch_size`` images.

    XLA compiles the training step for one batch size; a shorter last batch (54,000 images in
    batches of 128 leave 112) would cost a second compilation, and its memory, every run. The
    few images that fill the gap are seen twice this epoch, different ones every epoch.
    """
    short = -len(order) % batch_size
    if short == 0 or len(order) < batch_size:
        return order
    return np.concatenate([order, order[:short]])


def _fixed_size_batches(images: np.ndarray):
    """``images`` in batches of the sizes in PREDICT_BATCH_SIZES: (padded batch, real count)."""
    largest = PREDICT_BATCH_SIZES[-1]
    for start in range(0, len(images), largest):
        batch = images[start : start + largest]
        size = next(size for size in PREDICT_BATCH_SIZES if size >= len(batch))
        padding = np.zeros((size - len(batch), *batch.shape[1:]), dtype=batch.dtype)
        yield np.concatenate([batch, padding]), len(batch)
