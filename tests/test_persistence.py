"""Saving and loading: round trips for every family, and every kind of bad file refused.

The models here are trained briefly on small slices of real MNIST: a round trip must give the
same predictions whatever the accuracy. Full-size default models are round-tripped in
test_cli.py, which trains them once through the command line.
"""

from __future__ import annotations

import dataclasses
import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import keras_slow
from zips import unreadable_members

from mnistkit import persistence
from mnistkit.persistence import ModelFileError, dumps, load, loads, save
from mnistkit.training import RunConfig, train

SMALL_RUNS = {
    "scratch-linear": RunConfig.from_preset("scratch-linear", "article"),
    "sklearn-mlp": RunConfig(
        model="sklearn-mlp", hyperparameters={"hidden_layers": (32,)}, train_size=2000, epochs=2
    ),
    "keras-mlp": RunConfig(
        model="keras-mlp", hyperparameters={"hidden_layers": (32, 16)}, train_size=2000, epochs=1
    ),
}
FAMILIES = list(SMALL_RUNS)


@pytest.fixture(scope="module")
def trained(mnist):
    return {family: train(config, mnist) for family, config in SMALL_RUNS.items()}


@pytest.fixture(scope="module")
def saved(trained, tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return {family: save(model, folder / "model") for family, model in trained.items()}


def assert_same_run(loaded, original, images):
    assert type(loaded.model) is type(original.model)
    assert loaded.model.get_params() == original.model.get_params()
    assert np.array_equal(loaded.predict_proba(images), original.predict_proba(images))
    assert loaded.model.loss_curve_ == original.model.loss_curve_
    assert loaded.config == original.config
    assert loaded.history == original.history
    assert loaded.seconds == original.seconds
    assert loaded.test_accuracy == original.test_accuracy
    assert loaded.name == original.name


@pytest.mark.parametrize("family", FAMILIES)
def test_round_trip_gives_identical_predictions(family, trained, saved, mnist):
    assert saved[family].suffix == persistence.SUFFIXES[family]
    assert_same_run(load(saved[family]), trained[family], mnist.x_test)


@pytest.mark.parametrize("family", FAMILIES)
def test_bytes_round_trip_for_the_browser(family, trained, mnist):
    data, filename = dumps(trained[family])
    assert filename.endswith(persistence.SUFFIXES[family]) and "/" not in filename
    assert_same_run(loads(data, filename), trained[family], mnist.x_test[:2000])


@pytest.mark.parametrize("family", keras_slow(FAMILIES))
def test_a_loaded_model_keeps_training(family, saved, mnist):
    loaded = load(saved[family])
    epochs = len(loaded.model.loss_curve_)
    loaded.model.partial_fit(mnist.x_train[:500], mnist.y_train[:500])
    assert len(loaded.model.loss_curve_) == epochs + 1
    assert loaded.model.predict(mnist.x_test[:10]).shape == (10,)


def test_the_file_is_recognised_by_content_not_name(saved, trained, mnist, tmp_path):
    renamed = tmp_path / "model.skops"
    renamed.write_bytes(saved["keras-mlp"].read_bytes())
    assert_same_run(load(renamed), trained["keras-mlp"], mnist.x_test[:500])


def test_skops_trusted_types_are_exactly_what_mnistkit_writes(trained, mnist, tmp_path):
    import skops.io

    sgd = train(dataclasses.replace(SMALL_RUNS["sklearn-mlp"], epochs=1), mnist)
    sgd_config = RunConfig(
        model="sklearn-mlp",
        hyperparameters={"hidden_layers": (8,), "solver": "sgd"},
        train_size=500,
        epochs=1,
    )
    files = [save(trained["sklearn-mlp"], tmp_path / "adam"), save(sgd, tmp_path / "adam1")]
    files.append(save(train(sgd_config, mnist), tmp_path / "sgd"))
    found = set()
    for path in files:
        found |= set(skops.io.get_untrusted_types(file=path))
    assert found == set(persistence.SKOPS_TRUSTED)


# --- saving mistakes ---------------------------------------------------------------------------


def test_save_refuses_a_suffix_of_another_family(trained, tmp_path):
    with pytest.raises(ModelFileError, match=r"saved as a \.keras file.*model\.keras"):
        save(trained["keras-mlp"], tmp_path / "model.npz")


def test_save_refuses_a_missing_folder(trained, tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        save(trained["scratch-linear"], tmp_path / "nowhere" / "model.npz")


def test_save_refuses_an_untrained_model(trained, tmp_path):
    from mnistkit.models import build_model

    untrained = dataclasses.replace(trained["scratch-linear"], model=build_model("scratch-linear"))
    with pytest.raises(ModelFileError, match="Train the model"):
        save(untrained, tmp_path / "model.npz")


def test_save_leaves_no_partial_file_behind(trained, tmp_path, monkeypatch):
    def failing_writer(trained, path, metadata):
        path.write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setitem(persistence._WRITERS, "scratch-linear", failing_writer)
    with pytest.raises(ModelFileError, match="No space left"):
        save(trained["scratch-linear"], tmp_path / "model.npz")
    assert list(tmp_path.iterdir()) == []


# --- refusing bad files ------------------------------------------------------------------------


def refused(path_or_bytes, match: str, filename: str = "model.npz") -> str:
    """Load and expect ModelFileError whose message matches and is one sentence."""
    with pytest.raises(ModelFileError, match=match) as error:
        if isinstance(path_or_bytes, bytes):
            loads(path_or_bytes, filename)
        else:
            load(path_or_bytes)
    message = str(error.value)
    assert "\n" not in message and message.endswith(".")
    return message


@pytest.mark.parametrize("family", FAMILIES)
def test_a_truncated_file_is_refused(family, saved):
    data = saved[family].read_bytes()
    refused(data[: len(data) // 2], "damaged", saved[family].name)


@pytest.mark.parametrize("family", FAMILIES)
def test_a_file_with_flipped_bytes_is_refused(family, saved):
    data = bytearray(saved[family].read_bytes())
    with zipfile.ZipFile(saved[family]) as archive:
        biggest = max(archive.infolist(), key=lambda info: info.compress_size)
    middle = biggest.header_offset + 100 + biggest.compress_size // 2
    data[middle : middle + 8] = bytes(255 - value for value in data[middle : middle + 8])
    refused(bytes(data), "damaged", saved[family].name)


class Payload:
    """Unpickling this would create a file: proof that code from a file ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_pickle_renamed_npz_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "model.npz"
    path.write_bytes(pickle.dumps(Payload(marker)))
    refused(path, "pickle")
    path.write_bytes(pickle.dumps(Payload(marker), protocol=0))
    refused(path, "not a mnistkit model|pickle")
    assert not marker.exists()


def test_an_npz_holding_object_arrays_is_refused(saved, tmp_path):
    with np.load(saved["scratch-linear"]) as archive:
        arrays = dict(archive)
    arrays["metadata"] = np.array([{"format": "mnistkit-model"}], dtype=object)
    path = tmp_path / "object.npz"
    np.savez(path, **arrays)
    refused(path, "pickled objects")


def npz_with_metadata(saved, tmp_path, change) -> Path:
    """A copy of the saved linear net whose JSON metadata went through ``change``."""
    with np.load(saved["scratch-linear"]) as archive:
        arrays = dict(archive)
    metadata = json.loads(arrays["metadata"].tobytes())
    change(metadata)
    arrays["metadata"] = np.frombuffer(json.dumps(metadata).encode(), dtype=np.uint8)
    path = tmp_path / "changed.npz"
    np.savez(path, **arrays)
    return path


def test_a_file_from_a_newer_mnistkit_is_refused(saved, tmp_path):
    path = npz_with_metadata(saved, tmp_path, lambda m: m.update(format_version=99))
    refused(path, "saved by a newer version of mnistkit")


def test_metadata_is_read_as_text_in_a_zero_d_string_array_too(saved, trained, tmp_path, mnist):
    with np.load(saved["scratch-linear"]) as archive:
        arrays = dict(archive)
    arrays["metadata"] = np.array(arrays["metadata"].tobytes().decode())
    path = tmp_path / "text.npz"
    np.savez(path, **arrays)
    assert_same_run(load(path), trained["scratch-linear"], mnist.x_test)


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda m: m.update(family="keras-mlp"), "damaged"),
        (lambda m: m["hyperparameters"].update(learning_rate=-1.0), "settings mnistkit cannot"),
        (lambda m: m["hyperparameters"].update(learning_rate="os.system"), "settings mnistkit"),
        (lambda m: m.pop("config"), "incomplete"),
        (lambda m: m.update(format="something-else"), "not a mnistkit model"),
        (lambda m: m.update(format_version="1"), "format version"),
    ],
)
def test_inconsistent_metadata_is_refused(saved, tmp_path, change, match):
    refused(npz_with_metadata(saved, tmp_path, change), match)


def test_weights_of_the_wrong_shape_are_refused(saved, tmp_path):
    with np.load(saved["scratch-linear"]) as archive:
        arrays = dict(archive)
    arrays["coef_"] = arrays["coef_"][:, :100]
    path = tmp_path / "small.npz"
    np.savez(path, **arrays)
    refused(path, "unusable coef_")


def keras_file_with_layer(trained, tmp_path, layer) -> Path:
    """A mnistkit .keras file (metadata included) whose network holds ``layer``."""
    import keras

    network = keras.Sequential([keras.Input((784,)), layer, keras.layers.Dense(10)])
    original = trained["keras-mlp"]
    model = original.model.__class__(**original.model.get_params())
    model.model_, model.classes_, model.loss_curve_ = network, np.arange(10), [1.0]
    return save(dataclasses.replace(original, model=model), tmp_path / "lambda.keras")


def test_a_keras_file_with_a_lambda_layer_is_refused(trained, tmp_path, monkeypatch):
    import keras

    path = keras_file_with_layer(trained, tmp_path, keras.layers.Lambda(lambda x: x * 2))
    refused(path, "Lambda layer, which can run code")
    # Keras's own safe mode is the second line of defence; its refusal is a ModelFileError too.
    monkeypatch.setattr(persistence, "_check_keras_config", lambda config, name: None)
    refused(path, "could not be loaded safely by Keras")


def edited_keras_file(saved, tmp_path, edit) -> Path:
    """A copy of the saved Keras file with its config.json passed through ``edit``."""
    path = tmp_path / "edited.keras"
    with zipfile.ZipFile(saved["keras-mlp"]) as source, zipfile.ZipFile(path, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "config.json":
                data = json.dumps(edit(json.loads(data))).encode()
            target.writestr(info, data)
    return path


def first_dense(config: dict) -> dict:
    return next(layer for layer in config["config"]["layers"] if layer["class_name"] == "Dense")


def test_a_keras_file_pointing_at_other_code_is_refused(saved, tmp_path):
    def outside_module(config):
        first_dense(config)["module"] = "os"
        return config

    def custom_object(config):
        first_dense(config)["registered_name"] = "Evil>Dense"
        return config

    refused(edited_keras_file(saved, tmp_path, outside_module), "code outside Keras")
    refused(edited_keras_file(saved, tmp_path, custom_object), "custom Keras object")


def test_a_plain_keras_file_without_mnistkit_settings_is_refused(saved, tmp_path):
    path = tmp_path / "plain.keras"
    with zipfile.ZipFile(saved["keras-mlp"]) as source, zipfile.ZipFile(path, "w") as target:
        for info in source.infolist():
            if info.filename != persistence.KERAS_METADATA:
                target.writestr(info, source.read(info))
    refused(path, "not saved by mnistkit")


class Untrusted:
    """A type no skops user has vetted."""

    def __init__(self):
        self.value = 1


def test_a_skops_file_holding_an_untrusted_type_is_refused(trained, tmp_path):
    import skops.io

    content = {
        "estimator": trained["sklearn-mlp"].model.estimator_,
        "metadata": "{}",
        "extra": Untrusted(),
    }
    path = tmp_path / "untrusted.skops"
    skops.io.dump(content, path)
    message = refused(path, "does not trust")
    assert "Untrusted" in message


def test_a_skops_file_that_is_not_a_mnistkit_model_is_refused(trained, tmp_path):
    import skops.io

    path = tmp_path / "other.skops"
    skops.io.dump([1, 2, 3], path)
    refused(path, "skops file but not a mnistkit model")


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def mnist_like_npz() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, x=np.zeros((2, 28, 28), np.uint8), y=np.zeros(2, np.uint8))
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data, match",
    [
        (b"", "empty"),
        (b"hello, I am a text file\n", "not a mnistkit model"),
        (b"\x89HDF\r\n\x1a\n" + bytes(100), "HDF5"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "not a mnistkit model"),
        (zip_bytes({"notes.txt": b"hi"}), "zip archive but not a mnistkit model"),
        (mnist_like_npz(), "NumPy archive but not a mnistkit model"),
    ],
)
def test_files_that_are_not_models_are_refused(data, match):
    refused(data, match)


def test_a_missing_file_is_refused(tmp_path):
    refused(tmp_path / "nothing.npz", "no model file")


def test_loads_caps_the_size_it_accepts(saved, monkeypatch):
    data = saved["scratch-linear"].read_bytes()
    monkeypatch.setattr(persistence, "MAX_BYTES", len(data) - 1)
    refused(data, "mnistkit opens model files up to")
    refused(saved["scratch-linear"], "mnistkit opens model files up to")


def test_a_zip_bomb_is_refused_before_it_is_unpacked(monkeypatch):
    data = zip_bytes({"coef_.npy": bytes(2000)})
    monkeypatch.setattr(persistence, "MAX_UNPACKED_BYTES", 1000)
    refused(data, "unpacks to more than")


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("how", ["encrypted", "unknown-method"])
def test_a_model_file_whose_zip_members_cannot_be_read_is_refused(family, how, saved):
    path = saved[family]
    refused(unreadable_members(path.read_bytes(), how), "damaged", filename=path.name)
