"""A classroom on one server: every bad input refused with a sentence, every fault survived.

Library cases that tests/test_preprocess.py, test_persistence.py and test_data.py already cover
are not repeated here; this file adds the missing ones, the same inputs sent through the pages
(AppTest, on the bundled sample), the server's caps, and interrupted training.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import pickle
import re
import socket
import subprocess
import sys
import tomllib
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from drawings import canvas_png
from job_helpers import finish_run
from PIL import Image
from streamlit.testing.v1 import AppTest

from mnistkit import persistence
from mnistkit.data import DataError, load_digit_set, load_mnist
from mnistkit.models import REGISTRY, build_model
from mnistkit.models.base import HyperparameterError
from mnistkit.persistence import ModelFileError
from mnistkit.preprocess import ImageError, read_image, to_mnist
from mnistkit.training import RunConfig, train
from mnistkit.ui import limits

APP = ROOT / "app.py"
MODELS_KEY = "mnistkit_models"
SMALL_RUNS = {
    "scratch-linear": RunConfig(model="scratch-linear", train_size=1000, epochs=2),
    "sklearn-mlp": RunConfig(
        model="sklearn-mlp", hyperparameters={"hidden_layers": (32,)}, train_size=2000, epochs=3
    ),
}


@pytest.fixture(scope="module")
def sample():
    return load_mnist("sample")


@pytest.fixture(scope="module")
def models(sample):
    """A visitor's two models, trained briefly on the bundled sample."""
    return {config.model: train(config, sample) for config in SMALL_RUNS.values()}


@pytest.fixture(scope="module")
def keras_model(sample):
    config = RunConfig(
        model="keras-mlp", hyperparameters={"hidden_layers": (16,)}, train_size=1000, epochs=1
    )
    return train(config, sample)


@pytest.fixture
def visitor(monkeypatch, models) -> AppTest:
    """A visitor on the bundled sample who already has two models in their session."""
    for variable in limits.ENVIRONMENT:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("MNISTKIT_DATA", "sample")
    monkeypatch.delenv("MNISTKIT_MODELS_DIR", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=180)
    at.session_state[MODELS_KEY] = {trained.name: trained for trained in models.values()}
    return at.run()


