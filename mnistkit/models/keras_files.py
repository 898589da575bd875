"""The ``.keras`` file code every Keras family shares: saving under the lock, reading safely.

A ``.keras`` file is a zip archive of ``config.json`` (the layers, as JSON), the weights
(``model.weights.h5``) and ``metadata.json``. Keras rebuilds the layers the config names, and
some layers carry Python code (``Lambda``) or import it from elsewhere, so before Keras sees a
file its config is read as plain JSON and refused if any layer carries code, names a module
outside Keras or a custom registered object. Keras then loads it with ``safe_mode=True`` (its own
refusal of code) as the second line of defence, and the network must answer with ten digits.

Like ``keras_mlp``, this module imports Keras only when a file is written or read.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from mnistkit.archives import ArchiveError, member_names, read_member
from mnistkit.models.base import ModelFileError

# Keras empties a model's variables while it runs fit or predict on JAX, so a second thread using
# the model meanwhile fails (a Streamlit server runs a visitor's quick reruns in new threads while
# the old one finishes). Every fit, predict and save in the process takes turns.
KERAS_LOCK = threading.RLock()

SUFFIX = ".keras"
REQUIRED_MEMBERS = {"config.json", "model.weights.h5"}
# Keras layers that carry Python code or load code from elsewhere; a mnistkit model has none.
CODE_LAYERS = {"Lambda", "TFSMLayer", "TorchModuleWrapper", "JaxLayer", "FlaxLayer"}


def write_model(model: Any, path: Path) -> None:
    """Save a Keras model to ``path`` (a ``.keras`` zip archive)."""
    import keras

    with KERAS_LOCK:  # a prediction in another thread swaps the weights' buffers meanwhile
        keras.saving.save_model(model, path)


def read_model(path: Path, name: str, family: type, input_shape: tuple[int, ...]) -> Any:
    """The Keras model in the file at ``path``, read safely, or a ``ModelFileError``.

    ``family`` is the ``DigitClassifier`` class the file's settings name, and ``input_shape``
    the shape of one image its networks read, e.g. ``(784,)``: two Keras families' files are
    the same kind of archive, so a network of the wrong shape for its family is refused.
    """
    try:
        members = member_names(path)
        if not members.issuperset(REQUIRED_MEMBERS):
            raise family.not_its_file(name, "Keras network (config.json and model.weights.h5)")
        config_text = read_member(path, "config.json")
    except ArchiveError as error:
        raise ModelFileError.about(name, error) from error
    try:
        config = json.loads(config_text)
    except ValueError as error:
        raise ModelFileError(f"{name} has an unreadable Keras config, so it is damaged.") from error
    check_config(config, name)
    model = _load_safely(path, name)
    if tuple(model.output_shape) != (None, 10):
        raise ModelFileError(f"{name} is a Keras model that does not answer with ten digits.")
    if tuple(model.input_shape) != (None, *input_shape):
        raise ModelFileError(
            f"{name} says it holds a {family.display_name}, whose network reads images of shape "
            f"{tuple(input_shape)}, but its network reads {tuple(model.input_shape[1:])}, so it "
            "is damaged."
        )
    return model


def check_config(config: Any, name: str) -> None:
    """Refuse, before Keras sees the file, any layer that carries or imports code."""
    for node in _dicts(config):
        module = node.get("module")
        class_name = node.get("class_name")
        if class_name in CODE_LAYERS or class_name == "__lambda__":
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


def _load_safely(path: Path, name: str) -> Any:
    import keras

    with tempfile.TemporaryDirectory(prefix="mnistkit-") as folder:
        if path.suffix != SUFFIX:  # Keras reads archives only under their own suffix
            path = Path(shutil.copy(path, Path(folder) / f"model{SUFFIX}"))
        try:
            return keras.saving.load_model(path, safe_mode=True)
        except Exception as error:
            raise ModelFileError(
                f"{name} could not be loaded safely by Keras: {_first_sentence(error)}"
            ) from error


def _first_sentence(error: Exception) -> str:
    text = " ".join(str(error).split())
    sentence = text.split(". ")[0].rstrip(".")
    return f"{sentence}." if sentence else f"{type(error).__name__}."
