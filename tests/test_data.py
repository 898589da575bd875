"""Loading digits: real MNIST in every layout, the bundled sample, the fallbacks, bad files."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import importlib.util
import io
import os
import re
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from zips import unreadable_members

from mnistkit import data
from mnistkit.data import DataError, load_digit_set, load_mnist, read_idx, save_digit_set

ROOT = Path(__file__).resolve().parent.parent

# The first training image as the first article prints it (a 5): four of its rows, the sum and
# count of its pixels, and the SHA-256 of its 784 bytes, all taken from that printout.
FIRST_IMAGE_ROWS = {
    5: [0] * 12 + [3, 18, 18, 18, 126, 136, 175, 26, 166, 255, 247, 127, 0, 0, 0, 0],
    6: [0] * 8
    + [30, 36, 94, 154, 170, 253, 253, 253, 253, 253, 225, 172, 253, 242, 195, 64]
    + [0] * 4,
    7: [0] * 7
    + [49, 238, 253, 253, 253, 253, 253, 253, 253, 253, 251, 93, 82, 82, 56, 39]
    + [0] * 5,
    8: [0] * 7 + [18, 219, 253, 253, 253, 253, 253, 198, 182, 247, 241] + [0] * 10,
}
FIRST_IMAGE_SUM = 27525
FIRST_IMAGE_INK_PIXELS = 166
FIRST_IMAGE_SHA256 = "23ceaef5eb61f0e70d64ac18fdf0f60df3d5971cf30bbadac7b6ebf07f782d2c"


# Helpers ---------------------------------------------------------------------------------------


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    """Write ``array`` (uint8) as an IDX file, MNIST's original format."""
    magic = data.IDX_IMAGES_MAGIC if array.ndim == 3 else data.IDX_LABELS_MAGIC
    header = magic.to_bytes(4, "big") + b"".join(size.to_bytes(4, "big") for size in array.shape)
    raw = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw, compresslevel=1) if compress else raw)
    return path


def write_idx_folder(folder: Path, arrays: dict[str, np.ndarray], compress=False) -> Path:
    folder.mkdir(exist_ok=True)
    for key, name in data.IDX_FILES.items():
        write_idx(folder / (f"{name}.gz" if compress else name), arrays[key], compress)
    return folder


def small_arrays(n_train: int = 30, n_test: int = 10) -> dict[str, np.ndarray]:
    """A tiny data set in MNIST's layout: random pixels, every digit among the labels."""
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": np.arange(n_train, dtype=np.uint8) % 10,
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": np.arange(n_test, dtype=np.uint8) % 10,
    }


def write_npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def assert_one_sentence(message: str, *must_contain: str) -> None:
    """A learner-friendly message: one sentence that names what it is about."""
    assert message.endswith("."), message
    assert not re.search(r"\.\s+[A-Z]", message), f"more than one sentence: {message}"
    for text in must_contain:
        assert text in message, f"{text!r} not in {message!r}"


@contextmanager
def refused(*must_contain: str) -> Iterator[pytest.ExceptionInfo[DataError]]:
    """The block raises a DataError whose message is one sentence holding each of the texts."""
    with pytest.raises(DataError) as caught:
        yield caught
    assert_one_sentence(str(caught.value), *must_contain)


