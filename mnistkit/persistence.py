"""Save trained models to files and read them back, safely.

Each family is kept in the format its own library reads without running code from the file:

- the NumPy linear net as ``.npz`` (plain arrays, read with ``allow_pickle=False``);
- the scikit-learn MLP as ``.skops`` (read with an explicit list of trusted types, never pickle);
- the Keras MLP as ``.keras`` (read with ``safe_mode=True``).

Every file also carries the run's settings, history and scores as JSON, so that a loaded model is
the same ``TrainedModel`` that was saved. ``load`` recognises a file by what is inside it, not by
its name, and anything that is not a mnistkit model, is damaged, or holds something untrusted
raises ``ModelFileError`` with one sentence.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import mnistkit
from mnistkit.data import ZIP_READ_ERRORS
from mnistkit.models import REGISTRY

FORMAT = "mnistkit-model"
FORMAT_VERSION = 1  # raise when the layout changes; older mnistkits then refuse newer files
MAX_BYTES = 200 * 1024**2  # the largest model file ``load``/``loads`` accept
MAX_UNPACKED_BYTES = 1024**3  # the most a model archive may unpack to (guards against zip bombs)
SUFFIXES = {"scratch-linear": ".npz", "sklearn-mlp": ".skops", "keras-mlp": ".keras"}
KERAS_METADATA = "mnistkit.json"  # the extra member mnistkit adds to a .keras archive
NPZ_ARRAYS = {"coef_": (10, 784), "intercept_": (10,)}

# The types a mnistkit .skops file may hold beyond those skops trusts by default. Checked with
# skops.io.get_untrusted_types on files written by ``save``: the optimiser objects scikit-learn's
# MLPClassifier keeps so that training can continue. Both hold only numbers and arrays.
SKOPS_TRUSTED = [
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
]

# Keras layers that carry Python code or load code from elsewhere; a mnistkit model has none.
KERAS_CODE_LAYERS = {"Lambda", "TFSMLayer", "TorchModuleWrapper", "JaxLayer", "FlaxLayer"}


class ModelFileError(ValueError):
    """A file that is not a mnistkit model, is damaged, or holds something untrusted."""


def save(trained: Any, path: str | os.PathLike) -> Path:
    """Write ``trained`` (a ``TrainedModel``) to ``path``; returns the path written.

    A path without a suffix gets its family's (``.npz``, ``.skops`` or ``.keras``).
    """
    family = _family(trained.model)
    path = target_path(family, path)
    # Write next to the target, then rename, so a failed save never leaves half a file behind.
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        _WRITERS[family](trained, partial, _metadata_json(trained))
        os.replace(partial, path)
    except OSError as error:
        raise ModelFileError(f"Cannot save to {path}: {error.strerror or error}.") from error
    finally:
        partial.unlink(missing_ok=True)
    return path


def target_path(family: str, path: str | os.PathLike) -> Path:
    """Where ``save`` would write a ``family`` model asked to go to ``path``, or why it can't."""
    path = Path(path)
    suffix = SUFFIXES[family]
    if not path.suffix:
        path = path.with_suffix(suffix)
    if path.suffix.lower() != suffix:
        raise ModelFileError(
            f"A {family} model is saved as a {suffix} file, so name it {path.stem}{suffix} "
            f"rather than {path.name}."
        )
    if not path.parent.is_dir():
        raise ModelFileError(f"Cannot save to {path}: the folder {path.parent} does not exist.")
    return path


def load(path: str | os.PathLike) -> Any:
    """Read a model file written by ``save`` back into a ``TrainedModel``."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"There is no model file at {path}.")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ModelFileError(_too_large(path.name, size))
    return _READERS[_sniff(path, path.name)](path, path.name)


def dumps(trained: Any) -> tuple[bytes, str]:
    """The model file's bytes and a suggested file name, e.g. for a browser download."""
    with tempfile.TemporaryDirectory(prefix="mnistkit-") as folder:
        path = save(trained, Path(folder) / suggested_filename(trained))
        return path.read_bytes(), path.name


def loads(data: bytes, filename: str = "model") -> Any:
    """Read a model file's bytes (e.g. an upload); ``filename`` is used in messages only."""
    name = Path(filename).name or "model"
    if len(data) > MAX_BYTES:
        raise ModelFileError(_too_large(name, len(data)))
    with tempfile.TemporaryDirectory(prefix="mnistkit-") as folder:
        path = Path(folder) / _safe_filename(name)
        path.write_bytes(data)
        return _READERS[_sniff(path, name)](path, name)