def open_page(at: AppTest, name: str) -> AppTest:
    at.switch_page(f"pages/{name}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def own_models(at: AppTest) -> dict:
    return dict(at.session_state[MODELS_KEY]) if MODELS_KEY in at.session_state else {}


def texts(elements) -> str:
    return "\n".join(str(element.value) for element in elements)


def assert_models_intact(at: AppTest, models: dict) -> None:
    """The visitor still has exactly their models, the very same objects, and no exception."""
    assert not at.exception, [e.value for e in at.exception]
    kept = own_models(at)
    assert sorted(kept) == sorted(trained.name for trained in models.values())
    for trained in models.values():
        assert kept[trained.name] is trained


def png(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=options.pop("format", "PNG"), **options)
    return buffer.getvalue()


def paper_digit(digit: np.ndarray, size: int = 112) -> np.ndarray:
    """A digit as dark ink on white paper, ``size`` pixels square (uint8 grey)."""
    return 255 - np.asarray(Image.fromarray(digit).resize((size, size), Image.Resampling.BILINEAR))


def photo_of_paper(digit: np.ndarray) -> bytes:
    """A JPEG 'photo' of the digit written in blue-black ink on cream paper, unevenly lit."""
    rng = np.random.default_rng(7)
    height, width = 900, 1200
    light = np.linspace(0.94, 1.0, width)[np.newaxis, :, np.newaxis]  # a lamp on the right
    paper = np.array([238, 232, 214], dtype=np.float64) * light * np.ones((height, width, 1))
    ink = np.asarray(Image.fromarray(digit).resize((320, 320), Image.Resampling.BICUBIC)) / 255
    top, left = 260, 610
    patch = paper[top : top + 320, left : left + 320]
    pen = np.array([40, 45, 80], dtype=np.float64)
    paper[top : top + 320, left : left + 320] = patch * (1 - ink[..., None]) + pen * ink[..., None]
    noisy = np.clip(paper + rng.normal(0, 3, paper.shape), 0, 255).astype(np.uint8)
    return png(Image.fromarray(noisy), format="JPEG", quality=70)


def best_correlation(result: np.ndarray, original: np.ndarray) -> float:
    """The correlation of two 28x28 images, allowing one pixel of shift either way."""
    return max(
        np.corrcoef(np.roll(result, (rows, columns), (0, 1)).ravel(), original.ravel())[0, 1]
        for rows in (-1, 0, 1)
        for columns in (-1, 0, 1)
    )


def a_digit(sample, label: int = 3) -> np.ndarray:
    return sample.x_test[int(np.flatnonzero(sample.y_test == label)[0])]


# Pictures: the cases test_preprocess.py leaves out -----------------------------------------------
# Covered there: not a picture, a missing file, a truncated PNG, a huge picture refused before
# decoding (30 and 400 megapixels), huge arrays, 16-bit/palette/CMYK/bilevel/LA/float modes, an
# animated GIF's first frame, EXIF orientation, blank canvases.


def test_an_empty_picture_file_is_refused_with_a_sentence():
    with pytest.raises(ImageError) as caught:
        read_image(b"")
    assert str(caught.value).startswith("The file is not a picture that can be read")


def test_a_photo_of_a_digit_on_paper_gives_that_digit(sample):
    digit = a_digit(sample)
    result = to_mnist(read_image(photo_of_paper(digit)))
    assert best_correlation(result, to_mnist(digit)) > 0.85


def test_the_upload_cap_is_the_servers_not_the_librarys(monkeypatch, tmp_path):
    """Python reads a picture over the server's cap; the Draw page refuses it (tested below)."""
    monkeypatch.setenv("MNISTKIT_MAX_UPLOAD_MB", "1")
    raw = png(Image.fromarray(np.random.default_rng(0).integers(0, 256, (800, 800, 3), np.uint8)))
    assert len(raw) > 1024**2
    (tmp_path / "big.png").write_bytes(raw)
    for source in (raw, tmp_path / "big.png"):
        assert read_image(source).size == (800, 800)


# Pictures through the Draw page --------------------------------------------------------------


def bad_pictures(sample) -> dict[str, tuple[bytes, str]]:
    """Uploads the Draw page must refuse: file name -> (bytes, what the error says)."""
    digit = canvas_png(a_digit(sample), "black-on-white")
    raw = png(Image.open(io.BytesIO(digit)), compress_level=0)
    bomb = png(Image.new("L", (10, 10)))
    header = b"IHDR" + (20_000).to_bytes(4, "big") * 2 + bomb[24:29]
    bomb = bomb[:12] + header + zlib.crc32(header).to_bytes(4, "big") + bomb[33:]
    return {
        "notes.png": (b"%PDF-1.4 not a picture", "not a picture that can be read"),
        "empty.png": (b"", "not a picture that can be read"),
        "truncated.png": (raw[: len(raw) // 2], "damaged or cut short"),
        "bomb.png": (bomb, "far too many pixels"),
        "blank.png": (png(Image.new("RGB", (200, 200), "white")), "blank: there is no digit"),
    }


def good_pictures(sample) -> dict[str, bytes]:
    """Unusual but readable uploads: file name -> bytes."""
    paper = paper_digit(a_digit(sample, 7))
    frames = [Image.fromarray(paper), Image.new("L", paper.shape, 255)]
    return {
        "16-bit.png": png(Image.fromarray(paper.astype(np.uint16) * 257)),
        "palette.png": png(Image.fromarray(paper).convert("P")),
        "cmyk.jpg": png(Image.fromarray(paper).convert("CMYK"), format="JPEG"),
        "animated.gif": png(frames[0], format="GIF", save_all=True, append_images=frames[1:]),
        "photo.jpg": photo_of_paper(a_digit(sample, 7)),
    }


def test_bad_pictures_on_the_draw_page_are_explained_and_nothing_is_lost(visitor, models, sample):
    open_page(visitor, "draw")
    for name, (data, phrase) in bad_pictures(sample).items():
        visitor.file_uploader(key="digit_picture").upload(name, data, "image/png").run()
        assert_models_intact(visitor, models)
        assert "could not be used: " in texts(visitor.error), name
        assert phrase in texts(visitor.error), (name, texts(visitor.error))
        assert "Prediction:" not in texts(visitor.markdown), name


@pytest.mark.slow
def test_unusual_pictures_on_the_draw_page_are_read(visitor, models, sample):
    open_page(visitor, "draw")
    for name, data in good_pictures(sample).items():
        visitor.file_uploader(key="digit_picture").upload(name, data, "image/png").run()
        assert_models_intact(visitor, models)
        assert not visitor.error, (name, texts(visitor.error))
        chosen = visitor.selectbox(key="picked_model").value
        expected = own_models(visitor)[chosen].predict(to_mnist(read_image(data))[np.newaxis])[0]
        assert f"Prediction: {expected}" in texts(visitor.markdown), name


def test_a_picture_over_the_upload_cap_is_explained_on_the_draw_page(visitor, models, monkeypatch):
    monkeypatch.setenv("MNISTKIT_MAX_UPLOAD_MB", "1")
    noise = np.random.default_rng(0).integers(0, 256, (800, 800, 3), np.uint8)
    open_page(visitor, "draw")
    visitor.file_uploader(key="digit_picture").upload("big.png", png(Image.fromarray(noise)))
    visitor.run()
    assert_models_intact(visitor, models)
    assert "larger than the 1 MB mnistkit accepts" in texts(visitor.error)


# Model files through the Train page ----------------------------------------------------------
# Covered in test_persistence.py at the library level: truncated and bit-flipped files of every
# family, a pickle renamed .npz, object arrays, a newer format version, inconsistent metadata,
# wrong weight shapes, Lambda and other code-carrying Keras layers, custom objects, untrusted
# skops types, plain Keras/skops files, HDF5, text, PNG, zip bombs and the size cap.


class Payload:
    """A pickle that would create a file if anything ever unpickled it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("suffix", [".npz", ".skops", ".keras", ".pkl", ""])
def test_a_pickle_under_any_name_is_refused_and_never_run(tmp_path, protocol, suffix):
    marker = tmp_path / "code-ran"
    data = pickle.dumps(Payload(marker), protocol=protocol)
    path = tmp_path / f"model{suffix}"
    path.write_bytes(data)
    for source in (lambda: persistence.load(path), lambda: persistence.loads(data, path.name)):
        with pytest.raises(ModelFileError) as caught:
            source()
        assert re.search("pickle|not a mnistkit model file", str(caught.value))
    assert not marker.exists()


def test_another_librarys_model_file_is_refused_unread(tmp_path):
    marker = tmp_path / "code-ran"
    torch_like = zip_bytes(
        {"model/data.pkl": pickle.dumps(Payload(marker)), "model/version": b"3\n"}
    )
    with pytest.raises(ModelFileError, match="zip archive but not a mnistkit model file"):
        persistence.loads(torch_like, "model.pt")
    assert not marker.exists()


def edited_npz(trained, change) -> bytes:
    """The saved linear net with its JSON settings (mnistkit.json) passed through ``change``."""
    data, _ = persistence.dumps(trained)
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with source, zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            member = source.read(info)
            if info.filename == persistence.METADATA_MEMBER:
                metadata = json.loads(member)
                change(metadata)
                member = json.dumps(metadata).encode()
            target.writestr(info, member)
    return buffer.getvalue()


def keras_file_with_lambda(keras_model) -> bytes:
    """A mnistkit .keras file whose network holds a Lambda layer (Python code)."""
    import keras

    network = keras.Sequential(
        [keras.Input((784,)), keras.layers.Lambda(lambda x: x * 2), keras.layers.Dense(10)]
    )
    model = keras_model.model.__class__(**keras_model.model.get_params())
    model.model_, model.classes_, model.loss_curve_ = network, np.arange(10), [1.0]
    return persistence.dumps(dataclasses.replace(keras_model, model=model))[0]


def bad_model_files(models, keras_model, tmp_path) -> dict[str, tuple[bytes, str]]:
    """Uploads the Train page must refuse: file name -> (bytes, what the error says)."""
    import skops.io

    scratch, mlp = models["scratch-linear"], models["sklearn-mlp"]
    marker = tmp_path / "code-ran"
    mlp_file = persistence.dumps(mlp)[0]
    untrusted = tmp_path / "untrusted.skops"
    skops.io.dump(
        {"estimator": mlp.model.estimator_, "metadata": "{}", "x": Payload(marker)}, untrusted
    )
    plain = tmp_path / "plain.skops"
    skops.io.dump(mlp.model.estimator_, plain)
    return {
        "empty.npz": (b"", "is empty"),
        "pickled.skops": (pickle.dumps(Payload(marker)), "holds a Python pickle"),
        "pickled.keras": (pickle.dumps(Payload(marker), protocol=2), "holds a Python pickle"),
        "damaged.skops": (mlp_file[: len(mlp_file) // 2], "damaged or incomplete"),
        "lambda.keras": (keras_file_with_lambda(keras_model), "Lambda layer, which can run code"),
        "untrusted.skops": (untrusted.read_bytes(), "types mnistkit does not trust"),
        "plain.skops": (plain.read_bytes(), "skops file but not a mnistkit model"),
        "newer.npz": (
            edited_npz(scratch, lambda m: m.update(format_version=99)),
            "saved by a newer version of mnistkit",
        ),
        "other-family.npz": (
            edited_npz(scratch, lambda m: m.update(family="keras-mlp")),
            "says it holds a Keras MLP but has no Keras network",
        ),
    }


@pytest.mark.slow
def test_bad_model_files_on_the_train_page_are_explained_and_nothing_is_lost(
    visitor, models, keras_model, tmp_path
):
    open_page(visitor, "train")
    for name, (data, phrase) in bad_model_files(models, keras_model, tmp_path).items():
        visitor.file_uploader(key="model_upload").upload(name, data).run()
        assert_models_intact(visitor, models)
        assert f"{name} was not added: " in texts(visitor.error), name
        assert phrase in texts(visitor.error), (name, texts(visitor.error))
    assert not (tmp_path / "code-ran").exists()
    good = persistence.dumps(keras_model)[0]
    visitor.file_uploader(key="model_upload").upload("mine.keras", good).run()
    assert "was added to your models" in texts(visitor.success)  # the page still works
    assert len(own_models(visitor)) == 3


# Handwriting sets (.npz and IDX) at the library level ----------------------------------------
# Covered in test_data.py: MNIST .npz files with wrong keys, flat or float images, float or 2-D
# labels, labels 10 and -1, lengths that differ, no digits, object arrays, truncated members,
# impossible sizes; IDX files with bad magic numbers, swapped, truncated, cut gzip streams,
# extra bytes, short headers, bad labels, lengths, sizes, missing files; digit sets that are not
# zips, lack x and y, have labels outside 0-9 or more than 10,000 digits.


def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, allow_pickle=True)
    return buffer.getvalue()


GOOD_X, GOOD_Y = np.zeros((3, 28, 28), np.uint8), np.array([1, 2, 3], np.uint8)
BAD_DIGIT_SETS = {
    "flat images": ({"x": np.zeros((3, 784), np.uint8)}, "x has shape (3, 784)"),
    "colour images": ({"x": np.zeros((3, 28, 28, 3), np.uint8)}, "should have shape (n, 28, 28)"),
    "float images": ({"x": np.zeros((3, 28, 28))}, "x holds float64 values"),
    "16-bit images": ({"x": np.zeros((3, 28, 28), np.uint16)}, "x holds uint16 values"),
    "float labels": ({"y": np.array([1.0, 2.0, 3.0])}, "whole numbers from 0 to 9"),
    "text labels": ({"y": np.array(["1", "2", "3"])}, "whole numbers from 0 to 9"),
    "2-D labels": ({"y": GOOD_Y[:, np.newaxis]}, "y has shape (3, 1)"),
    "label 10": ({"y": np.array([1, 2, 10])}, "outside 0-9 (for example 10)"),
    "negative label": ({"y": np.array([1, -2, 3])}, "outside 0-9 (for example -2)"),
    "fewer labels": ({"y": GOOD_Y[:2]}, "x has 3 images but y has 2 labels"),
    "no digits": ({"x": GOOD_X[:0], "y": GOOD_Y[:0]}, "hold no digits"),
    "object labels": ({"y": np.array([1, 2, 3], dtype=object)}, "object"),
}


@pytest.mark.parametrize("case", BAD_DIGIT_SETS, ids=list(BAD_DIGIT_SETS))
def test_a_malformed_digit_set_is_refused_with_a_sentence(case):
    changes, phrase = BAD_DIGIT_SETS[case]
    with pytest.raises(DataError) as caught:
        load_digit_set(npz_bytes(**{"x": GOOD_X, "y": GOOD_Y, **changes}))
    message = str(caught.value)
    assert message.startswith("Cannot load the uploaded file: ") and message.endswith(".")
    assert phrase in message


def test_a_digit_set_over_the_upload_cap_is_refused_by_the_page_read_by_python(
    visitor, models, monkeypatch
):
    monkeypatch.setenv("MNISTKIT_MAX_UPLOAD_MB", "1")
    noise = np.random.default_rng(0).integers(0, 256, (2000, 28, 28), np.uint8)
    data = npz_bytes(x=noise, y=np.zeros(2000, np.uint8))
    assert len(load_digit_set(data)[1]) == 2000  # the library's own checks pass
    open_page(visitor, "draw")
    visitor.file_uploader(key="handwriting_upload").upload("mine.npz", data, "application/zip")
    visitor.run()
    assert_models_intact(visitor, models)
    assert "mine.npz was not added: mine.npz is 1.5 MB, larger than the 1 MB mnistkit accepts." in (
        texts(visitor.error)
    )


# Hyperparameters outside their declared ranges --------------------------------------------------


def outside_values(declaration) -> list:
    """Values just outside a declaration's range (or not among its options)."""
    if declaration.kind == "choice":
        return ["bogus"]
    if declaration.kind == "layers":
        return [(int(declaration.low) - 1,), (int(declaration.high) + 1,), (8,) * 5]
    if declaration.kind == "int":
        return [int(declaration.low) - 1, int(declaration.high) + 1]
    low = declaration.low / 10 if declaration.low > 0 else declaration.low - 0.1
    return [low, declaration.high * 2 if declaration.high > 0 else declaration.high + 1]


OUT_OF_RANGE = [
    pytest.param(family, declaration, value, id=f"{family}-{declaration.name}={value}")
    for family, model_class in REGISTRY.items()
    for declaration in model_class.hyperparameters
    if declaration.kind != "bool"
    for value in outside_values(declaration)
]


@pytest.mark.parametrize(("family", "declaration", "value"), OUT_OF_RANGE)
def test_out_of_range_settings_are_refused_by_every_path_never_clipped(family, declaration, value):
    name = declaration.name
    paths = {
        "validate": lambda: declaration.validate(value),
        "parse": lambda: declaration.parse(declaration.format(value)),
        "build_model": lambda: build_model(family, **{name: value}),
        "RunConfig": lambda: RunConfig(model=family, hyperparameters={name: value}),
    }
    for path, attempt in paths.items():
        with pytest.raises(HyperparameterError) as caught:
            attempt()
        message = str(caught.value)
        assert name in message and message.endswith("."), (path, message)
        if declaration.kind in ("int", "float"):
            assert f"got {value:g}" in message, (path, message)  # the value given, not clipped
            assert f"from {declaration.low:g} to {declaration.high:g}" in message, path


def run_cli(*arguments: str, cwd: Path, **environment: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mnistkit", *arguments],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), "MNISTKIT_DATA": "sample", **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_command_line_refuses_an_out_of_range_setting_in_one_line(tmp_path):
    result = run_cli(
        "train", "--model", "scratch-linear", "--set", "learning_rate=99", "--out", "m.npz",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "mnistkit: error: learning_rate must be from 1e-09 to 10; got 99."
    ]
    assert result.stdout == "" and not (tmp_path / "m.npz").exists()


# Caps ----------------------------------------------------------------------------------------


def test_the_upload_cap_agrees_with_streamlits_upload_limit():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == limits.MAX_UPLOAD_MB
    assert persistence.MAX_BYTES == limits.MAX_UPLOAD_MB * 1024**2


def test_caps_come_from_the_environment_and_a_bad_value_is_refused(monkeypatch):
    for variable in limits.ENVIRONMENT:
        monkeypatch.delenv(variable, raising=False)
    assert limits.max_models() == limits.MAX_MODELS
    monkeypatch.setenv("MNISTKIT_MAX_MODELS", "25")
    monkeypatch.setenv("MNISTKIT_MAX_IMAGES_PER_RUN", "1_000_000")
    assert (limits.max_models(), limits.max_images_per_run()) == (25, 1_000_000)
    monkeypatch.setenv("MNISTKIT_MAX_MODELS", "lots")
    with pytest.raises(limits.LimitError, match="MNISTKIT_MAX_MODELS must be a whole number"):
        limits.max_models()


def test_every_preset_fits_within_the_default_run_cap():
    for family, model_class in REGISTRY.items():
        for preset in model_class.presets:
            config = RunConfig.from_preset(family, preset)
            assert (config.train_size or 60_000) * config.epochs <= limits.MAX_IMAGES_PER_RUN


def test_the_command_line_trains_past_the_servers_run_cap(tmp_path):
    result = run_cli(
        "train", "--model", "scratch-linear", "--epochs", "2", "--out", "m.npz",
        cwd=tmp_path, MNISTKIT_MAX_IMAGES_PER_RUN="10000",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "epoch 2/2" in result.stdout and (tmp_path / "m.npz").is_file()


def submit_training(at: AppTest, family="scratch-linear", train_size=1000, epochs=2) -> AppTest:
    open_page(at, "train")
    at.radio(key="train_family").set_value(family).run()
    at.select_slider(key=f"train_{family}_train_size").set_value(train_size)
    at.slider(key=f"train_{family}_epochs").set_value(epochs)
    at.form_submit_button[0].click().run()
    return at


def test_the_model_cap_is_stated_when_training_or_uploading(visitor, models, monkeypatch):
    monkeypatch.setenv("MNISTKIT_MAX_MODELS", "2")
    submit_training(visitor)
    assert_models_intact(visitor, models)
    cap = "You already have 2 models, the most one visitor may keep on this server is 2"
    assert f"Training could not start: {cap}" in texts(visitor.error)
    data, filename = persistence.dumps(models["scratch-linear"])
    visitor.file_uploader(key="model_upload").upload(filename, data).run()
    assert_models_intact(visitor, models)
    assert f"{filename} was not added: {cap}" in texts(visitor.error)
    monkeypatch.setenv("MNISTKIT_MAX_MODELS", "3")  # room for one more: training works again
    finish_run(visitor.form_submit_button[0].click().run())
    assert len(own_models(visitor)) == 3


def test_the_run_cap_is_stated_on_the_train_page(visitor, models, monkeypatch):
    monkeypatch.setenv("MNISTKIT_MAX_IMAGES_PER_RUN", "1500")
    submit_training(visitor, train_size=1000, epochs=2)
    assert_models_intact(visitor, models)
    assert "more than the 1,500 one run may take on this server" in texts(visitor.error)


def test_a_model_file_over_the_upload_cap_is_refused(visitor, models, monkeypatch):
    monkeypatch.setenv("MNISTKIT_MAX_UPLOAD_MB", "1")
    open_page(visitor, "train")
    visitor.file_uploader(key="model_upload").upload("big.npz", bytes(1024**2 + 1)).run()
    assert_models_intact(visitor, models)
    assert "big.npz was not added: big.npz is 1.0 MB, larger than the 1 MB" in texts(visitor.error)


# Faults --------------------------------------------------------------------------------------


@pytest.mark.parametrize("interruption", ["rerun", "page change", "stop"])
def test_interrupted_training_keeps_no_half_trained_model(visitor, models, interruption):
    """A click elsewhere or another page mid-run loses nothing; Stop keeps nothing half-trained.

    The run trains in a worker process (mnistkit.jobs), so the page's reruns cannot cut it short.
    """
    open_page(visitor, "train")
    visitor.radio(key="train_family").set_value("sklearn-mlp").run()
    visitor.select_slider(key="train_sklearn-mlp_train_size").set_value(5000)
    long_run = interruption == "stop"  # Stop must find it still training
    visitor.slider(key="train_sklearn-mlp_epochs").set_value(50 if long_run else 3)
    seed = ["rerun", "page change", "stop"].index(interruption) + 100  # never an earlier run
    visitor.number_input(key="train_sklearn-mlp_seed").set_value(seed)
    visitor.form_submit_button[0].click().run()
    if interruption == "rerun":
        visitor.run()
    elif interruption == "page change":
        open_page(visitor, "data")
    else:
        visitor.button(key="job_stop").click().run()
    assert not visitor.exception
    kept = own_models(visitor)
    assert all(kept[trained.name] is trained for trained in models.values())
    if interruption == "stop":
        assert "is ready" not in texts(visitor.success)
        assert len(own_models(visitor)) == 2
        assert "nothing from that run was kept" in texts(visitor.info)
        return
    finish_run(visitor)
    kept = own_models(visitor)
    assert len(kept) == 3 and all(kept[t.name] is t for t in models.values())


def test_without_network_the_app_starts_on_the_sample_and_says_so(monkeypatch, tmp_path):
    from mnistkit import data
    from mnistkit.ui.data import _shared_dataset

    def unreachable(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    monkeypatch.setattr(data, "_keras_get_file", unreachable)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    for variable in ("MNISTKIT_DATA", "MNISTKIT_MODELS_DIR", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    _shared_dataset.clear()
    try:
        at = AppTest.from_file(str(APP), default_timeout=180).run()
        assert not at.exception
        shown = texts(at.sidebar.caption)
        assert "the bundled sample of MNIST (6,000 training and 1,000 test digits)" in shown
        assert "this computer could not reach the internet to download all 70,000" in shown
        open_page(at, "data")
    finally:
        _shared_dataset.clear()


@pytest.mark.slow
def test_a_keras_model_answers_several_threads_at_once(keras_model, sample):
    """A visitor's quick strokes run the Draw page in overlapping threads on one Keras model."""
    from concurrent.futures import ThreadPoolExecutor

    images = sample.x_test[:200]
    expected = keras_model.predict_proba(images)
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: keras_model.predict_proba(images), range(24)))
    for answer in answers:
        assert np.allclose(answer, expected)
    assert np.allclose(keras_model.predict_proba(images), expected)  # and the model still works


@pytest.mark.slow
def test_a_keras_model_can_be_downloaded_while_it_answers(keras_model, sample):
    """A ready-made model is shared: one visitor downloads it while others draw with it."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    images = sample.x_test[:50]
    expected = keras_model.predict_proba(images)
    downloads_done = threading.Event()

    def keep_drawing() -> int:
        """One digit at a time, as the Draw page asks, until the downloads are done."""
        answers = 0
        while not downloads_done.is_set():
            digit = answers % len(images)
            assert np.allclose(keras_model.predict_proba(images[digit][None]), expected[digit])
            answers += 1
        return answers

    with ThreadPoolExecutor(max_workers=2) as pool:
        visitors = [pool.submit(keep_drawing) for _ in range(2)]
        try:
            for _ in range(5):
                data, filename = persistence.dumps(keras_model)
                downloaded = persistence.loads(data, filename)
                assert np.allclose(downloaded.predict_proba(images), expected)
        finally:
            downloads_done.set()
        assert all(visitor.result() > 0 for visitor in visitors)
    assert np.allclose(keras_model.predict_proba(images), expected)  # and the model still works
