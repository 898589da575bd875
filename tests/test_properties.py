"""Property-based tests: whatever arrives, the readers give a valid result or one clear error.

Hypothesis generates pictures, arrays and files, random and mutated from valid ones. For each,
``to_mnist``/``read_image`` either give an MNIST-like image or raise ``ImageError``, and the IDX
and .npz readers either give MNIST-shaped digits or raise ``DataError``: never another exception,
never a hang (each example has a deadline).
"""

from __future__ import annotations

import gzip
import io
import zipfile
from datetime import timedelta

import hypothesis.extra.numpy as hnp
import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from mnistkit import data
from mnistkit.data import DataError, load_digit_set, load_mnist, read_idx
from mnistkit.preprocess import ImageError, read_image, to_mnist

QUICK = settings(
    max_examples=150,
    deadline=timedelta(seconds=5),  # far above the slowest example; a hang fails the test
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

PIXEL_TYPES = st.sampled_from(
    [np.bool_, np.uint8, np.uint16, np.int16, np.int64, np.float32, np.float64]
)


def assert_mnist_like(image: np.ndarray) -> None:
    assert image.shape == (28, 28) and image.dtype == np.uint8


def mnist_or_image_error(picture) -> None:
    """``to_mnist`` gives a 28x28 uint8 image or raises ``ImageError``, nothing else."""
    try:
        result = to_mnist(picture)
    except ImageError as error:
        event(f"to_mnist: {type(error).__name__}")
        return
    event("to_mnist: an image")
    assert_mnist_like(result)


# Pictures ------------------------------------------------------------------------------------


@QUICK
@given(
    hnp.arrays(
        dtype=PIXEL_TYPES,
        shape=st.one_of(
            hnp.array_shapes(min_dims=2, max_dims=2, min_side=0, max_side=60),
            st.tuples(st.integers(0, 40), st.integers(0, 40), st.sampled_from([1, 2, 3, 4, 5])),
            hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6),
        ),
    )
)
def test_to_mnist_of_any_array(array):
    mnist_or_image_error(array)


@QUICK
@given(
    hnp.arrays(
        dtype=np.uint8,
        shape=st.tuples(st.integers(1, 80), st.integers(1, 80)),
        elements=st.sampled_from([0, 30, 128, 200, 255]),
    ),
    st.sampled_from(["L", "RGB", "RGBA", "P", "CMYK", "1", "I;16", "LA", "I", "F"]),
)
def test_to_mnist_of_any_picture_mode(pixels, mode):
    mnist_or_image_error(Image.fromarray(pixels).convert(mode))


def saved(picture: Image.Image, file_format: str) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=file_format)
    return buffer.getvalue()


def valid_picture_files() -> list[bytes]:
    """Small pictures of a stroke in each format the Draw page accepts."""
    pixels = np.full((40, 40), 255, np.uint8)
    pixels[8:32, 18:22] = 0
    picture = Image.fromarray(pixels)
    return [saved(picture, fmt) for fmt in ("PNG", "JPEG", "GIF", "BMP", "WEBP")]


def mutated(original: bytes, draw) -> bytes:
    """``original`` with a few bytes changed, some cut off, or some inserted."""
    raw = bytearray(original)
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(raw) - 1))
        raw[position] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        raw = raw[: draw(st.integers(0, len(raw)))]
    if draw(st.booleans()):
        position = draw(st.integers(0, len(raw)))
        raw[position:position] = draw(st.binary(max_size=40))
    return bytes(raw)


def picture_or_image_error(raw: bytes) -> None:
    try:
        picture = read_image(raw)
    except ImageError:
        event("read_image: ImageError")
        return
    event("read_image: a picture")
    assert isinstance(picture, Image.Image)
    mnist_or_image_error(picture)


@QUICK
@given(st.binary(max_size=3000))
def test_read_image_of_any_bytes(raw):
    picture_or_image_error(raw)


@QUICK
@given(st.sampled_from(valid_picture_files()), st.data())
def test_read_image_of_damaged_pictures(original, drawn):
    picture_or_image_error(mutated(original, drawn.draw))


# IDX files -----------------------------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    magic = data.IDX_IMAGES_MAGIC if array.ndim == 3 else data.IDX_LABELS_MAGIC
    header = magic.to_bytes(4, "big") + b"".join(size.to_bytes(4, "big") for size in array.shape)
    return header + array.tobytes()


VALID_IDX = [
    idx_bytes(np.arange(3 * 28 * 28, dtype=np.uint8).reshape(3, 28, 28)),
    idx_bytes(np.array([3, 1, 4], np.uint8)),
]


