"""Training runs: settings in, a trained model and its history out, progress reported per epoch.

A run is described by a frozen ``RunConfig``. ``train`` builds the model it names, trains it on the
first ``train_size`` training images (as the article took the first 1,000), keeps the last
``validation_share`` of them aside for validation, and after every epoch calls
``on_epoch(epoch, metrics)``; returning ``STOP`` from it ends the run after that epoch. The same
config on the same data gives the same model.

Every setting of a run is declared once, as a ``Hyperparameter``: the model's own (``epochs``
among them, since its default and range belong to the model) on the model's class, and
``train_size``, ``seed`` and ``validation_share`` in ``RUN_SETTINGS`` below. ``declarations(model)``
lists them all; the Train page's widgets, the command line's ``--set`` and links are made from it,
and ``preset_settings`` is the one place a preset is applied.
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

from mnistkit.models import DigitClassifier, build_model, get_model_class
from mnistkit.models.base import Hyperparameter, HyperparameterError, TrainingDiverged

__all__ = [
    "RUN_SETTINGS",
    "STOP",
    "RunConfig",
    "RunConfigError",
    "TrainedModel",
    "TrainingDiverged",
    "declarations",
    "preset_settings",
    "train",
]

TRAIN_ACCURACY_IMAGES = 5_000  # train accuracy is measured on the first 5,000 training images


class Signal(enum.Enum):
    """What an ``on_epoch`` callback may return."""

    STOP = "stop"


STOP = Signal.STOP


class RunConfigError(HyperparameterError):
    """Run settings that cannot work, explained in a sentence."""


@dataclass(frozen=True)
class RunSetting(Hyperparameter):
    """A setting of the run rather than of the model; ``None`` may stand for a word ("all")."""

    none_means: str = ""  # what None stands for, e.g. "all"; empty: None is not a value

    def validate(self, value: Any) -> Any:
        if value is None and self.none_means:
            return None
        return super().validate(value)

    def parse(self, text: str) -> Any:
        if self.none_means and text.strip().lower() == self.none_means:
            return None
        return super().parse(text)

    def format(self, value: Any) -> str:
        return self.none_means if value is None else super().format(value)

    def describe_range(self) -> str:
        if self.kind != "int":
            described = super().describe_range()
        elif self.high is None:
            described = f"a whole number from {self.low:,} up"
        else:
            described = f"a whole number from {self.low:,} to {self.high:,}"
        return f"{described}, or {self.none_means}" if self.none_means else described

    def _check_range(self, value: float, what: str) -> None:
        if self.kind != "int":
            super()._check_range(value, what)
        elif value < self.low or (self.high is not None and value > self.high):
            raise RunConfigError(f"{what} must be {self.describe_range()}; got {value:,}.")


RUN_SETTINGS: dict[str, RunSetting] = {
    setting.name: setting
    for setting in (
        RunSetting(
            "train_size",
            "int",
            None,
            "Train on the first N training images, as the article took the first 1,000; "
            "all: every one. The held-out share comes from these.",
            low=1,
            none_means="all",
            label="Training digits",
        ),
        RunSetting(
            "validation_share",
            "float",
            0.1,
            "The last part of the training images, kept aside to check the model each epoch on "
            "digits it does not learn from (0: none, as in the article).",
            low=0.0,
            high=0.4,
            label="Held-out share of the training digits",
        ),
        RunSetting(
            "seed",
            "int",
            0,
            "Fixes the first weights, dropout and the order of the images: the same seed and "
            "settings give the same model again.",
            low=0,
            high=2**31 - 1,
        ),
    )
}


def declarations(model: str) -> dict[str, Hyperparameter]:
    """Every setting of a run of ``model``, by name: the model's own, then the run's."""
    return {h.name: h for h in get_model_class(model).hyperparameters} | RUN_SETTINGS


def preset_settings(model: str, preset: str | None) -> dict[str, Any]:
    """Every setting of a run of ``model`` as ``preset`` has it (None: the declared defaults).

    The one place a preset is applied: the command line, the Train page and links all call it.
    """
    settings = {name: declaration.default for name, declaration in declarations(model).items()}
    if preset is None:
        return settings
    presets = get_model_class(model).presets
    if preset not in presets:
        known = ", ".join(presets) or "none"
        raise RunConfigError(f"{model} has no preset {preset!r}; its presets are: {known}.")
    chosen = presets[preset]
    settings |= chosen.hyperparameters
    for name in ("train_size", "epochs", "validation_share"):
        if getattr(chosen, name) is not None:  # None in a preset: the declared default
            settings[name] = getattr(chosen, name)
    return settings


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
    """Everything that decides a training run; missing settings take their declared defaults."""

    model: str  # a name in mnistkit.models.REGISTRY, e.g. "scratch-linear"
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)  # the model's, but epochs
    train_size: int | None = None  # train on the first N training images; None: all of them
    epochs: int | None = None  # passes over the images, declared by the model; None: its default
    seed: int = 0  # fixes initial weights, dropout and the order of the images
    validation_share: float = RUN_SETTINGS["validation_share"].default  # the images' last part

    def __post_init__(self) -> None:
        model_class = get_model_class(self.model)
        given = dict(self.hyperparameters)
        epochs = given.pop("epochs", None)
        if epochs is not None and self.epochs is not None and epochs != self.epochs:
            raise RunConfigError(
                f"epochs is given twice, as {self.epochs} and as the hyperparameter {epochs}."
            )
        epochs = self.epochs if self.epochs is not None else epochs
        epochs = model_class.declaration("epochs").default if epochs is None else epochs
        settings = {k: v for k, v in model_class.defaults().items() if k != "epochs"}
        settings |= model_class.validate_hyperparameters(given)
        object.__setattr__(self, "hyperparameters", FrozenSettings(settings))
        object.__setattr__(self, "epochs", model_class.declaration("epochs").validate(epochs))
        for name, declaration in RUN_SETTINGS.items():
            object.__setattr__(self, name, declaration.validate(getattr(self, name)))

    @classmethod
    def from_settings(cls, model: str, settings: Mapping[str, Any]) -> RunConfig:
        """A run from one flat mapping of ``declarations(model)`` names; the rest take defaults."""
        known = declarations(model)
        unknown = [name for name in settings if name not in known]
        if unknown:
            names = ", ".join(known)
            raise RunConfigError(
                f"{get_model_class(model).display_name} runs have no setting called "
                f"{unknown[0]!r}; the settings are {names}."
            )
        run = {name: settings[name] for name in RUN_SETTINGS if name in settings}
        hyperparameters = {k: v for k, v in settings.items() if k not in RUN_SETTINGS}
        return cls(model=model, hyperparameters=hyperparameters, **run)

    @classmethod
    def from_preset(cls, model: str, preset: str, *, seed: int = 0) -> RunConfig:
        """The run settings of a model's named preset, e.g. ``("scratch-linear", "article")``."""
        return cls.from_settings(model, preset_settings(model, preset) | {"seed": seed})

    def settings(self) -> dict[str, Any]:
        """Every setting as one flat mapping, in the order of ``declarations(self.model)``."""
        values = {**self.hyperparameters, "epochs": self.epochs}
        values |= {name: getattr(self, name) for name in RUN_SETTINGS}
        return {name: values[name] for name in declarations(self.model)}

    def preset(self) -> str | None:
        """The name of the model's preset these settings match (whatever the seed), if any."""
        for name in get_model_class(self.model).presets:
            if RunConfig.from_preset(self.model, name, seed=self.seed) == self:
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
    # The model file a worker read this model from, handed back unchanged by persistence.dumps
    # (a server keeps a Keras model as arrays and never writes a .keras file itself).
    saved_file: bytes | None = field(default=None, repr=False)

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