def suggested_filename(trained: Any) -> str:
    """A file name made from the model's description, e.g. ``keras-mlp-128-128.keras``."""
    family = _family(trained.model)
    stem = re.sub(r"[^a-z0-9]+", "-", trained.model.describe().lower()).strip("-")
    return f"{stem or family}{SUFFIXES[family]}"


# --- writing -----------------------------------------------------------------------------------


def _family(model: Any) -> str:
    family = getattr(model, "family", None)
    if family not in SUFFIXES:
        raise ModelFileError(f"mnistkit cannot save a {type(model).__name__}.")
    if not hasattr(model, "classes_"):
        raise ModelFileError("Train the model before saving it.")
    return family


def _metadata_json(trained: Any) -> str:
    model = trained.model
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "mnistkit_version": mnistkit.__version__,
        "family": model.family,
        "hyperparameters": {h.name: getattr(model, h.name) for h in model.hyperparameters},
        "random_state": model.random_state,
        "classes": model.classes_,
        "loss_curve": list(getattr(model, "loss_curve_", [])),
        "config": trained.config.to_dict(),
        "history": list(trained.history),
        "seconds": trained.seconds,
        "test_accuracy": trained.test_accuracy,
        "name": trained.name,
    }
    return json.dumps(metadata, default=_plain, indent=1)


def _plain(value: Any) -> Any:
    """JSON for the NumPy values and tuples a model's settings and history may hold."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    if hasattr(value, "items"):
        return dict(value.items())
    raise TypeError(f"{type(value).__name__} cannot be saved in a model file's metadata.")


def _write_npz(trained: Any, path: Path, metadata: str) -> None:
    model = trained.model
    with path.open("wb") as file:
        np.savez(
            file,
            coef_=np.asarray(model.coef_, dtype=np.float64),
            intercept_=np.asarray(model.intercept_, dtype=np.float64),
            metadata=np.frombuffer(metadata.encode("utf-8"), dtype=np.uint8),
        )


def _write_skops(trained: Any, path: Path, metadata: str) -> None:
    import skops.io

    skops.io.dump({"estimator": trained.model.estimator_, "metadata": metadata}, path)


def _write_keras(trained: Any, path: Path, metadata: str) -> None:
    import keras

    from mnistkit.models.keras_mlp import KERAS_LOCK

    with KERAS_LOCK:  # a prediction in another thread swaps the weights' buffers meanwhile
        keras.saving.save_model(trained.model.model_, path)
    # A .keras file is a zip archive; Keras ignores members it does not know.
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(KERAS_METADATA, metadata)


_WRITERS: dict[str, Callable[[Any, Path, str], None]] = {
    "scratch-linear": _write_npz,
    "sklearn-mlp": _write_skops,
    "keras-mlp": _write_keras,
}


# --- recognising a file ------------------------------------------------------------------------


def _sniff(path: Path, name: str) -> str:
    """Which family's file this is, judged by its content; refuses anything else."""
    with path.open("rb") as file:
        head = file.read(8)
    if not head:
        raise ModelFileError(f"{name} is empty, so it holds no model.")
    if head.startswith(b"\x80") or head.startswith(b"c__builtin__") or head.startswith(b"(dp"):
        raise ModelFileError(
            f"{name} holds a Python pickle, which mnistkit never opens because it can run code."
        )
    if head.startswith(b"\x89HDF"):
        raise ModelFileError(
            f"{name} is an HDF5 file (an older Keras format); mnistkit reads the .keras files "
            "it saves."
        )
    if not head.startswith(b"PK"):
        raise ModelFileError(f"{name} is not a mnistkit model file.")
    members = _zip_members(path, name)
    if {"config.json", "model.weights.h5"} <= members:
        return "keras-mlp"
    if "schema.json" in members:
        return "sklearn-mlp"
    if members and all(member.endswith(".npy") for member in members):
        return "scratch-linear"
    raise ModelFileError(f"{name} is a zip archive but not a mnistkit model file.")


