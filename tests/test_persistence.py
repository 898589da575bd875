"""Saving and loading: round trips for every family, and every kind of bad file refused.

The models here are trained briefly on small slices of real MNIST: a round trip must give the
same predictions whatever the accuracy. Full-size default models are round-tripped in
test_cli.py, which trains them once through the command line.

Every Keras family shares the ``.keras`` suffix and the checks of ``models/keras_files.py``: a
new one joins every test here, the Keras hostile-file tests included, with one entry in
``SMALL_RUNS``.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import OnFirstUse, keras_slow
from zips import unreadable_members, with_members

from mnistkit import persistence
from mnistkit.models import (
    REGISTRY,
    KerasMLP,
    NetworkClassifier,
    ScratchLinearNet,
    keras_files,
    sklearn_mlp,
)
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
    "keras-cnn": RunConfig(
        model="keras-cnn",
        hyperparameters={"filters": 4, "dense_units": 16},
        train_size=2000,
        epochs=1,
    ),
}
FAMILIES = list(SMALL_RUNS)
KERAS_FAMILIES = [family for family in FAMILIES if REGISTRY[family].file_suffix == ".keras"]


@pytest.fixture(scope="module")
def trained(mnist):
    return OnFirstUse(lambda family: train(SMALL_RUNS[family], mnist))


@pytest.fixture(scope="module")
def saved(trained, tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    # one file per family: the two Keras families would otherwise both write model.keras
    return OnFirstUse(lambda family: save(trained[family], folder / family))


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


def settings_in(path_or_bytes) -> dict:
    """The ``mnistkit.json`` member of a model file, parsed."""
    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    with zipfile.ZipFile(source) as archive:
        return json.loads(archive.read(persistence.METADATA_MEMBER))


def with_settings(path: Path, change) -> bytes:
    """The model file at ``path`` as bytes, its ``mnistkit.json`` passed through ``change``."""
    settings = settings_in(path)
    change(settings)
    changed = json.dumps(settings).encode()
    return with_members(path.read_bytes(), {persistence.METADATA_MEMBER: changed})


@pytest.mark.parametrize("family", FAMILIES)
def test_round_trip_gives_identical_predictions(family, trained, saved, mnist):
    assert saved[family].suffix == REGISTRY[family].file_suffix
    settings = settings_in(saved[family])
    assert (settings["family"], settings["format_version"]) == (family, 2)
    assert_same_run(load(saved[family]), trained[family], mnist.x_test)


@pytest.mark.parametrize("family", FAMILIES)
def test_bytes_round_trip_for_the_browser(family, trained, mnist):
    data, filename = dumps(trained[family])
    assert filename.endswith(REGISTRY[family].file_suffix) and "/" not in filename
    assert_same_run(loads(data, filename), trained[family], mnist.x_test[:2000])


@pytest.mark.parametrize("family", keras_slow(FAMILIES))
def test_a_loaded_model_keeps_training(family, saved, mnist):
    loaded = load(saved[family])
    epochs = len(loaded.model.loss_curve_)
    loaded.model.partial_fit(mnist.x_train[:500], mnist.y_train[:500])
    assert len(loaded.model.loss_curve_) == epochs + 1
    assert loaded.model.predict(mnist.x_test[:10]).shape == (10,)


@pytest.mark.parametrize("family", FAMILIES)
def test_the_family_is_told_by_the_files_settings_not_its_name(family, saved, trained, mnist):
    wrong_suffix = ".npz" if REGISTRY[family].file_suffix != ".npz" else ".keras"
    renamed = saved[family].read_bytes()
    assert_same_run(loads(renamed, f"model{wrong_suffix}"), trained[family], mnist.x_test[:500])


class KerasTwin(KerasMLP):
    """A second family saved as .keras files, told apart from keras-mlp by its settings alone."""

    family = "keras-twin"
    display_name = "Keras twin"


class KerasImageTwin(KerasTwin):
    """A Keras family whose networks read 28x28 images (as a CNN's do), not 784 pixels."""

    family = "keras-image-twin"
    display_name = "Keras image twin"

    @classmethod
    def read_learned(cls, path, name):
        return {"model_": keras_files.read_model(path, name, cls, input_shape=(28, 28, 1))}


def as_family(trained, model_class):
    """``trained`` with its network moved into a model of ``model_class``."""
    model = model_class(**trained.model.get_params())
    model.model_ = trained.model.model_
    model.classes_, model.loss_curve_ = trained.model.classes_, trained.model.loss_curve_
    return dataclasses.replace(trained, model=model)


def test_two_keras_families_round_trip_by_their_settings(trained, saved, mnist, monkeypatch):
    monkeypatch.setitem(REGISTRY, KerasTwin.family, KerasTwin)
    original = trained["keras-mlp"]
    twin_file, _ = dumps(as_family(original, KerasTwin))
    twin = loads(twin_file, "twin.keras")
    assert type(twin.model) is KerasTwin
    assert np.array_equal(
        twin.predict_proba(mnist.x_test[:500]), original.predict_proba(mnist.x_test[:500])
    )
    assert type(load(saved["keras-mlp"]).model) is KerasMLP  # the same suffix, the other family


def test_a_keras_network_of_the_wrong_shape_for_its_family_is_refused(saved, monkeypatch):
    monkeypatch.setitem(REGISTRY, KerasImageTwin.family, KerasImageTwin)
    data = with_settings(saved["keras-mlp"], lambda m: m.update(family=KerasImageTwin.family))
    refused(
        data, r"reads images of shape \(28, 28, 1\), but its network reads \(784,\)", "model.keras"
    )


@pytest.mark.parametrize(
    "family, named",
    [(each, other) for each in KERAS_FAMILIES for other in FAMILIES if other != each],
)
def test_a_keras_file_whose_settings_name_another_family_is_refused(family, named, saved):
    data = with_settings(saved[family], lambda m: m.update(family=named))
    display_name = re.escape(REGISTRY[named].display_name)
    refused(data, f"says it holds a {display_name}[ ,].*so it is damaged", "model.keras")


def test_a_file_of_a_family_this_mnistkit_does_not_know_is_refused(saved):
    data = with_settings(saved["keras-mlp"], lambda m: m.update(family="keras-transformer"))
    refused(data, "'keras-transformer' model, a kind this mnistkit .* does not know", "m.keras")


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
    assert found == set(sklearn_mlp.SKOPS_TRUSTED)


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
    def failing_writer(model, path):
        path.write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ScratchLinearNet, "write_learned", failing_writer)
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


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def test_an_npz_holding_object_arrays_is_refused(saved):
    arrays = {"coef_.npy": npy_bytes(np.array([{"format": "mnistkit-model"}], dtype=object))}
    refused(with_members(saved["scratch-linear"].read_bytes(), arrays), "pickled objects")