@pytest.fixture
def fresh_home(monkeypatch, tmp_path):
    """No MNISTKIT_DATA, no proxy, and an empty Keras cache in a new home folder."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.delenv("MNISTKIT_DATA", raising=False)
    for name in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    return home / ".keras" / "datasets"


@pytest.fixture
def offline(fresh_home, monkeypatch):
    """A fresh home on a machine whose network is unreachable."""

    def unreachable(*args, **kwargs):
        raise OSError("Network is unreachable")

    def no_download(target):
        raise AssertionError("Keras's downloader should not run when the network is unreachable")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    monkeypatch.setattr(data, "_keras_get_file", no_download)
    return fresh_home


def cache_holding(cache_folder: Path, arrays: dict[str, np.ndarray], monkeypatch) -> Path:
    """Put a small MNIST file in the Keras cache and make its hash the published one."""
    cache_folder.mkdir(parents=True, exist_ok=True)
    cached = write_npz(cache_folder / "mnist.npz", **arrays)
    monkeypatch.setattr(data, "KERAS_MNIST_SHA256", hashlib.sha256(cached.read_bytes()).hexdigest())
    return cached


# Real MNIST --------------------------------------------------------------------------------------


def test_npz_gives_mnist_with_the_articles_first_digit(mnist, mnist_path):
    assert (mnist.n_train, mnist.n_test) == (60_000, 10_000)
    assert mnist.x_train.shape == (60_000, 28, 28) and mnist.x_test.shape == (10_000, 28, 28)
    assert mnist.y_train.shape == (60_000,) and mnist.y_test.shape == (10_000,)
    for array in (mnist.x_train, mnist.y_train, mnist.x_test, mnist.y_test):
        assert array.dtype == np.uint8
    first = mnist.x_train[0]
    assert mnist.y_train[0] == 5
    for row, values in FIRST_IMAGE_ROWS.items():
        assert first[row].tolist() == values
    assert int(first.sum()) == FIRST_IMAGE_SUM
    assert int((first > 0).sum()) == FIRST_IMAGE_INK_PIXELS
    assert hashlib.sha256(first.tobytes()).hexdigest() == FIRST_IMAGE_SHA256
    assert str(mnist_path) in mnist.source
    assert "60,000 training and 10,000 test digits" in mnist.source


def test_arrays_are_read_only(mnist):
    for array in (mnist.x_train, mnist.y_train, mnist.x_test, mnist.y_test):
        assert not array.flags.writeable
    with pytest.raises(ValueError):
        mnist.x_train[0, 0, 0] = 1


def test_idx_folder_written_from_the_npz_loads_identically(mnist, tmp_path):
    arrays = {key: getattr(mnist, key) for key in data.SPLITS}
    folder = tmp_path / "idx"
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte", mnist.x_train)
    write_idx(folder / "train-labels-idx1-ubyte", mnist.y_train)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", mnist.x_test, compress=True)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", mnist.y_test, compress=True)
    loaded = load_mnist(folder)
    for key, array in arrays.items():
        assert np.array_equal(getattr(loaded, key), array), key
        assert getattr(loaded, key).dtype == np.uint8
        assert not getattr(loaded, key).flags.writeable
    assert str(folder) in loaded.source and "60,000 training" in loaded.source


def test_original_t10k_idx_files_equal_the_npz_test_set(mnist, idx_dir, tmp_path):
    images = read_idx(idx_dir / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(idx_dir / "t10k-labels-idx1-ubyte.gz")
    assert np.array_equal(images, mnist.x_test)
    assert np.array_equal(labels, mnist.y_test)
    # The same files, found by name in a folder next to training files written from the npz.
    folder = tmp_path / "mixed"
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte", mnist.x_train[:100])
    write_idx(folder / "train-labels-idx1-ubyte", mnist.y_train[:100])
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (folder / name).symlink_to(idx_dir / name)
    loaded = load_mnist(folder)
    assert np.array_equal(loaded.x_test, mnist.x_test)
    assert np.array_equal(loaded.y_test, mnist.y_test)


# The bundled sample ----------------------------------------------------------------------------


def test_sample_loads_offline_with_every_class_in_proportion(offline, mnist):
    sample = load_mnist("sample")
    assert (sample.n_train, sample.n_test) == (6_000, 1_000)
    assert "bundled sample" in sample.source and "6,000 training and 1,000 test" in sample.source
    for labels, full in ((sample.y_train, mnist.y_train), (sample.y_test, mnist.y_test)):
        counts = np.bincount(labels, minlength=10)
        expected = np.bincount(full, minlength=10) * len(labels) / len(full)
        assert counts.min() > 0
        assert np.all(np.abs(counts - expected) < 1), (counts, expected)
    for array in (sample.x_train, sample.y_train, sample.x_test, sample.y_test):
        assert not array.flags.writeable


def test_sample_is_small_and_made_of_real_mnist_digits(mnist):
    assert data.SAMPLE_PATH.stat().st_size < 1_500_000
    sample = load_mnist("sample")
    training = {
        image.tobytes(): label for image, label in zip(mnist.x_train, mnist.y_train, strict=True)
    }
    assert all(
        training.get(image.tobytes()) == label
        for image, label in zip(sample.x_train[::50], sample.y_train[::50], strict=True)
    )


def test_sample_script_rebuilds_the_bundled_file(mnist_path, tmp_path):
    spec = importlib.util.spec_from_file_location(
        "make_sample", ROOT / "scripts" / "make_sample.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    output = tmp_path / "sample.npz"
    assert script.main([str(mnist_path), "--output", str(output)]) == 0
    rebuilt, bundled = load_mnist(output), load_mnist("sample")
    for key in data.SPLITS:
        assert np.array_equal(getattr(rebuilt, key), getattr(bundled, key)), key
    again = tmp_path / "again.npz"
    script.main([str(mnist_path), "--output", str(again)])
    assert again.read_bytes() == output.read_bytes()


# Choosing a source ------------------------------------------------------------------------------


def test_auto_without_network_or_cache_falls_back_to_the_sample_promptly(offline):
    started = time.perf_counter()
    dataset = load_mnist("auto")
    assert time.perf_counter() - started < 5
    assert dataset.n_train == 6_000
    assert dataset.source.startswith("offline: using the bundled 7,000-digit sample")
    assert "storage.googleapis.com cannot be reached" in dataset.source
    assert not offline.exists() or not any(offline.iterdir())  # nothing left in the cache


def test_auto_gives_up_on_a_silent_network_within_seconds(offline, monkeypatch):
    def hangs(*args, **kwargs):
        time.sleep(5)  # far past the 0.2 s the loader waits
        raise TimeoutError("timed out")  # what a silent network finally gives

    monkeypatch.setattr(socket, "create_connection", hangs)
    monkeypatch.setattr(data, "NETWORK_TIMEOUT_SECONDS", 0.2)
    started = time.perf_counter()
    dataset = load_mnist()
    assert time.perf_counter() - started < 3
    assert "did not answer" in dataset.source and dataset.source.startswith("offline:")


def test_auto_uses_an_intact_cached_download(offline, monkeypatch):
    cache_holding(offline, small_arrays(), monkeypatch)
    dataset = load_mnist()
    assert dataset.n_train == 30
    assert "cached by Keras" in dataset.source and str(offline / "mnist.npz") in dataset.source


def test_cached_download_loads_without_importing_keras(tmp_path):
    cache = tmp_path / "keras" / "datasets"
    cache.mkdir(parents=True)
    write_npz(cache / "mnist.npz", **small_arrays())
    digest = hashlib.sha256((cache / "mnist.npz").read_bytes()).hexdigest()
    program = (
        "import sys\n"
        "from mnistkit import data\n"
        f"data.KERAS_MNIST_SHA256 = {digest!r}\n"
        "dataset = data.load_mnist('download')\n"
        "assert dataset.n_train == 30, dataset.source\n"
        "assert 'keras' not in sys.modules and 'jax' not in sys.modules\n"
    )
    environment = {**os.environ, "KERAS_HOME": str(tmp_path / "keras"), "PYTHONPATH": str(ROOT)}
    environment.pop("MNISTKIT_DATA", None)
    result = subprocess.run(
        [sys.executable, "-c", program], env=environment, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_damaged_cached_download_is_not_trusted(offline, monkeypatch):
    cached = cache_holding(offline, small_arrays(), monkeypatch)
    monkeypatch.setattr(data, "KERAS_MNIST_SHA256", "0" * 64)
    dataset = load_mnist("auto")
    assert dataset.n_train == 6_000
    assert "does not match its published checksum" in dataset.source
    assert dataset.source.startswith("offline:")
    with refused(str(cached), "checksum", "could not be downloaded"):
        load_mnist("download")


def test_download_without_network_raises(offline):
    with refused("MNIST could not be downloaded"):
        load_mnist("download")


def test_download_puts_the_checked_file_in_the_cache(offline, monkeypatch, tmp_path):
    payload = write_npz(tmp_path / "payload.npz", **small_arrays()).read_bytes()
    monkeypatch.setattr(data, "KERAS_MNIST_SHA256", hashlib.sha256(payload).hexdigest())
    monkeypatch.setattr(data, "_check_reachable", lambda url: None)

    def fetch(target: Path) -> Path:
        target.write_bytes(payload)
        return target

    monkeypatch.setattr(data, "_keras_get_file", fetch)
    dataset = load_mnist("download")
    assert dataset.n_train == 30 and "downloaded by Keras" in dataset.source
    assert sorted(path.name for path in offline.iterdir()) == ["mnist.npz"]


@pytest.fixture
def local_server(tmp_path):
    """An HTTP server on this machine serving the files of a folder, standing in for Google's."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.mark.slow
