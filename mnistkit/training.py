"""Training runs: settings in, a trained model and its history out, progress reported per epoch.

A run is described by a frozen ``RunConfig``. ``train`` builds the model it names, trains it on the
first ``train_size`` training images (as the article took the first 1,000), keeps the last
``validation_share`` of them aside for validation, and after every epoch calls
``on_epoch(epoch, metrics)``; returning ``STOP`` from it ends the run after that epoch. The same
config on the same data gives the same model.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mnistkit import limits
from mnistkit.models import DigitClassifier, build_model, get_model_class
from mnistkit.models.base import TrainingDiverged

__all__ = [
    "STOP",
    "RunConfig",
    "RunConfigError",
    "TrainedModel",
    "TrainingDiverged",
    "train",
]

TRAIN_ACCURACY_IMAGES = 5_000  # train accuracy is measured on the first 5,000 training images
VALIDATION_SHARE = 0.1  # the default share of the training images kept aside for validation


class Signal(enum.Enum):
    """What an ``on_epoch`` callback may return."""

    STOP = "stop"


STOP = Signal.STOP


class RunConfigError(ValueError):
    """Run settings that cannot work, explained in a sentence."""


class FrozenSettings(Mapping):
    """A read-only, hashable mapping of hyperparameter names to values."""

    def __init__(self, items: Mapping[str, Any]):
        self._items = dict(items)

    def __getitem__(self, name: str) -> Any:
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(tuple(self._items.items()))

    def __repr__(self) -> str:
        return repr(self._items)


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides a training run; missing hyperparameters take their defaults."""

    model: str  # a name in mnistkit.models.REGISTRY, e.g. "scratch-linear"
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)  # the model's settings
    train_size: int | None = None  # train on the first N training images; None: all of them
    epochs: int | None = None  # passes over the training images; None: the model's default
    seed: int = 0  # fixes initial weights, dropout and the order of the images
    validation_share: float = VALIDATION_SHARE  # the last part of the images, kept aside

    def __post_init__(self) -> None:
        model_class = get_model_class(self.model)
        given = dict(self.hyperparameters)
        epochs = given.pop("epochs", None)
        if epochs is not None and self.epochs is not None and epochs != self.epochs:
            raise RunConfigError(
                f"epochs is given twice, as {self.epochs} and as the hyperparameter {epochs}."
            )
        epochs = self.epochs if self.epochs is not None else epochs
        epochs = model_class.defaults()["epochs"] if epochs is None else epochs
        settings = {k: v for k, v in model_class.defaults().items() if k != "epochs"}
        settings |= model_class.validate_hyperparameters(given)
        object.__setattr__(self, "hyperparameters", FrozenSettings(settings))
        object.__setattr__(self, "epochs", model_class.declaration("epochs").validate(epochs))
        _check_train_size(self.train_size)
        _check_seed(self.seed)
        _check_validation_share(self.validation_share)
        if self.train_size is not None:
            object.__setattr__(self, "train_size", int(self.train_size))
            limits.check_run(self.train_size, self.epochs)  # None: checked by train on the data
        object.__setattr__(self, "seed", int(self.seed))
        object.__setattr__(self, "validation_share", float(self.validation_share))

    @classmethod
    def from_preset(cls, model: str, preset: str, *, seed: int = 0) -> RunConfig:
        """The run settings of a model's named preset, e.g. ``("scratch-linear", "article")``."""
        presets = get_model_class(model).presets
        if preset not in presets:
            known = ", ".join(presets) or "none"
            raise RunConfigError(f"{model} has no preset {preset!r}; its presets are: {known}.")
        chosen = presets[preset]
        share = chosen.validation_share
        return cls(
            model=model,
            hyperparameters=chosen.hyperparameters,
            train_size=chosen.train_size,
            epochs=chosen.epochs,
            seed=seed,
            validation_share=VALIDATION_SHARE if share is None else share,
        )

    def preset(self) -> str | None:
        """The name of the model's preset these settings match (whatever the seed), if any."""
        for name in get_model_class(self.model).presets:
            if dataclasses.replace(RunConfig.from_preset(self.model, name), seed=self.seed) == self:
                return name
        return None

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain JSON values (layer widths as lists)."""
        return {
            "model": self.model,
            "hyperparameters": {
                name: list(value) if isinstance(value, tuple) else value
                for name, value in self.hyperparameters.items()
            },
            "train_size": self.train_size,
            "epochs": self.epochs,
            "seed": self.seed,
            "validation_share": self.validation_share,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunConfig:
        """The inverse of ``to_dict``; unknown keys are refused."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise RunConfigError(f"Unknown run settings: {', '.join(unknown)}.")
        if "model" not in data:
            raise RunConfigError("The run settings do not say which model to train.")
        return cls(**data)