def test_a_file_from_a_newer_mnistkit_is_refused(saved):
    refused(
        with_settings(saved["scratch-linear"], lambda m: m.update(format_version=99)),
        "saved by a newer version of mnistkit",
    )


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda m: m["hyperparameters"].update(learning_rate=-1.0), "settings mnistkit cannot"),
        (lambda m: m["hyperparameters"].update(learning_rate="os.system"), "settings mnistkit"),
        (lambda m: m.pop("config"), "incomplete"),
        (lambda m: m.update(format="something-else"), "not a mnistkit model"),
        (lambda m: m.update(format_version="1"), "format version"),
        (lambda m: m.update(family=["keras-mlp"]), "does not know"),
    ],
)
def test_inconsistent_metadata_is_refused(saved, change, match):
    refused(with_settings(saved["scratch-linear"], change), match)


def test_unreadable_metadata_is_refused(saved):
    data = with_members(saved["scratch-linear"].read_bytes(), {"mnistkit.json": b"{not json"})
    refused(data, "unreadable settings")


@pytest.mark.parametrize(
    "key, array",
    [
        ("coef_", np.zeros((10, 100))),
        ("coef_", np.zeros((10, 784), np.float32)),
        ("intercept_", np.array([np.nan] * 10)),
    ],
)
def test_weights_of_the_wrong_shape_or_values_are_refused(saved, key, array):
    data = with_members(saved["scratch-linear"].read_bytes(), {f"{key}.npy": npy_bytes(array)})
    refused(data, f"unusable {key}")