def test_download_through_keras(fresh_home, monkeypatch, local_server):
    folder, address = local_server
    arrays = small_arrays()
    good = write_npz(folder / "mnist.npz", **arrays)
    write_npz(folder / "other.npz", **small_arrays(n_train=20))
    monkeypatch.setattr(data, "KERAS_MNIST_SHA256", hashlib.sha256(good.read_bytes()).hexdigest())
    monkeypatch.setattr(data, "_check_reachable", lambda url: None)
    for name, phrase in (("missing.npz", "404"), ("other.npz", "checksum")):
        monkeypatch.setattr(data, "KERAS_MNIST_URL", f"{address}/{name}")
        with refused(phrase):
            load_mnist("download")
        assert not fresh_home.exists() or list(fresh_home.iterdir()) == []
    monkeypatch.setattr(data, "KERAS_MNIST_URL", f"{address}/mnist.npz")
    dataset = load_mnist("download")
    assert dataset.n_train == 30 and "downloaded by Keras" in dataset.source
    assert [path.name for path in fresh_home.iterdir()] == ["mnist.npz"]
    assert load_mnist("auto").source.startswith("the official MNIST, cached by Keras")


@pytest.mark.parametrize("failure", ["interrupted", "wrong file"])
def test_failed_download_leaves_no_file_in_the_cache(offline, monkeypatch, failure):
    monkeypatch.setattr(data, "_check_reachable", lambda url: None)

    def fetch(target: Path) -> Path:
        target.write_bytes(b"PK\x03\x04 half of a file")
        if failure == "interrupted":
            raise ConnectionResetError("connection reset by peer")
        return target

    monkeypatch.setattr(data, "_keras_get_file", fetch)
    expected = "connection reset" if failure == "interrupted" else "does not match"
    with refused(expected):
        load_mnist("download")
    assert list(offline.iterdir()) == []
    fallback = load_mnist("auto")
    assert fallback.n_train == 6_000 and not fallback.source.startswith("offline")
    assert list(offline.iterdir()) == []