@dataclass
class TrainedModel:
    """A fitted model with the settings that made it, its per-epoch history and its test score."""

    model: DigitClassifier
    config: RunConfig
    history: list[dict]  # one dict per epoch: epoch, loss, train/validation accuracy, seconds
    seconds: float  # wall time of the training loop
    test_accuracy: float | None  # on the data set's full test split
    name: str  # e.g. "Keras MLP 256-128 · 98.3%"
    stopped_early: bool = False  # on_epoch asked to stop before the last epoch

    def predict_proba(self, images) -> np.ndarray:
        return self.model.predict_proba(images)

    def predict(self, images) -> np.ndarray:
        return self.model.predict(images)


def train(
    config: RunConfig,
    dataset,
    on_epoch: Callable[[int, dict], Signal | None] | None = None,
) -> TrainedModel:
    """Train the model ``config`` describes on ``dataset``; see the module docstring."""
    images, labels = _training_images(config, dataset)
    limits.check_run(len(images), config.epochs)  # before any work: shared servers stay usable
    n_validation = int(len(images) * config.validation_share)
    n_fit = len(images) - n_validation
    fit_images, fit_labels = images[:n_fit], labels[:n_fit]
    validation = (images[n_fit:], labels[n_fit:]) if n_validation else None
    model = build_model(
        config.model, **config.hyperparameters, epochs=config.epochs, random_state=config.seed
    )
    history: list[dict] = []
    stopped_early = False
    start = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        model.partial_fit(fit_images, fit_labels)  # raises TrainingDiverged on a blow-up
        loss = model.loss_curve_[-1]
        if not math.isfinite(loss):
            learning_rate = config.hyperparameters.get("learning_rate")
            raise TrainingDiverged.at(epoch, loss, learning_rate)
        metrics = {
            "loss": loss,
            "train_accuracy": accuracy(
                model, fit_images[:TRAIN_ACCURACY_IMAGES], fit_labels[:TRAIN_ACCURACY_IMAGES]
            ),
            "validation_accuracy": None if validation is None else accuracy(model, *validation),
            "seconds": time.perf_counter() - start,
        }
        history.append({"epoch": epoch, **metrics})
        if on_epoch is not None and on_epoch(epoch, dict(metrics)) is STOP:
            stopped_early = epoch < config.epochs
            break
    seconds = time.perf_counter() - start
    test_accuracy = accuracy(model, dataset.x_test, dataset.y_test) if len(dataset.y_test) else None
    return TrainedModel(
        model=model,
        config=config,
        history=history,
        seconds=seconds,
        test_accuracy=test_accuracy,
        name=run_name(model, config, test_accuracy),
        stopped_early=stopped_early,
    )


def accuracy(model: DigitClassifier, images, labels) -> float:
    """The share of ``images`` whose predicted digit equals their label."""
    return float(np.mean(model.predict(images) == np.asarray(labels)))


def run_name(model: DigitClassifier, config: RunConfig, test_accuracy: float | None) -> str:
    """A readable name, e.g. ``Linear net (NumPy) · article preset · 74.5%``."""
    preset = config.preset()
    parts = [model.display_name, f"{preset} preset"] if preset else [model.describe()]
    if test_accuracy is not None:
        parts.append(f"{test_accuracy:.1%}")
    return " · ".join(parts)


def _training_images(config: RunConfig, dataset) -> tuple[np.ndarray, np.ndarray]:
    """The first ``train_size`` training images and labels."""
    available = len(dataset.y_train)
    size = available if config.train_size is None else config.train_size
    if size > available:
        raise RunConfigError(
            f"train_size is {size:,} but the data set has only {available:,} training images."
        )
    return dataset.x_train[:size], dataset.y_train[:size]


def _check_train_size(train_size: Any) -> None:
    if train_size is None:
        return
    if isinstance(train_size, bool) or not isinstance(train_size, int | np.integer):
        raise RunConfigError(f"train_size must be a whole number of images; got {train_size!r}.")
    if train_size < 1:
        raise RunConfigError(f"train_size must be at least 1 image; got {train_size}.")


def _check_seed(seed: Any) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise RunConfigError(f"seed must be a whole number from 0 up; got {seed!r}.")


def _check_validation_share(share: Any) -> None:
    if isinstance(share, bool) or not isinstance(share, int | float | np.floating):
        raise RunConfigError(f"validation_share must be a number; got {share!r}.")
    if not 0 <= share < 0.5:
        raise RunConfigError(
            f"validation_share must be from 0 up to (not including) 0.5; got {share:g}."
        )


def settings_used(config: RunConfig) -> str:
    """The settings a run used, in words: ``learning rate 0.001, batch size 128, …, seed 0``."""
    model_class = get_model_class(config.model)
    parts = []
    for name, value in config.hyperparameters.items():
        parts.append(f"{model_class.declaration(name).title.lower()} {_shown(value)}")
    size = "all" if config.train_size is None else f"{config.train_size:,}"
    epochs = f"{config.epochs} epoch{'' if config.epochs == 1 else 's'}"
    return ", ".join([*parts, epochs, f"{size} training digits", f"seed {config.seed}"])


def _shown(value: Any) -> str:
    """A setting's value as a learner reads it: 0.001, 256-128, true."""
    if isinstance(value, tuple):
        return "-".join(map(str, value))
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, int | float) else str(value)