def test_an_npz_with_arrays_a_linear_net_does_not_have_is_refused(saved):
    extra = {"extra.npy": npy_bytes(np.zeros(3))}
    refused(with_members(saved["scratch-linear"].read_bytes(), extra), "has no weights")


# --- files of format 1, before each family owned its file --------------------------------------


def format_1_file(family: str, path: Path) -> bytes:
    """What mnistkit's format 1 wrote for the model saved at ``path`` (format 2)."""
    import skops.io

    settings = settings_in(path)
    settings["format_version"] = 1
    text = json.dumps(settings)
    loaded = load(path).model
    buffer = io.BytesIO()
    if family == "scratch-linear":
        metadata = np.frombuffer(text.encode(), dtype=np.uint8)
        np.savez(buffer, coef_=loaded.coef_, intercept_=loaded.intercept_, metadata=metadata)
        return buffer.getvalue()
    if family == "sklearn-mlp":
        return skops.io.dumps({"estimator": loaded.estimator_, "metadata": text})
    return with_members(path.read_bytes(), {persistence.METADATA_MEMBER: text.encode()})


@pytest.mark.parametrize("family", FAMILIES)
def test_files_of_format_1_are_still_read(family, saved, trained, mnist):
    data = format_1_file(family, saved[family])
    members = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert (persistence.METADATA_MEMBER in members) == (family in KERAS_FAMILIES)
    assert_same_run(loads(data, saved[family].name), trained[family], mnist.x_test[:1000])


