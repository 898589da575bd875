"""The protocol every mnistkit model follows, and how a model declares its settings.

Every model is a scikit-learn classifier: ``__init__`` stores keyword hyperparameters unchanged,
``fit`` returns ``self``, ``partial_fit`` trains one more epoch, ``predict_proba`` gives ``(n, 10)``
probabilities and learned state ends in ``_``. Inputs are images in MNIST's convention: shape
``(n, 28, 28)`` or ``(n, 784)``, intensities 0-255. Each model scales them its own way.

Each family owns its file format: ``write_learned`` writes what the model learned as a zip archive
(``file_suffix`` names the kind), ``read_learned`` reads such a file back safely. ``persistence``
adds the run's settings to the archive and picks the family from them, never from the suffix.

Each model lists its hyperparameters once, as ``Hyperparameter`` declarations; the Train page's
widgets, the command line's ``--set key=value`` and the validation below are all made from them.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

N_PIXELS = 28 * 28
CLASSES = np.arange(10)


class HyperparameterError(ValueError):
    """A hyperparameter value outside what its model declares."""


class ModelFileError(ValueError):
    """A file that is not a mnistkit model, is damaged, or holds something untrusted."""

    @classmethod
    def about(cls, name: str, reason: object) -> ModelFileError:
        """The error for the file ``name`` given a clause (an ``ArchiveError``): "it is damaged"."""
        return cls(f"{name} cannot be loaded: {reason}.")


class InputShapeError(ValueError):
    """Images that are not a batch of 28x28 digits."""


class NotTrainedError(ValueError):
    """A model asked to predict before it was trained."""


class TrainingDiverged(ValueError):
    """Training whose loss became infinite or NaN: the weights are useless and no model is kept."""

    @classmethod
    def at(cls, epoch: int, loss: float, learning_rate: float | None = None) -> TrainingDiverged:
        """The error for a loss that stopped being a finite number at ``epoch``."""
        what = "not a number (NaN)" if math.isnan(loss) else "infinite"
        rate = "" if learning_rate is None else f" ({learning_rate:g})"
        return cls(
            f"Training diverged: the loss became {what} at epoch {epoch}. "
            f"The learning rate{rate} is probably too high; try a smaller one."
        )


@dataclass(frozen=True)
class Hyperparameter:
    """One setting a learner can change: its kind, valid range, default and a line of help."""

    name: str
    kind: str  # "int", "float", "choice", "bool" or "layers" (a tuple of layer widths)
    default: Any
    help: str
    low: float | None = None  # inclusive; for "layers", the bounds of each layer's width
    high: float | None = None
    options: tuple = ()  # the allowed values of a "choice"
    log: bool = False  # a slider on a log scale (learning rates)
    max_layers: int = 4  # for "layers"
    label: str = ""  # what a screen calls it; defaults to the name in words

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()

    def validate(self, value: Any) -> Any:
        """Return ``value`` in its canonical type, or raise ``HyperparameterError`` saying why."""
        if self.kind == "choice":
            if value not in self.options:
                allowed = ", ".join(str(option) for option in self.options)
                raise HyperparameterError(f"{self.name} must be one of {allowed}; got {value!r}.")
            return value
        if self.kind == "bool":
            if not isinstance(value, bool | np.bool_):
                raise HyperparameterError(f"{self.name} must be true or false; got {value!r}.")
            return bool(value)
        if self.kind == "layers":
            return self._validate_layers(value)
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise HyperparameterError(f"{self.name} must be a whole number; got {value!r}.")
            value = int(value)
        elif self.kind == "float":
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                raise HyperparameterError(f"{self.name} must be a number; got {value!r}.")
            value = float(value)
            if not math.isfinite(value):
                raise HyperparameterError(f"{self.name} must be a finite number; got {value!r}.")
        else:
            raise HyperparameterError(f"{self.name} has an unknown kind {self.kind!r}.")
        self._check_range(value, self.name)
        return value

    def parse(self, text: str) -> Any:
        """Read a value typed as text (command line, URL) and validate it."""
        text = text.strip()
        try:
            if self.kind == "int":
                value: Any = int(text)
            elif self.kind == "float":
                value = float(text)
            elif self.kind == "bool":
                lowered = text.lower()
                if lowered not in {"true", "false", "1", "0", "yes", "no"}:
                    raise ValueError(text)
                value = lowered in {"true", "1", "yes"}
            elif self.kind == "layers":
                value = tuple(int(part) for part in text.replace(",", "-").split("-") if part)
            else:
                matches = [option for option in self.options if str(option) == text]
                value = matches[0] if matches else text
        except ValueError:
            raise HyperparameterError(
                f"{self.name} could not be read from {text!r}: expected {self.describe_range()}."
            ) from None
        return self.validate(value)

    def format(self, value: Any) -> str:
        """The inverse of ``parse``: a value as text."""
        if self.kind == "layers":
            return "-".join(str(width) for width in value)
        if self.kind == "bool":
            return "true" if value else "false"
        return str(value)

    def describe_range(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(str(option) for option in self.options)
        if self.kind == "bool":
            return "true or false"
        if self.kind == "layers":
            return (
                f"1 to {self.max_layers} layer widths like 128-64, "
                f"each from {self.low:g} to {self.high:g}"
            )
        kind = "a whole number" if self.kind == "int" else "a number"
        return f"{kind} from {self.low:g} to {self.high:g}"

    def _check_range(self, value: float, what: str) -> None:
        if (self.low is not None and value < self.low) or (
            self.high is not None and value > self.high
        ):
            raise HyperparameterError(
                f"{what} must be from {self.low:g} to {self.high:g}; got {value:g}."
            )

    def _validate_layers(self, value: Any) -> tuple[int, ...]:
        if isinstance(value, int | np.integer) and not isinstance(value, bool):
            value = (value,)
        if not isinstance(value, tuple | list) or not value:
            raise HyperparameterError(
                f"{self.name} must be a list of layer widths like 128-64; got {value!r}."
            )
        if len(value) > self.max_layers:
            raise HyperparameterError(
                f"{self.name} allows at most {self.max_layers} hidden layers; got {len(value)}."
            )
        widths = []
        for width in value:
            if isinstance(width, bool) or not isinstance(width, int | np.integer):
                raise HyperparameterError(
                    f"{self.name} must hold whole numbers of units; got {width!r}."
                )
            self._check_range(int(width), f"each layer of {self.name}")
            widths.append(int(width))
        return tuple(widths)


def dense_parameter_count(hidden_layers: tuple[int, ...]) -> int:
    """Weights and biases of dense layers from the 784 pixels through ``hidden_layers`` to 10."""
    widths = [N_PIXELS, *hidden_layers, 10]
    pairs = zip(widths[:-1], widths[1:], strict=True)
    return sum(fan_in * fan_out + fan_out for fan_in, fan_out in pairs)


@dataclass(frozen=True)
class Preset:
    """A named set of settings: model hyperparameters plus the run settings that go with them."""

    name: str
    description: str
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    train_size: int | None = None  # None: the whole training set
    epochs: int | None = None  # None: the model's declared default
    validation_share: float | None = None  # None: the run's default


class ScikitLearnProtocol:
    """scikit-learn's estimator protocol, written out rather than inherited from scikit-learn.

    ``get_params``, ``set_params``, ``score`` and the tags are what ``sklearn.base.clone``,
    ``Pipeline`` and ``cross_val_score`` ask of a classifier. Importing ``sklearn.base`` would
    bring scikit-learn, pandas and pyarrow into every process that holds a model, about 110 MB:
    the app server holds networks as arrays and imports none of them.
    """

    @classmethod
    def _get_param_names(cls) -> list[str]:
        """The hyperparameters: ``__init__``'s keyword arguments, as scikit-learn reads them."""
        signature = inspect.signature(cls.__init__)
        return sorted(
            parameter.name
            for parameter in signature.parameters.values()
            if parameter.name != "self"
            and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        )

    def get_params(self, deep: bool = True) -> dict[str, Any]:  # noqa: ARG002 - sklearn's signature
        """The hyperparameters as given to ``__init__`` (no nested estimators to go into)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any):
        """Change hyperparameters by name; returns ``self``."""
        known = self._get_param_names()
        for name, value in params.items():
            if name not in known:
                raise HyperparameterError(
                    f"{type(self).__name__} has no parameter {name!r}; its parameters are "
                    f"{', '.join(known)}."
                )
            setattr(self, name, value)
        return self

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy: the share of ``X`` whose digit is predicted right, 0 to 1."""
        right = self.predict(X) == np.asarray(y)
        return float(np.average(right, weights=sample_weight))

    def __sklearn_tags__(self):
        """A classifier's tags, for scikit-learn code (which has scikit-learn imported)."""
        from sklearn.utils import ClassifierTags, Tags, TargetTags

        return Tags(
            estimator_type="classifier",
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags(),
        )

    def __repr__(self) -> str:
        defaults = inspect.signature(type(self).__init__).parameters
        arguments = ", ".join(
            f"{name}={value!r}"
            for name, value in self.get_params().items()
            if _differs(value, defaults[name].default)
        )
        return f"{type(self).__name__}({arguments})"


