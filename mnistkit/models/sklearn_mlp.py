"""A multi-layer perceptron from scikit-learn, trained one epoch at a time so progress can show."""

from __future__ import annotations

import math

import numpy as np
from threadpoolctl import threadpool_limits

from mnistkit import archives
from mnistkit.models.base import (
    CLASSES,
    N_PIXELS,
    DigitClassifier,
    Hyperparameter,
    ModelFileError,
    dense_parameter_count,
)

# Training uses one BLAS thread. With two, an epoch is about 20% faster on an idle two-core
# machine but twice as slow when another program keeps one core busy (a second visitor training,
# the test suite): OpenBLAS's threads wait for each other at every small matrix product.

# The types a mnistkit .skops file may hold beyond those skops trusts by default. Checked with
# skops.io.get_untrusted_types on files written by ``write_learned``: the optimiser objects
# scikit-learn's MLPClassifier keeps so that training can continue. Both hold only numbers.
SKOPS_TRUSTED = [
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
]

# scikit-learn's names for its hidden activations, in mnistkit.network's words.
SKLEARN_ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "logistic": "sigmoid", "identity": "linear"}


class SklearnMLP(DigitClassifier):
    """scikit-learn's ``MLPClassifier`` behind the mnistkit protocol; it sees pixels as 0-1."""

    family = "sklearn-mlp"
    display_name = "scikit-learn MLP"
    summary = (
        "A multi-layer perceptron from scikit-learn: hidden layers of units between the pixels "
        "and the ten outputs, trained with backpropagation."
    )
    hyperparameters = (
        Hyperparameter(
            "hidden_layers",
            "layers",
            (256,),
            "Units in each hidden layer, e.g. 256 or 128-64.",
            low=1,
            high=1024,
        ),
        Hyperparameter(
            "activation",
            "choice",
            "relu",
            "What each hidden unit applies to its weighted sum.",
            options=("relu", "tanh", "logistic"),
        ),
        Hyperparameter(
            "solver",
            "choice",
            "adam",
            "adam adapts the step size of every weight; sgd is plain stochastic gradient descent "
            "with momentum.",
            options=("adam", "sgd"),
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
            "alpha",
            "float",
            1e-4,
            "L2 penalty: how strongly large weights are discouraged.",
            low=1e-8,
            high=1.0,
            log=True,
            label="L2 penalty (alpha)",
        ),
        Hyperparameter(
            "batch_size", "int", 128, "Images averaged per weight update.", low=1, high=1024
        ),
        Hyperparameter("epochs", "int", 12, "Passes over the training images.", low=1, high=100),
    )
    presets = {}

    def __init__(
        self,
        *,
        hidden_layers=(256,),
        activation="relu",
        solver="adam",
        learning_rate=1e-3,
        alpha=1e-4,
        batch_size=128,
        epochs=12,
        random_state=None,
    ):
        self.hidden_layers = hidden_layers
        self.activation = activation
        self.solver = solver
        self.learning_rate = learning_rate
        self.alpha = alpha
        self.batch_size = batch_size
        self.epochs = epochs
        self.random_state = random_state

    def partial_fit(self, X, y, classes=None):  # noqa: ARG002 - scikit-learn's signature
        """Train one more epoch over ``X``; returns ``self``."""
        settings = self._validated_params()
        images = self._scale(X)
        labels = self._labels(y, len(images))
        first_epoch = not hasattr(self, "estimator_")
        if first_epoch:
            from sklearn.neural_network import MLPClassifier

            self.estimator_ = MLPClassifier(
                hidden_layer_sizes=settings["hidden_layers"],
                activation=settings["activation"],
                solver=settings["solver"],
                learning_rate_init=settings["learning_rate"],
                alpha=settings["alpha"],
                batch_size=min(settings["batch_size"], len(images)),
            )
            self.classes_ = np.arange(10)
            self.loss_curve_ = []
        # scikit-learn re-seeds from random_state at every partial_fit call, so every epoch gets
        # its own seed: a different shuffle each epoch, the same ones on every run.
        seed = self._epoch_rng(len(self.loss_curve_)).integers(2**31)
        self.estimator_.set_params(random_state=int(seed))
        with (
            threadpool_limits(limits=1, user_api="blas"),  # see the note above the class
            np.errstate(over="ignore", invalid="ignore", divide="ignore"),
        ):
            try:
                classes = CLASSES if first_epoch else None
                self.estimator_.partial_fit(images, labels, classes=classes)
            except ValueError as error:
                if "non-finite" not in str(error):
                    raise
                loss = math.inf  # scikit-learn refuses weights that became infinite or NaN
            else:
                loss = self.estimator_.loss_curve_[-1]
        self._record_loss(loss)
        return self

    def predict_proba(self, X) -> np.ndarray:
        self._check_trained()
        return self.estimator_.predict_proba(self._scale(X))

    def describe(self) -> str:
        layers = self.declaration("hidden_layers")
        return f"{self.display_name} {layers.format(layers.validate(self.hidden_layers))}"

    def count_parameters(self) -> int:
        return dense_parameter_count(self.declaration("hidden_layers").validate(self.hidden_layers))

    def to_network(self):
        """scikit-learn's layers as dense layers: its hidden activation, softmax at the end."""
        from mnistkit.network import Layer, Network

        self._check_trained()
        estimator = self.estimator_
        hidden = SKLEARN_ACTIVATIONS[estimator.activation]
        pairs = list(zip(estimator.coefs_, estimator.intercepts_, strict=True))
        layers = tuple(
            Layer(
                "dense",
                np.array(weights, dtype=np.float64),
                np.array(biases, dtype=np.float64),
                "softmax" if index == len(pairs) - 1 else hidden,
            )
            for index, (weights, biases) in enumerate(pairs)
        )
        return Network(layers, input_scale=1.0 / 255.0, family=self.family)

    def _scale(self, X) -> np.ndarray:
        """Pixels as float32 from 0 to 1."""
        return self._images(X) / np.float32(255)

    # --- its file: skops's archive of the estimator, read with an explicit trusted list --------

    file_suffix = ".skops"
    needs_worker = True  # the server imports no scikit-learn: a worker reads its files
    job_memory_mb = (60.0, 2.2)  # bench/job_memory.py: 80 MB at 10,000 images, 182 at 60,000
    seconds_per_image = 4e-5

    def write_learned(self, path):
        import skops.io

        skops.io.dump(self.estimator_, path)

    @classmethod
    def read_learned(cls, path, name):
        return {"estimator_": cls._checked_estimator(cls._read_skops(path, name), name)}

    @classmethod
    def read_format_1(cls, path, name):
        """Format 1 was a skops file of {"estimator": the MLPClassifier, "metadata": its JSON}."""
        try:
            if "schema.json" not in archives.member_names(path):
                return None
        except archives.ArchiveError as error:
            raise ModelFileError.about(name, error) from error
        content = cls._read_skops(path, name)
        if not isinstance(content, dict) or not isinstance(content.get("metadata"), str):
            raise ModelFileError(f"{name} is a skops file but not a mnistkit model file.")
        return content["metadata"], {
            "estimator_": cls._checked_estimator(content.get("estimator"), name)
        }

    @classmethod
    def _read_skops(cls, path, name):
        """What a .skops file holds, once every type in it is one skops or mnistkit trusts."""
        import skops.io

        try:
            if "schema.json" not in archives.member_names(path):
                raise cls.not_its_file(name, "scikit-learn estimator (a skops schema.json)")
        except archives.ArchiveError as error:
            raise ModelFileError.about(name, error) from error
        try:
            untrusted = set(skops.io.get_untrusted_types(file=path))
        except Exception as error:
            raise ModelFileError.about(name, archives.DAMAGED) from error
        unexpected = sorted(untrusted - set(SKOPS_TRUSTED))
        if unexpected:
            raise ModelFileError(
                f"{name} holds types mnistkit does not trust ({', '.join(unexpected)}), "
                "so it was not loaded."
            )
        try:
            return skops.io.load(path, trusted=SKOPS_TRUSTED)
        except Exception as error:
            raise ModelFileError.about(name, archives.DAMAGED) from error

    @staticmethod
    def _checked_estimator(estimator, name):
        """A trained MLPClassifier that reads 784 pixels into the ten digits, or why not."""
        from sklearn.neural_network import MLPClassifier

        if not isinstance(estimator, MLPClassifier):
            raise ModelFileError(f"{name} is a skops file but not a mnistkit model file.")
        if getattr(estimator, "n_features_in_", None) != N_PIXELS or not np.array_equal(
            getattr(estimator, "classes_", None), CLASSES
        ):
            raise ModelFileError(
                f"{name} holds a scikit-learn MLP that does not read 784 pixels into the ten "
                "digits, so it cannot be loaded."
            )
        return estimator
