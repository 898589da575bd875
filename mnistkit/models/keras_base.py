"""What every Keras family shares: training an epoch, reading digits, handing out the arrays.

A Keras family (``KerasMLP``, ``KerasCNN``) subclasses ``KerasClassifier``, declares its settings
and supplies ``_build(settings)``, the compiled Keras model, whose first layer rescales 0-255
pixels to 0-1. Everything else lives here: taking turns on ``KERAS_LOCK``, fixed prediction
batch sizes, full training batches, per-layer seeds from ``random_state``, and the
``.keras`` file (written and read safely by ``keras_files``; the
family is told apart by the settings ``persistence`` stores beside it, the network's input shape
checked against the family's).

Keras, and JAX under it, take seconds to import, so they are imported only when a model is first
built or trained; importing this module costs nothing.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from mnistkit.models import keras_files
from mnistkit.models.base import N_PIXELS, DigitClassifier
from mnistkit.models.keras_files import KERAS_LOCK  # every fit, predict and save takes turns

# XLA compiles the network afresh for every new number of images it is asked to read (about 0.2 s,
# and 2 MB kept for good, each time), so a learner adding digits to a handwriting set one by one
# would have the server compile without end. Predictions therefore run on a few fixed batch sizes,
# the last batch padded with blank images: at most four compilations per model.
PREDICT_BATCH_SIZES = (1, 16, 128, 1024)


class KerasClassifier(DigitClassifier):
    """A Keras model behind the zoo's protocol; the model rescales 0-255 pixels itself.

    Subclasses set ``input_shape`` (what one image looks like to their first layer) and write
    ``_build``. A setting called ``output`` set to ``"sigmoid"`` means ten separate yes/no
    outputs trained with binary cross-entropy; one called ``schedule`` set to ``"cosine"``
    lowers the learning rate step by step to zero over the configured epochs.
    """

    input_shape: ClassVar[tuple[int, ...]] = (N_PIXELS,)  # (784,) or (28, 28, 1)
    file_suffix = keras_files.SUFFIX
    needs_worker = True  # a server never imports Keras: a worker reads its files

    def partial_fit(self, X, y, classes=None):  # noqa: ARG002 - scikit-learn's signature
        """Train one more epoch over ``X``; returns ``self``."""
        settings = self._validated_params()
        images = self._pixels(X)
        labels = self._labels(y, len(images))
        # The images are shuffled here rather than by Keras, whose shuffle draws from NumPy's
        # global random state: this way the order depends on random_state alone.
        epoch = len(getattr(self, "loss_curve_", ()))
        order = self._epoch_rng(epoch).permutation(len(images))
        order = _full_batches(order, settings["batch_size"])
        if not hasattr(self, "model_"):
            # A learning-rate schedule spans the configured epochs of batches of this size.
            self.steps_per_epoch_ = -(-len(order) // settings["batch_size"])
            self.model_ = self._build(settings)
            self.classes_ = np.arange(10)
            self.loss_curve_ = []
        targets = labels
        if self._separate_outputs():
            targets = np.eye(10, dtype=np.float32)[labels]  # ten yes/no goals per image
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
        if self._separate_outputs():
            # Ten separate yes/no probabilities; dividing by their sum keeps their order.
            outputs /= np.maximum(outputs.sum(axis=1, keepdims=True), np.finfo(np.float64).tiny)
        return outputs

    def to_network(self):
        """The Keras layers as arrays: Rescaling becomes the input scale, Dropout does nothing."""
        from mnistkit.network import Network

        self._check_trained()
        layers, scale = keras_layers_as_arrays(self.model_)
        return Network(
            layers,
            input_scale=scale,
            input_shape=self.input_shape,
            normalise_output=self._separate_outputs(),
            family=self.family,
        )

    def _build(self, settings: dict[str, Any]):
        """The compiled Keras model for ``settings``; its first layer rescales 0-255 to 0-1."""
        raise NotImplementedError

    # --- its file: Keras's own .keras archive, read safely (see keras_files) --------------------

    def write_learned(self, path):
        keras_files.write_model(self.model_, path)

    @classmethod
    def read_learned(cls, path, name):
        return {"model_": keras_files.read_model(path, name, cls, input_shape=cls.input_shape)}

    # --- helpers for the families ---------------------------------------------------------------

    def _separate_outputs(self) -> bool:
        """Ten sigmoid outputs (normalised to sum to one when read) instead of a softmax."""
        return getattr(self, "output", "softmax") == "sigmoid"

    def _pixels(self, X) -> np.ndarray:
        """Images as uint8 or float32 0-255 in ``input_shape``: the first layer divides by 255."""
        images = self._images(X, dtype=None)  # uint8 stays uint8: a quarter of the copying
        if images.dtype not in (np.uint8, np.float32):
            images = images.astype(np.float32)
        return images.reshape(len(images), *self.input_shape)

    def _compile(self, model, settings: dict[str, Any]):
        """``model`` compiled with the chosen optimizer, learning rate and loss; returns it."""
        import keras

        optimizers = {
            "adam": keras.optimizers.Adam,
            "sgd": keras.optimizers.SGD,
            "rmsprop": keras.optimizers.RMSprop,
        }
        model.compile(
            optimizer=optimizers[settings["optimizer"]](
                learning_rate=self._learning_rate(settings)
            ),
            loss="binary_crossentropy"
            if self._separate_outputs()
            else "sparse_categorical_crossentropy",
        )
        return model

    def _learning_rate(self, settings: dict[str, Any]):
        """The optimizer's learning rate: a number, or Keras's cosine decay over the whole run.

        A setting called ``schedule`` set to ``"cosine"`` starts at ``learning_rate`` and glides
        down to zero by the last step of the configured epochs (each ``partial_fit`` is still one
        epoch; epochs beyond them train no further). Big steps early, fine ones at the end.
        """
        steps_per_epoch = getattr(self, "steps_per_epoch_", None)  # None: built outside a run
        if settings.get("schedule", "constant") != "cosine" or steps_per_epoch is None:
            return settings["learning_rate"]
        import keras

        return keras.optimizers.schedules.CosineDecay(
            settings["learning_rate"], decay_steps=steps_per_epoch * settings["epochs"]
        )

    def _layer_seed(self, index: int) -> int | None:
        """A seed for the layer at ``index``, derived from random_state (None: random)."""
        seed = self._seed()
        if seed is None:
            return None
        # Three numbers, so never the same stream as an epoch's [seed, epoch].
        return int(np.random.SeedSequence([seed, index, 1]).generate_state(1)[0])


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
