"""The model zoo: four digit classifiers that share one protocol (see ``base``).

``REGISTRY`` maps each model's name to its class; ``build_model`` makes one from a name and
keyword hyperparameters, checked against the model's declarations. Importing this package does
not import Keras: ``KerasMLP`` and ``KerasCNN`` import it when their first model is built.
``NetworkClassifier`` is no family: it holds, as arrays, a model a worker process read for the
server (see ``read_elsewhere``).
"""

from __future__ import annotations

from typing import Any

from mnistkit.models.base import (
    CLASSES,
    N_PIXELS,
    DigitClassifier,
    Hyperparameter,
    HyperparameterError,
    InputShapeError,
    NotTrainedError,
    Preset,
    TrainingDiverged,
)
from mnistkit.models.keras_cnn import KerasCNN
from mnistkit.models.keras_mlp import KerasMLP
from mnistkit.models.read_elsewhere import NetworkClassifier, reading
from mnistkit.models.scratch import ScratchLinearNet
from mnistkit.models.sklearn_mlp import SklearnMLP

REGISTRY: dict[str, type[DigitClassifier]] = {
    model.family: model for model in (ScratchLinearNet, SklearnMLP, KerasMLP, KerasCNN)
}
MODEL_NAMES: tuple[str, ...] = tuple(REGISTRY)


class UnknownModelError(ValueError):
    """A model name that is not in the registry."""


def get_model_class(name: str) -> type[DigitClassifier]:
    """The class registered under ``name``, e.g. ``"keras-mlp"``."""
    if name not in REGISTRY:
        raise UnknownModelError(
            f"There is no model called {name!r}; choose one of {', '.join(MODEL_NAMES)}."
        )
    return REGISTRY[name]


def build_model(name: str, **hyperparameters: Any) -> DigitClassifier:
    """A new, untrained model: the declared defaults, overridden by ``hyperparameters``."""
    model_class = get_model_class(name)
    random_state = hyperparameters.pop("random_state", None)
    settings = model_class.defaults() | model_class.validate_hyperparameters(hyperparameters)
    model = model_class(**settings, random_state=random_state)
    model._seed()  # refuses a random_state that is not a whole number from 0 up
    return model


__all__ = [
    "CLASSES",
    "MODEL_NAMES",
    "N_PIXELS",
    "REGISTRY",
    "DigitClassifier",
    "Hyperparameter",
    "HyperparameterError",
    "InputShapeError",
    "KerasCNN",
    "KerasMLP",
    "NetworkClassifier",
    "NotTrainedError",
    "Preset",
    "ScratchLinearNet",
    "SklearnMLP",
    "TrainingDiverged",
    "UnknownModelError",
    "build_model",
    "get_model_class",
    "reading",
]