def test_environment_variable_chooses_the_source(offline, monkeypatch, tmp_path):
    path = write_npz(tmp_path / "mine.npz", **small_arrays())
    monkeypatch.setenv("MNISTKIT_DATA", str(path))
    dataset = load_mnist()
    assert dataset.n_train == 30
    assert str(path) in dataset.source and "MNISTKIT_DATA" in dataset.source
    monkeypatch.setenv("MNISTKIT_DATA", "sample")
    assert load_mnist().n_train == 6_000


def test_environment_variable_naming_a_missing_file_is_an_error(offline, monkeypatch, tmp_path):
    missing = tmp_path / "missing.npz"
    monkeypatch.setenv("MNISTKIT_DATA", str(missing))
    with refused(str(missing), "does not exist", "MNISTKIT_DATA"):
        load_mnist()


# Malformed files -------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.npz"
    with refused(str(path), "does not exist") as caught:
        load_mnist(path)
    assert isinstance(caught.value, ValueError)


def test_not_a_zip(tmp_path):
    path = tmp_path / "mnist.npz"
    path.write_bytes(b"this is not a zip archive")
    with refused(str(path), "not a .npz file"):
        load_mnist(path)


def test_wrong_keys(tmp_path):
    path = write_npz(tmp_path / "mnist.npz", x=np.zeros((2, 28, 28), np.uint8), y=np.zeros(2))
    with refused(str(path), "the arrays x, y", "x_train, y_train"):
        load_mnist(path)


BAD_ARRAYS = {
    "flat images": (
        {"x_train": np.zeros((30, 784), np.uint8)},
        ["x_train has shape (30, 784)", "(n, 28, 28)"],
    ),
    "float images": ({"x_test": np.zeros((10, 28, 28))}, ["x_test holds float64", "uint8"]),
    "float labels": ({"y_train": np.zeros(30)}, ["y_train holds float64", "0 to 9"]),
    "2-D labels": ({"y_test": np.zeros((10, 1), np.uint8)}, ["y_test has shape (10, 1)"]),
    "label 10": (
        {"y_train": np.r_[np.zeros(29, np.uint8), 10].astype(np.uint8)},
        ["outside 0-9", "10"],
    ),
    "negative label": ({"y_test": np.full(10, -1, np.int64)}, ["outside 0-9", "-1"]),
    "lengths differ": (
        {"y_train": np.zeros(29, np.uint8)},
        ["x_train has 30 images but y_train has 29 labels"],
    ),
    "no digits": (
        {"x_test": np.zeros((0, 28, 28), np.uint8), "y_test": np.zeros(0, np.uint8)},
        ["hold no digits"],
    ),
    "pickled objects": ({"y_test": np.array([1] * 10, dtype=object)}, ["object"]),
}