def idx_or_data_error(raw: bytes, tmp_path_factory, gzipped: bool = False) -> None:
    path = tmp_path_factory.mktemp("idx") / "file-idx-ubyte"
    path.write_bytes(gzip.compress(raw) if gzipped else raw)
    try:
        array = read_idx(path)
    except DataError:
        event("read_idx: DataError")
        return
    event("read_idx: an array")
    assert array.dtype == np.uint8
    assert array.ndim == raw[3] and array.size == len(raw) - 4 - 4 * raw[3]


@QUICK
@given(
    st.one_of(
        st.binary(max_size=200),
        st.sampled_from([b"\x00\x00\x08\x03", b"\x00\x00\x08\x01"]).flatmap(
            lambda magic: st.binary(max_size=3000).map(lambda rest: magic + rest)
        ),
    ),
    st.booleans(),
)
def test_read_idx_of_any_bytes(tmp_path_factory, raw, gzipped):
    idx_or_data_error(raw, tmp_path_factory, gzipped)


@QUICK
@given(st.sampled_from(VALID_IDX), st.data(), st.booleans())
def test_read_idx_of_damaged_files(tmp_path_factory, original, drawn, gzipped):
    idx_or_data_error(mutated(original, drawn.draw), tmp_path_factory, gzipped)


# .npz files ----------------------------------------------------------------------------------


def assert_digits(images: np.ndarray, labels: np.ndarray) -> None:
    assert images.dtype == labels.dtype == np.uint8
    assert images.ndim == 3 and images.shape[1:] == (28, 28)
    assert labels.shape == (len(images),) and len(images) >= 1
    assert labels.max() <= 9


def digit_set_or_data_error(raw: bytes) -> None:
    try:
        images, labels = load_digit_set(raw)
    except DataError:
        event("load_digit_set: DataError")
        return
    event("load_digit_set: digits")
    assert_digits(images, labels)
    assert len(images) <= data.MAX_DIGIT_SET


def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


VALID_IMAGES = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
VALID_LABELS = np.array([7, 2], np.uint8)
ANY_ARRAY = hnp.arrays(
    dtype=st.one_of(PIXEL_TYPES, st.just(np.dtype("U2"))),
    shape=st.one_of(
        st.tuples(st.integers(0, 4), st.just(28), st.just(28)),
        hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5),
    ),
)
ANY_LABELS = st.one_of(
    hnp.arrays(dtype=PIXEL_TYPES, shape=st.tuples(st.integers(0, 5))),
    hnp.arrays(dtype=st.sampled_from([np.uint8, np.int64]), shape=hnp.array_shapes(max_dims=2)),
)


@QUICK
@given(
    st.dictionaries(
        st.sampled_from(["x", "y", "x_train", "y_train", "x_test", "y_test", "other"]),
        st.one_of(ANY_ARRAY, ANY_LABELS, st.sampled_from([VALID_IMAGES, VALID_LABELS])),
        max_size=5,
    )
)
def test_load_digit_set_of_any_npz(arrays):
    digit_set_or_data_error(npz_bytes(**arrays))


VALID_DIGIT_SET = npz_bytes(x=VALID_IMAGES, y=VALID_LABELS)


@QUICK
@given(st.binary(max_size=500))
def test_load_digit_set_of_any_bytes(raw):
    digit_set_or_data_error(raw)


@QUICK
@given(st.data())
def test_load_digit_set_of_damaged_files(drawn):
    digit_set_or_data_error(mutated(VALID_DIGIT_SET, drawn.draw))


def zip_with_members(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, raw in members.items():
            archive.writestr(name, raw)
    return buffer.getvalue()


@QUICK
@given(st.dictionaries(st.sampled_from(["x.npy", "y.npy", "x"]), st.binary(max_size=300)))
def test_load_digit_set_of_zips_holding_any_bytes(members):
    digit_set_or_data_error(zip_with_members(members))


@settings(QUICK, max_examples=60)
@given(
    st.fixed_dictionaries(
        {
            "x_train": st.one_of(ANY_ARRAY, st.just(np.zeros((3, 28, 28), np.uint8))),
            "y_train": st.one_of(ANY_LABELS, st.just(np.array([1, 2, 3], np.uint8))),
            "x_test": st.just(np.zeros((2, 28, 28), np.uint8)),
            "y_test": st.one_of(ANY_LABELS, st.just(np.array([4, 5], np.uint8))),
        }
    )
)
def test_load_mnist_of_any_npz(tmp_path_factory, arrays):
    path = tmp_path_factory.mktemp("npz") / "mnist.npz"
    path.write_bytes(npz_bytes(**arrays))
    try:
        dataset = load_mnist(path)
    except DataError:
        event("load_mnist: DataError")
        return
    event("load_mnist: a data set")
    assert_digits(dataset.x_train, dataset.y_train)
    assert_digits(dataset.x_test, dataset.y_test)