def test_format_1_metadata_is_read_as_text_in_a_zero_d_string_array_too(saved, trained, mnist):
    with np.load(io.BytesIO(format_1_file("scratch-linear", saved["scratch-linear"]))) as archive:
        arrays = dict(archive)
    arrays["metadata"] = np.array(arrays["metadata"].tobytes().decode())
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    assert_same_run(loads(buffer.getvalue()), trained["scratch-linear"], mnist.x_test)


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda m: m.update(family="sklearn-mlp"), "damaged"),
        (lambda m: m.update(format_version=2), "damaged"),
        (lambda m: m.update(format_version=99), "saved by a newer version"),
    ],
)
def test_a_format_1_file_whose_settings_disagree_with_it_is_refused(saved, change, match):
    with np.load(io.BytesIO(format_1_file("scratch-linear", saved["scratch-linear"]))) as archive:
        arrays = dict(archive)
    settings = json.loads(arrays["metadata"].tobytes())
    change(settings)
    arrays["metadata"] = np.frombuffer(json.dumps(settings).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    refused(buffer.getvalue(), match)


# --- Keras files: no layer that carries or imports code, for every Keras family ----------------


def keras_file_with_layer(trained, tmp_path, layer) -> Path:
    """A mnistkit .keras file (metadata included) whose network holds ``layer``."""
    import keras

    input_shape = trained.model.model_.input_shape[1:]
    network = keras.Sequential(
        [keras.Input(input_shape), layer, keras.layers.Flatten(), keras.layers.Dense(10)]
    )
    model = trained.model.__class__(**trained.model.get_params())
    model.model_, model.classes_, model.loss_curve_ = network, np.arange(10), [1.0]
    return save(dataclasses.replace(trained, model=model), tmp_path / "lambda.keras")


@pytest.mark.parametrize("family", KERAS_FAMILIES)
def test_a_keras_file_with_a_lambda_layer_is_refused(family, trained, tmp_path, monkeypatch):
    import keras

    layer = keras.layers.Lambda(lambda x: x * 2)
    path = keras_file_with_layer(trained[family], tmp_path, layer)
    refused(path, "Lambda layer, which can run code")
    # Keras's own safe mode is the second line of defence; its refusal is a ModelFileError too.
    monkeypatch.setattr(keras_files, "check_config", lambda config, name: None)
    refused(path, "could not be loaded safely by Keras")


def edited_keras_file(path: Path, tmp_path, edit) -> Path:
    """A copy of the Keras file at ``path`` with its config.json passed through ``edit``."""
    with zipfile.ZipFile(path) as source:
        config = json.loads(source.read("config.json"))
    edited = tmp_path / "edited.keras"
    changed = json.dumps(edit(config)).encode()
    edited.write_bytes(with_members(path.read_bytes(), {"config.json": changed}))
    return edited


def first_layer_with_weights(config: dict) -> dict:
    layers = config["config"]["layers"]
    return next(layer for layer in layers if layer["class_name"] in ("Dense", "Conv2D"))


@pytest.mark.parametrize("family", KERAS_FAMILIES)
def test_a_keras_file_pointing_at_other_code_is_refused(family, saved, tmp_path):
    def outside_module(config):
        first_layer_with_weights(config)["module"] = "os"
        return config

    def custom_object(config):
        layer = first_layer_with_weights(config)
        layer["registered_name"] = f"Evil>{layer['class_name']}"
        return config

    refused(edited_keras_file(saved[family], tmp_path, outside_module), "code outside Keras")
    refused(edited_keras_file(saved[family], tmp_path, custom_object), "custom Keras object")


@pytest.mark.parametrize("family", KERAS_FAMILIES)
def test_a_plain_keras_file_without_mnistkit_settings_is_refused(family, saved):
    data = with_members(saved[family].read_bytes(), {persistence.METADATA_MEMBER: None})
    refused(data, "zip archive but not a mnistkit model file", "plain.keras")


# --- a server reads Keras files in a worker process and keeps them as arrays --------------------


@pytest.fixture(scope="module")
def file_reader():
    from mnistkit.jobs.reader import FileReader

    reader = FileReader()
    yield reader
    reader.close()


# The families a server never reads itself: Keras (and JAX), and scikit-learn (with the pandas
# and pyarrow it imports), each hundreds of MB that a server holding arrays does without.
READ_IN_A_WORKER = [pytest.param(f, marks=pytest.mark.slow) for f in KERAS_FAMILIES]
READ_IN_A_WORKER.append("sklearn-mlp")


@pytest.mark.parametrize("family", READ_IN_A_WORKER)
def test_a_server_reads_a_framework_file_in_a_worker_as_arrays(
    family, trained, mnist, file_reader, tmp_path
):
    original = trained[family]
    data, filename = dumps(original)
    loaded = loads(data, filename, reader=file_reader)
    assert file_reader.pid() not in (None, os.getpid())  # read by another process
    assert type(loaded.model) is NetworkClassifier
    assert (loaded.model.family, loaded.model.display_name, loaded.model.file_suffix) == (
        family,
        REGISTRY[family].display_name,
        REGISTRY[family].file_suffix,
    )
    np.testing.assert_allclose(
        loaded.predict_proba(mnist.x_test[:2000]),
        original.predict_proba(mnist.x_test[:2000]),
        atol=1e-5,
    )
    assert loaded.model.describe() == original.model.describe()
    assert loaded.model.count_parameters() == original.model.count_parameters()
    assert loaded.model.loss_curve_ == original.model.loss_curve_
    assert (loaded.config, loaded.history, loaded.test_accuracy, loaded.name) == (
        original.config,
        original.history,
        original.test_accuracy,
        original.name,
    )
    # A download hands back the very file the worker read; nothing is written again.
    assert dumps(loaded) == (data, filename)
    assert persistence.suggested_filename(loaded) == filename
    assert save(loaded, tmp_path / "again").read_bytes() == data


@pytest.mark.slow
def test_a_keras_file_refused_in_the_worker_gives_the_same_sentence(
    trained, saved, tmp_path, file_reader
):
    import keras

    lambda_file = keras_file_with_layer(
        trained["keras-mlp"], tmp_path, keras.layers.Lambda(lambda x: x * 2)
    )
    with pytest.raises(ModelFileError, match=r"^lambda\.keras contains a Keras Lambda layer"):
        load(lambda_file, reader=file_reader)
    wrong_shape = with_settings(saved["keras-mlp"], lambda m: m.update(family="keras-cnn"))
    with pytest.raises(ModelFileError, match="says it holds a Keras CNN.*so it is damaged"):
        loads(wrong_shape, "model.keras", reader=file_reader)
    # The reader is still there for the next file.
    assert type(load(saved["keras-mlp"], reader=file_reader).model) is NetworkClassifier


def test_a_light_family_is_still_read_in_the_server_when_a_reader_is_given(saved, trained, mnist):
    def no_reader(data, name):
        raise AssertionError(f"{name} was sent to a worker, but its family reads it with NumPy")

    family = "scratch-linear"
    assert_same_run(load(saved[family], reader=no_reader), trained[family], mnist.x_test[:500])


# --- skops files: only the types mnistkit trusts -----------------------------------------------


class Untrusted:
    """A type no skops user has vetted."""

    def __init__(self):
        self.value = 1


def test_a_skops_file_holding_an_untrusted_type_is_refused(trained, saved):
    import skops.io

    estimator = trained["sklearn-mlp"].model.estimator_
    with zipfile.ZipFile(saved["sklearn-mlp"]) as archive:
        settings = archive.read(persistence.METADATA_MEMBER)
    for content in (
        [estimator, Untrusted()],  # format 2: the estimator alone, with mnistkit.json beside it
        {"estimator": estimator, "metadata": "{}", "extra": Untrusted()},  # format 1
    ):
        data = skops.io.dumps(content)
        if isinstance(content, list):
            data = with_members(data, {persistence.METADATA_MEMBER: settings})
        assert "Untrusted" in refused(data, "does not trust", "untrusted.skops")


@pytest.mark.parametrize("content", [[1, 2, 3], "an estimator"])
def test_a_skops_file_that_is_not_a_mnistkit_model_is_refused(saved, content):
    import skops.io

    plain = skops.io.dumps(content)
    refused(plain, "skops file but not a mnistkit model", "other.skops")  # format 1 layout
    with zipfile.ZipFile(saved["sklearn-mlp"]) as archive:
        settings = archive.read(persistence.METADATA_MEMBER)
    with_settings_member = with_members(plain, {persistence.METADATA_MEMBER: settings})
    refused(with_settings_member, "skops file but not a mnistkit model", "other.skops")


def test_a_skops_mlp_that_does_not_read_digits_is_refused(saved):
    import skops.io
    from sklearn.neural_network import MLPClassifier

    rng = np.random.default_rng(0)
    small = MLPClassifier(hidden_layer_sizes=(3,), max_iter=2)
    small.fit(rng.random((20, 5)), np.arange(20) % 10)
    with zipfile.ZipFile(saved["sklearn-mlp"]) as archive:
        settings = archive.read(persistence.METADATA_MEMBER)
    data = with_members(skops.io.dumps(small), {persistence.METADATA_MEMBER: settings})
    refused(data, "does not read 784 pixels", "small.skops")


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
    # named, not shown: the archives hold the time they were made, and every pytest-xdist worker
    # must collect the same test ids
    ids=["empty", "text", "hdf5", "png", "zip", "npz"],
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


def test_settings_larger_than_any_model_has_are_refused_unread(saved, monkeypatch):
    monkeypatch.setattr(persistence, "MAX_SETTINGS_BYTES", 100)
    refused(saved["scratch-linear"], "settings are larger than any mnistkit model's")


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("how", ["encrypted", "unknown-method"])
def test_a_model_file_whose_zip_members_cannot_be_read_is_refused(family, how, saved):
    path = saved[family]
    refused(unreadable_members(path.read_bytes(), how), "damaged", filename=path.name)