@pytest.mark.parametrize("case", BAD_ARRAYS, ids=list(BAD_ARRAYS))
def test_wrong_shapes_dtypes_and_labels(tmp_path, case):
    changes, phrases = BAD_ARRAYS[case]
    path = tmp_path / "mnist.npz"
    np.savez(path, **{**small_arrays(), **changes}, allow_pickle=True)
    with refused(str(path), *phrases):
        load_mnist(path)


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array)
    return buffer.getvalue()


def write_npz_members(path: Path, members: dict[str, bytes]) -> Path:
    """A .npz written member by member, so that a test can spoil one of them."""
    with zipfile.ZipFile(path, "w") as archive:
        for key, raw in members.items():
            archive.writestr(f"{key}.npy", raw)
    return path


def test_truncated_array_inside_the_npz(tmp_path):
    members = {key: npy_bytes(array) for key, array in small_arrays().items()}
    members["x_train"] = members["x_train"][: len(members["x_train"]) // 2]
    path = write_npz_members(tmp_path / "mnist.npz", members)
    with refused(str(path), "x_train is damaged or truncated"):
        load_mnist(path)


def test_an_impossibly_large_array_is_refused_unread(tmp_path):
    members = {key: npy_bytes(array) for key, array in small_arrays().items()}
    header = io.BytesIO()  # a header announcing ten million images, and no pixels after it
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": (10**7, 28, 28)}
    )
    members["x_train"] = header.getvalue()
    path = write_npz_members(tmp_path / "mnist.npz", members)
    with refused(str(path), "10,000,000 images", "more than"):
        load_mnist(path)


def test_idx_with_a_bad_magic_number(tmp_path):
    path = write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8))
    raw = bytearray(path.read_bytes())
    raw[2] = 0x09  # the type byte of 32-bit integers
    path.write_bytes(bytes(raw))
    with refused(str(path), "magic number is 2307"):
        read_idx(path)


def test_idx_files_swapped(tmp_path):
    arrays = small_arrays()
    folder = write_idx_folder(tmp_path / "idx", arrays)
    write_idx(folder / "t10k-labels-idx1-ubyte", arrays["x_test"])
    with refused("t10k-labels-idx1-ubyte", "magic number is 2051", "not 2049"):
        load_mnist(folder)


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzipped"])
def test_idx_with_a_truncated_body(tmp_path, compress):
    path = write_idx(tmp_path / "train-images-idx3-ubyte", np.ones((5, 28, 28), np.uint8))
    raw = path.read_bytes()[:-100]
    path.write_bytes(gzip.compress(raw) if compress else raw)
    with refused(str(path), "truncated", "3,820 of the 3,920 bytes"):
        read_idx(path)


def test_idx_with_a_cut_gzip_stream(tmp_path):
    path = write_idx(tmp_path / "t.gz", np.ones((50, 28, 28), np.uint8), compress=True)
    path.write_bytes(path.read_bytes()[:-20])
    with refused(str(path), "damaged or truncated gzip"):
        read_idx(path)


def test_idx_with_extra_bytes(tmp_path):
    path = write_idx(tmp_path / "labels", np.ones(5, np.uint8))
    path.write_bytes(path.read_bytes() + b"\x00\x00")
    with refused(str(path), "2 bytes more"):
        read_idx(path)