def _differs(value: Any, default: Any) -> bool:
    """Whether a hyperparameter is not its default (anything that cannot be compared is)."""
    try:
        return value is not default and bool(value != default)
    except (TypeError, ValueError):
        return True


class DigitClassifier(ScikitLearnProtocol):
    """Shared behaviour of every model in the zoo (see the module docstring)."""

    family: ClassVar[str] = ""  # registry name, e.g. "scratch-linear"
    display_name: ClassVar[str] = ""  # e.g. "Linear net (NumPy)"
    summary: ClassVar[str] = ""  # one sentence for a learner
    hyperparameters: ClassVar[tuple[Hyperparameter, ...]] = ()
    presets: ClassVar[dict[str, Preset]] = {}
    file_suffix: ClassVar[str] = ""  # the kind of zip archive it is saved as, e.g. ".keras"
    # What one run costs a worker, for the job queue (mnistkit/jobs): the extra memory it needs
    # above an idle worker, as (fixed MB, MB per 1,000 training images), measured with
    # bench/job_memory.py; and seconds per training image per epoch on one core, until the
    # server has timed runs of its own. A family that declares nothing is assumed expensive.
    job_memory_mb: ClassVar[tuple[float, float]] = (400.0, 2.5)
    seconds_per_image: ClassVar[float] = 5e-5
    # True when reading its file needs a heavy framework (Keras, scikit-learn): the server then has
    # a worker process read it and keeps the network as arrays (``persistence.load(..., reader=)``).
    needs_worker: ClassVar[bool] = False

    # --- declaration helpers -------------------------------------------------------------------

    @classmethod
    def declaration(cls, name: str) -> Hyperparameter:
        for hyperparameter in cls.hyperparameters:
            if hyperparameter.name == name:
                return hyperparameter
        known = ", ".join(h.name for h in cls.hyperparameters)
        raise HyperparameterError(
            f"{cls.display_name} has no setting called {name!r}; its settings are {known}."
        )

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {h.name: h.default for h in cls.hyperparameters}

    @classmethod
    def validate_hyperparameters(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """Check every value against its declaration; unknown names are refused too."""
        return {name: cls.declaration(name).validate(value) for name, value in values.items()}

    def _validated_params(self) -> dict[str, Any]:
        declared = {h.name for h in self.hyperparameters}
        params = {k: v for k, v in self.get_params().items() if k in declared}
        return self.validate_hyperparameters(params)

    # --- the protocol --------------------------------------------------------------------------

    def fit(self, X, y):
        """Train from scratch for ``self.epochs`` epochs; returns ``self``."""
        self._reset()
        for _ in range(self._validated_params()["epochs"]):
            self.partial_fit(X, y)
        return self

    def partial_fit(self, X, y, classes=None):  # noqa: ARG002 - scikit-learn's signature
        """Train one more epoch over ``X``; returns ``self``."""
        raise NotImplementedError

    def predict_proba(self, X) -> np.ndarray:
        raise NotImplementedError

    def predict(self, X) -> np.ndarray:
        probabilities = self.predict_proba(X)  # checks that the model is trained
        return self.classes_[np.argmax(probabilities, axis=1)]

    def _reset(self) -> None:
        """Forget everything learned, so that the next ``partial_fit`` starts afresh."""
        for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]:
            delattr(self, name)

    def describe(self) -> str:
        """A short human name for this configuration, e.g. ``Keras MLP 128-128``."""
        return self.display_name

    def count_parameters(self) -> int:
        """How many numbers the trained model learned."""
        raise NotImplementedError

    def to_network(self):
        """What the trained model learned, as a ``mnistkit.network.Network`` of plain arrays."""
        raise NotImplementedError

    # --- its file ------------------------------------------------------------------------------

    def write_learned(self, path: Path) -> None:
        """Write what the trained model learned to ``path``: a zip archive in the family's format.

        ``persistence.save`` then adds the run's settings to it as the member ``mnistkit.json``,
        so the family must not write a member of that name.
        """
        raise NotImplementedError

    @classmethod
    def read_learned(cls, path: Path, name: str) -> dict[str, Any]:
        """The learned attributes (``coef_``, ``model_``...) in a file written by ``write_learned``.

        The archive's size and checksums are already checked. Anything untrusted, damaged or
        not the family's raises ``ModelFileError`` with one sentence naming the file as ``name``.
        """
        raise NotImplementedError

    @classmethod
    def read_format_1(cls, path: Path, name: str) -> tuple[str, dict[str, Any]] | None:
        """A file of mnistkit's format 1, which kept its settings inside the family's own data.

        Returns the settings' JSON text and the learned attributes, or None when ``path`` is
        not one of this family's format-1 files. Families that never wrote one keep this.
        """
        return None

    @classmethod
    def not_its_file(cls, name: str, missing: str) -> ModelFileError:
        """The error for a file whose settings name this family but whose data is another's."""
        return ModelFileError(
            f"{name} says it holds a {cls.display_name} but has no {missing}, so it is damaged."
        )

    # --- helpers for subclasses ----------------------------------------------------------------

    @staticmethod
    def _images(X, dtype=np.float32) -> np.ndarray:
        """``X`` as an ``(n, 784)`` array of 0-255 intensities (in ``dtype``; None keeps it)."""
        array = np.asarray(X)
        if array.ndim == 3 and array.shape[1:] == (28, 28):
            array = array.reshape(len(array), N_PIXELS)
        if array.ndim != 2 or array.shape[1] != N_PIXELS:
            raise InputShapeError(
                f"Expected digit images of shape (n, 28, 28) or (n, 784); got {array.shape}."
            )
        if not np.issubdtype(array.dtype, np.number):
            raise InputShapeError(f"Expected pixel numbers; got values of type {array.dtype}.")
        return array if dtype is None else array.astype(dtype, copy=False)

    @staticmethod
    def _labels(y, n: int) -> np.ndarray:
        labels = np.asarray(y)
        if labels.shape != (n,):
            raise InputShapeError(f"Expected {n} labels, one per image; got shape {labels.shape}.")
        if n == 0:
            raise InputShapeError("Training needs at least one image.")
        if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() > 9:
            raise InputShapeError("Labels must be whole numbers from 0 to 9.")
        return labels.astype(np.int64)

    def _check_trained(self) -> None:
        if not hasattr(self, "classes_"):
            raise NotTrainedError(f"This {self.display_name} has not been trained yet.")

    def _record_loss(self, loss: float) -> None:
        """Add an epoch's mean loss to ``loss_curve_``; raise ``TrainingDiverged`` if not finite."""
        self.loss_curve_.append(float(loss))
        if not math.isfinite(loss):
            learning_rate = getattr(self, "learning_rate", None)
            raise TrainingDiverged.at(len(self.loss_curve_), loss, learning_rate)

    def _seed(self) -> int | None:
        """``random_state`` checked: a whole number from 0 up, or None for a fresh random start."""
        seed = getattr(self, "random_state", None)
        if seed is None:
            return None
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise HyperparameterError(
                f"random_state must be a whole number from 0 up, or None; got {seed!r}."
            )
        return int(seed)

    def _epoch_rng(self, epoch: int) -> np.random.Generator:
        """The random numbers of one epoch: fixed by ``random_state``, different every epoch."""
        seed = self._seed()
        return np.random.default_rng(None if seed is None else [seed, epoch])