def _zip_members(path: Path, name: str) -> set[str]:
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            unpacked = sum(info.file_size for info in infos)
            # testzip checks every member against its checksum, catching flipped bytes.
            damaged = archive.testzip() if unpacked <= MAX_UNPACKED_BYTES else None
    except ZIP_READ_ERRORS as error:
        raise ModelFileError(_damaged(name)) from error
    if unpacked > MAX_UNPACKED_BYTES:
        raise ModelFileError(f"{name} unpacks to more than 1 GB, far more than any mnistkit model.")
    if damaged is not None:
        raise ModelFileError(_damaged(name))
    return {info.filename for info in infos}


# --- reading -----------------------------------------------------------------------------------


def _read_npz(path: Path, name: str) -> Any:
    expected = {*NPZ_ARRAYS, "metadata"}
    try:
        with np.load(path, allow_pickle=False) as archive:
            if set(archive.files) != expected:
                raise ModelFileError(f"{name} is a NumPy archive but not a mnistkit model file.")
            arrays = {key: archive[key] for key in expected}
    except ModelFileError:
        raise
    except ValueError as error:
        # NumPy refuses object arrays when allow_pickle=False: they would need pickle.
        if "pickle" in str(error):
            raise ModelFileError(
                f"{name} holds pickled objects, which mnistkit never opens because they can "
                "run code."
            ) from error
        raise ModelFileError(_damaged(name)) from error
    except Exception as error:
        raise ModelFileError(_damaged(name)) from error
    learned = {}
    for key, shape in NPZ_ARRAYS.items():
        array = arrays[key]
        if array.shape != shape or array.dtype != np.float64 or not np.all(np.isfinite(array)):
            raise ModelFileError(f"{name} has unusable {key} weights, so it cannot be loaded.")
        learned[key] = array.copy()
    metadata = _metadata_text(arrays["metadata"], name)
    return _rebuild(metadata, "scratch-linear", learned, name)


def _metadata_text(array: np.ndarray, name: str) -> str:
    try:
        if array.dtype == np.uint8 and array.ndim == 1:
            return array.tobytes().decode("utf-8")
        if array.dtype.kind == "U" and array.ndim == 0:
            return str(array)
    except UnicodeDecodeError:
        pass
    raise ModelFileError(f"{name} has unreadable metadata, so it cannot be loaded.")


def _read_skops(path: Path, name: str) -> Any:
    import skops.io
    from sklearn.neural_network import MLPClassifier

    try:
        untrusted = set(skops.io.get_untrusted_types(file=path))
    except Exception as error:
        raise ModelFileError(_damaged(name)) from error
    unexpected = sorted(untrusted - set(SKOPS_TRUSTED))
    if unexpected:
        raise ModelFileError(
            f"{name} holds types mnistkit does not trust ({', '.join(unexpected)}), "
            "so it was not loaded."
        )
    try:
        content = skops.io.load(path, trusted=SKOPS_TRUSTED)
    except Exception as error:
        raise ModelFileError(_damaged(name)) from error
    if (
        not isinstance(content, dict)
        or not isinstance(content.get("estimator"), MLPClassifier)
        or not isinstance(content.get("metadata"), str)
    ):
        raise ModelFileError(f"{name} is a skops file but not a mnistkit model file.")
    return _rebuild(content["metadata"], "sklearn-mlp", {"estimator_": content["estimator"]}, name)


def _read_keras(path: Path, name: str) -> Any:
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
            names = set(archive.namelist())
            metadata = archive.read(KERAS_METADATA) if KERAS_METADATA in names else None
    except (*ZIP_READ_ERRORS, KeyError) as error:
        raise ModelFileError(_damaged(name)) from error
    _check_keras_config(config, name)
    if metadata is None:
        raise ModelFileError(
            f"{name} is a Keras model without mnistkit's settings, so it was not saved by mnistkit."
        )
    return _rebuild(
        metadata.decode("utf-8", "replace"), "keras-mlp", _keras_model(path, name), name
    )


def _check_keras_config(config: Any, name: str) -> None:
    """Refuse, before Keras sees the file, any layer that carries or imports code."""
    for node in _dicts(config):
        module = node.get("module")
        class_name = node.get("class_name")
        if class_name in KERAS_CODE_LAYERS or class_name == "__lambda__":
            raise ModelFileError(
                f"{name} contains a Keras {class_name} layer, which can run code, so it was "
                "not loaded."
            )
        if isinstance(module, str) and module != "keras" and not module.startswith("keras."):
            raise ModelFileError(
                f"{name} refers to code outside Keras ({module}), so it was not loaded."
            )
        if node.get("registered_name") not in (None, class_name):
            raise ModelFileError(
                f"{name} uses a custom Keras object ({node['registered_name']}), so it was "
                "not loaded."
            )


