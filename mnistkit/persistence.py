"""Save trained models to files and read them back, safely.

Every model file is a zip archive in its family's own format, the one its library reads without
running code from the file (the family's module under ``models/`` writes and reads it):

- the NumPy linear net as ``.npz`` (plain arrays, read with ``allow_pickle=False``);
- the scikit-learn MLP as ``.skops`` (read with an explicit list of trusted types, never pickle);
- the Keras models as ``.keras`` (their config checked for code first, read with ``safe_mode``).

``save`` adds to the archive a member ``mnistkit.json``: the family, the run's settings, history
and scores, so that a loaded model is the same ``TrainedModel`` that was saved. ``load`` checks
the container (no pickle, no HDF5, no damaged zip, no zip bomb), reads ``mnistkit.json``, looks
its family up in the registry and hands the file over to that family's ``read_learned``: the
family is told by the settings, never by the suffix. Anything that is not a mnistkit model, is
damaged, or holds something untrusted raises ``ModelFileError`` with one sentence.

A family that ``needs_worker`` (Keras, scikit-learn) is read in a worker process when the caller
passes a ``reader`` (the server does, ``mnistkit.jobs.reader``): the server checks the container
and reads ``mnistkit.json`` itself, the reader loads the file with every family check and sends
back the network as arrays, and the ``TrainedModel`` keeps the file's bytes, which ``dumps`` hands
back unchanged. Without a reader (the command line, a worker) the family reads its file here.

Files of format 1 (mnistkit before the families owned their files) are still read: the NumPy
and scikit-learn files kept their settings inside the family's own data, and each family reads
its own (``read_format_1``); Keras files already had ``mnistkit.json``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import mnistkit
from mnistkit.archives import ArchiveError, checked_members, read_member
from mnistkit.models import REGISTRY, NetworkClassifier, get_model_class
from mnistkit.models.base import ModelFileError

FORMAT = "mnistkit-model"
FORMAT_VERSION = 2  # raise when the layout changes; older mnistkits then refuse newer files
# 1: settings inside each family's data (Keras: in mnistkit.json); 2: mnistkit.json in every file
MAX_BYTES = 200 * 1024**2  # the largest model file ``load``/``loads`` accept
MAX_UNPACKED_BYTES = 1024**3  # the most a model archive may unpack to (guards against zip bombs)
METADATA_MEMBER = "mnistkit.json"  # the member ``save`` adds to the family's archive
MAX_SETTINGS_BYTES = 16 * 1024**2  # mnistkit.json holds settings and history: a few kB
# Reads a model file's bytes (named for messages) elsewhere: the JSON of models.reading(model).
Reader = Callable[[bytes, str], dict]

__all__ = [
    "FORMAT_VERSION",
    "METADATA_MEMBER",
    "ModelFileError",
    "dumps",
    "load",
    "loads",
    "save",
    "suggested_filename",
    "target_path",
]


def save(trained: Any, path: str | os.PathLike) -> Path:
    """Write ``trained`` (a ``TrainedModel``) to ``path``; returns the path written.

    A path without a suffix gets its family's (``.npz``, ``.skops`` or ``.keras``). A model
    read by a worker is written as the very file it was read from.
    """
    saved_file = trained.saved_file
    if saved_file is None:
        model = _trained_model(trained.model)
        metadata = _metadata_json(trained)
    path = target_path(trained.model.family, path)
    # Write next to the target, then rename, so a failed save never leaves half a file behind.
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        if saved_file is not None:
            partial.write_bytes(saved_file)
        else:
            model.write_learned(partial)
            with zipfile.ZipFile(partial, "a", compression=zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(METADATA_MEMBER, metadata)
        os.replace(partial, path)
    except OSError as error:
        raise ModelFileError(f"Cannot save to {path}: {error.strerror or error}.") from error
    finally:
        partial.unlink(missing_ok=True)
    return path


def target_path(family: str, path: str | os.PathLike) -> Path:
    """Where ``save`` would write a ``family`` model asked to go to ``path``, or why it can't."""
    path = Path(path)
    suffix = get_model_class(family).file_suffix
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


def load(path: str | os.PathLike, *, reader: Reader | None = None) -> Any:
    """Read a model file written by ``save`` back into a ``TrainedModel``.

    With ``reader``, a family that ``needs_worker`` is read by it (see the module docstring).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"There is no model file at {path}.")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ModelFileError(_too_large(path.name, size))
    return _read(path, path.name, reader)


def dumps(trained: Any) -> tuple[bytes, str]:
    """The model file's bytes and a suggested file name, e.g. for a browser download.

    A model read by a worker gives back the bytes it was read from, unchanged.
    """
    if trained.saved_file is not None:
        return trained.saved_file, suggested_filename(trained)
    with tempfile.TemporaryDirectory(prefix="mnistkit-") as folder:
        path = save(trained, Path(folder) / suggested_filename(trained))
        return path.read_bytes(), path.name


def loads(data: bytes, filename: str = "model", *, reader: Reader | None = None) -> Any:
    """Read a model file's bytes (e.g. an upload); ``filename`` is used in messages only.

    With ``reader``, a family that ``needs_worker`` is read by it (see the module docstring).
    """
    name = Path(filename).name or "model"
    if len(data) > MAX_BYTES:
        raise ModelFileError(_too_large(name, len(data)))
    with tempfile.TemporaryDirectory(prefix="mnistkit-") as folder:
        path = Path(folder) / _safe_filename(name)
        path.write_bytes(data)
        return _read(path, name, reader)


def suggested_filename(trained: Any) -> str:
    """A file name made from the model's description, e.g. ``keras-mlp-128-128.keras``."""
    model = trained.model if trained.saved_file is not None else _trained_model(trained.model)
    stem = re.sub(r"[^a-z0-9]+", "-", model.describe().lower()).strip("-")
    return f"{stem or model.family}{model.file_suffix}"