def test_idx_too_short_for_a_header(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(b"\x00\x00")
    with refused(str(path), "too short"):
        read_idx(path)


def test_idx_labels_outside_0_to_9(tmp_path):
    arrays = small_arrays()
    arrays["y_test"] = np.full(10, 12, np.uint8)
    folder = write_idx_folder(tmp_path / "idx", arrays, compress=True)
    with refused(str(folder), "t10k-labels-idx1-ubyte", "outside 0-9"):
        load_mnist(folder)


def test_idx_images_and_labels_of_different_lengths(tmp_path):
    arrays = small_arrays()
    arrays["y_train"] = arrays["y_train"][:-1]
    folder = write_idx_folder(tmp_path / "idx", arrays)
    with refused(str(folder), "30 images", "29 labels"):
        load_mnist(folder)


def test_idx_images_of_the_wrong_size(tmp_path):
    arrays = small_arrays()
    arrays["x_test"] = np.zeros((10, 32, 32), np.uint8)
    folder = write_idx_folder(tmp_path / "idx", arrays)
    with refused(str(folder), "shape (10, 32, 32)"):
        load_mnist(folder)


@pytest.mark.parametrize("missing", list(data.IDX_FILES.values()))
def test_folder_missing_one_of_the_four_files(tmp_path, missing):
    folder = write_idx_folder(tmp_path / "idx", small_arrays(), compress=True)
    (folder / f"{missing}.gz").unlink()
    with refused(str(folder), f"no {missing}", "all four"):
        load_mnist(folder)


def test_small_idx_folder_loads(tmp_path):
    arrays = small_arrays()
    dataset = load_mnist(write_idx_folder(tmp_path / "idx", arrays, compress=True))
    for key, array in arrays.items():
        assert np.array_equal(getattr(dataset, key), array)


# A learner's own digits ------------------------------------------------------------------------


def test_digit_set_round_trip(tmp_path):
    arrays = small_arrays()
    raw = save_digit_set(arrays["x_train"], arrays["y_train"])
    images, labels = load_digit_set(raw)
    assert np.array_equal(images, arrays["x_train"]) and np.array_equal(labels, arrays["y_train"])
    assert images.dtype == labels.dtype == np.uint8
    assert not images.flags.writeable and not labels.flags.writeable
    path = tmp_path / "mine.npz"
    path.write_bytes(raw)
    images, labels = load_digit_set(path)
    assert np.array_equal(images, arrays["x_train"])
    with np.load(path, allow_pickle=False) as stored:
        assert sorted(stored.files) == ["x", "y"]


def test_digit_set_accepts_integer_labels_and_mnist_layout(tmp_path):
    arrays = small_arrays()
    raw = save_digit_set(list(arrays["x_test"]), [int(label) for label in arrays["y_test"]])
    assert np.array_equal(load_digit_set(raw)[1], arrays["y_test"])
    path = write_npz(tmp_path / "split.npz", **arrays)
    images, labels = load_digit_set(path)
    assert len(images) == len(labels) == 40
    assert np.array_equal(labels, np.r_[arrays["y_train"], arrays["y_test"]])


def test_digit_set_errors_name_the_problem(tmp_path):
    with refused("the uploaded file", "not a .npz file"):
        load_digit_set(b"not a zip")
    path = write_npz(tmp_path / "odd.npz", images=np.zeros((2, 28, 28), np.uint8))
    with refused(str(path), "the array images", "x and y"):
        load_digit_set(path)
    buffer = io.BytesIO()
    np.savez(buffer, x=np.zeros((2, 28, 28), np.uint8), y=np.array([3, 11]))
    with refused("the uploaded file", "y holds labels outside 0-9"):
        load_digit_set(buffer.getvalue())


def test_digit_set_too_large_is_refused():
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x=np.zeros((10_001, 28, 28), np.uint8), y=np.zeros(10_001, int))
    with refused("the uploaded file", "10,001 images", "10,000"):
        load_digit_set(buffer.getvalue())


@pytest.mark.parametrize(
    ("images", "labels", "phrase"),
    [
        (np.zeros((2, 28, 28)), [1, 2], "images holds float64 values"),
        (np.zeros((2, 784), np.uint8), [1, 2], "images has shape (2, 784)"),
        (np.zeros((2, 28, 28), np.uint8), [1], "2 images but labels has 1 label,"),
        (np.zeros((2, 28, 28), np.uint8), [1, 10], "outside 0-9"),
        (np.zeros((2, 28, 28), np.uint8), [1.0, 2.0], "whole numbers"),
    ],
)
def test_saving_a_malformed_digit_set(images, labels, phrase):
    with refused("Cannot save these digits", phrase):
        save_digit_set(images, labels)


@pytest.mark.parametrize("how", ["encrypted", "unknown-method"])
def test_a_digit_set_whose_zip_members_cannot_be_read_is_refused(how):
    buffer = io.BytesIO()
    np.savez(buffer, x=np.zeros((2, 28, 28), np.uint8), y=np.array([3, 4], np.uint8))
    with refused("is damaged"):
        load_digit_set(unreadable_members(buffer.getvalue(), how))