def _dicts(node: Any):
    """Every dictionary inside a parsed JSON document."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _dicts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _dicts(value)


def _keras_model(path: Path, name: str) -> dict[str, Any]:
    import keras

    with tempfile.TemporaryDirectory(prefix="mnistkit-") as folder:
        if path.suffix != ".keras":  # Keras reads archives only under their own suffix
            path = Path(shutil.copy(path, Path(folder) / "model.keras"))
        try:
            model = keras.saving.load_model(path, safe_mode=True)
        except Exception as error:
            raise ModelFileError(
                f"{name} could not be loaded safely by Keras: {_first_sentence(error)}"
            ) from error
    if tuple(model.output_shape) != (None, 10):
        raise ModelFileError(f"{name} is a Keras model that does not answer with ten digits.")
    return {"model_": model}


_READERS: dict[str, Callable[[Path, str], Any]] = {
    "scratch-linear": _read_npz,
    "sklearn-mlp": _read_skops,
    "keras-mlp": _read_keras,
}


# --- rebuilding a TrainedModel -----------------------------------------------------------------


def _rebuild(metadata_text: str, family: str, learned: dict[str, Any], name: str) -> Any:
    """A ``TrainedModel`` from a file's metadata and the learned state read next to it."""
    from mnistkit.models.base import HyperparameterError
    from mnistkit.training import RunConfig, TrainedModel

    metadata = _parse_metadata(metadata_text, family, name)
    model_class = REGISTRY[family]
    try:
        hyperparameters = model_class.validate_hyperparameters(metadata["hyperparameters"])
        model = model_class(**hyperparameters, random_state=metadata["random_state"])
        for attribute, value in learned.items():
            setattr(model, attribute, value)
        model.classes_ = np.asarray(metadata["classes"], dtype=np.int64)
        model.loss_curve_ = [float(loss) for loss in metadata["loss_curve"]]
        test_accuracy = metadata["test_accuracy"]
        return TrainedModel(
            model=model,
            config=RunConfig.from_dict(metadata["config"]),
            history=[dict(entry) for entry in metadata["history"]],
            seconds=float(metadata["seconds"]),
            test_accuracy=None if test_accuracy is None else float(test_accuracy),
            name=str(metadata["name"]),
        )
    except HyperparameterError as error:
        raise ModelFileError(f"{name} has settings mnistkit cannot use: {error}") from error
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"{name} has incomplete or damaged settings.") from error


def _parse_metadata(text: str, family: str, name: str) -> dict[str, Any]:
    try:
        metadata = json.loads(text)
    except ValueError as error:
        raise ModelFileError(f"{name} has unreadable settings, so it cannot be loaded.") from error
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ModelFileError(f"{name} is not a mnistkit model file.")
    version = metadata.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelFileError(f"{name} has no readable format version, so it cannot be loaded.")
    if version > FORMAT_VERSION:
        saved_by = metadata.get("mnistkit_version", "a newer release")
        raise ModelFileError(
            f"{name} was saved by a newer version of mnistkit ({saved_by}); update mnistkit "
            "to open it."
        )
    if metadata.get("family") != family:
        raise ModelFileError(
            f"{name} says it holds a {metadata.get('family')!r} model but contains a {family} "
            "one, so it is damaged."
        )
    return metadata


# --- messages ----------------------------------------------------------------------------------


def _damaged(name: str) -> str:
    return f"{name} is damaged or incomplete, so it cannot be loaded."


def _too_large(name: str, size: int) -> str:
    return (
        f"{name} is {size / 1024**2:.0f} MB; mnistkit opens model files up to "
        f"{MAX_BYTES // 1024**2} MB."
    )


def _first_sentence(error: Exception) -> str:
    text = " ".join(str(error).split())
    sentence = text.split(". ")[0].rstrip(".")
    return f"{sentence}." if sentence else f"{type(error).__name__}."


def _safe_filename(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip(".") or "model"