# --- writing -----------------------------------------------------------------------------------


def _trained_model(model: Any) -> Any:
    if REGISTRY.get(getattr(model, "family", None)) is not type(model):
        raise ModelFileError(f"mnistkit cannot save a {type(model).__name__}.")
    if not hasattr(model, "classes_"):
        raise ModelFileError("Train the model before saving it.")
    return model


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


# --- reading -----------------------------------------------------------------------------------


def _read(path: Path, name: str, reader: Reader | None = None) -> Any:
    """The ``TrainedModel`` in the file at ``path``: container, settings, then the family."""
    _refuse_what_is_not_a_zip(path, name)
    try:
        members = {member.filename: member for member in checked_members(path, MAX_UNPACKED_BYTES)}
        settings = members.get(METADATA_MEMBER)
        if settings is not None and settings.file_size > MAX_SETTINGS_BYTES:
            raise ArchiveError("its settings are larger than any mnistkit model's could be")
        text = None if settings is None else read_member(path, METADATA_MEMBER)
    except ArchiveError as error:
        raise ModelFileError.about(name, error) from error
    if text is not None:
        metadata = _parse_metadata(text.decode("utf-8", "replace"), name)
        family = metadata.get("family")
        model_class = REGISTRY.get(family) if isinstance(family, str) else None
        if model_class is None:
            raise ModelFileError(
                f"{name} holds a {family!r} model, a kind this mnistkit "
                f"({mnistkit.__version__}) does not know; update mnistkit to open it."
            )
        if reader is not None and model_class.needs_worker:
            data = path.read_bytes()
            model = NetworkClassifier.from_reading(reader(data, name), model_class, name)
            return _rebuild(metadata, model_class, {}, name, model=model, saved_file=data)
        return _rebuild(metadata, model_class, model_class.read_learned(path, name), name)
    for model_class in REGISTRY.values():
        found = model_class.read_format_1(path, name)
        if found is not None:
            text, learned = found
            metadata = _parse_metadata(text, name)
            if metadata["format_version"] != 1 or metadata.get("family") != model_class.family:
                raise ModelFileError(
                    f"{name} has settings that do not match what it holds (a {model_class.family} "
                    "model of format 1), so it is damaged."
                )
            return _rebuild(metadata, model_class, learned, name)
    kind = "a NumPy archive" if all(m.endswith(".npy") for m in members) else "a zip archive"
    raise ModelFileError(
        f"{name} is {kind} but not a mnistkit model file: it has no {METADATA_MEMBER} settings."
    )


def _refuse_what_is_not_a_zip(path: Path, name: str) -> None:
    """Refuse, by their first bytes, pickles under any name, HDF5 files and other non-zips."""
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


def _parse_metadata(text: str, name: str) -> dict[str, Any]:
    try:
        metadata = json.loads(text)
    except ValueError as error:
        raise ModelFileError(f"{name} has unreadable settings, so it cannot be loaded.") from error
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ModelFileError(f"{name} is not a mnistkit model file.")
    version = metadata.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFileError(f"{name} has no readable format version, so it cannot be loaded.")
    if version > FORMAT_VERSION:
        saved_by = metadata.get("mnistkit_version", "a newer release")
        raise ModelFileError(
            f"{name} was saved by a newer version of mnistkit ({saved_by}); update mnistkit "
            "to open it."
        )
    return metadata


# --- rebuilding a TrainedModel -----------------------------------------------------------------


def _rebuild(
    metadata: dict[str, Any],
    model_class: type,
    learned: dict[str, Any],
    name: str,
    *,
    model: Any = None,
    saved_file: bytes | None = None,
):
    """A ``TrainedModel`` from a file's settings and the learned state its family read.

    ``model`` is one a worker read (kept as arrays), ``saved_file`` the bytes it was read from.
    """
    from mnistkit.models.base import HyperparameterError
    from mnistkit.training import RunConfig, TrainedModel

    try:
        hyperparameters = model_class.validate_hyperparameters(metadata["hyperparameters"])
        if model is None:
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
            saved_file=saved_file,
        )
    except HyperparameterError as error:
        raise ModelFileError(f"{name} has settings mnistkit cannot use: {error}") from error
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"{name} has incomplete or damaged settings.") from error


# --- messages ----------------------------------------------------------------------------------


def _too_large(name: str, size: int) -> str:
    return (
        f"{name} is {size / 1024**2:.0f} MB; mnistkit opens model files up to "
        f"{MAX_BYTES // 1024**2} MB."
    )


def _safe_filename(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip(".") or "model"
