"""Where the digits come from, and the shape they arrive in.

``load_mnist`` reads MNIST from Keras's download (cached in ``~/.keras/datasets``), from a file or
a folder on disk, or from the small sample shipped inside mnistkit, and always hands back the same
thing: a ``Dataset`` of read-only uint8 arrays, 28x28 images with ink up to 255 on a background
of 0. Every file is checked before it is trusted; a malformed one raises ``DataError`` with one
sentence naming the file and the problem.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import math
import os
import secrets
import socket
import threading
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from mnistkit.archives import ArchiveError, npy_header, npz_keys, read_npy

KERAS_MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
KERAS_MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
SAMPLE_PATH = Path(__file__).resolve().parent / "assets" / "mnist_sample.npz"
SPLITS = ("x_train", "y_train", "x_test", "y_test")
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, three dimensions
IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, one dimension
IMAGE_SHAPE = (28, 28)
MAX_DIGITS = 250_000  # per array; MNIST has 60,000, and a file claiming far more is refused unread
MAX_DIGIT_SET = 10_000  # a learner's own handwriting set is small
NETWORK_TIMEOUT_SECONDS = 5.0  # to reach the download server, name lookup included
DOWNLOAD_TIMEOUT_SECONDS = 60.0  # for each network read once the download has started


class DataError(ValueError):
    """A data source that is missing, unreadable or not in MNIST's layout."""


class OfflineError(DataError):
    """The download server could not be reached."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """MNIST's four arrays, read-only, and a sentence saying where they came from."""

    x_train: np.ndarray  # (n, 28, 28) uint8, ink up to 255 on background 0
    y_train: np.ndarray  # (n,) uint8, the digits 0-9
    x_test: np.ndarray
    y_test: np.ndarray
    source: str  # what was loaded, from where, how many digits, and why, after a fallback
    summary: str = ""  # after a fallback: the same said for a teacher, without technical detail

    @property
    def headline(self) -> str:
        """What a page shows: the plain summary after a fallback, else the source itself."""
        return self.summary or self.source

    @property
    def n_train(self) -> int:
        return len(self.y_train)

    @property
    def n_test(self) -> int:
        return len(self.y_test)


def load_mnist(source: str | os.PathLike = "auto") -> Dataset:
    """MNIST from "auto", "download", "sample", a Keras-layout .npz or a folder of IDX files."""
    loaders = {"auto": _load_auto, "download": _load_download, "sample": _load_sample}
    if isinstance(source, str) and source in loaders:
        return loaders[source]()
    return _load_path(Path(source))


def load_digit_set(source: bytes | str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a small set of digits (a .npz with arrays x and y, or x_train and y_train)."""
    name = "the uploaded file" if isinstance(source, bytes | bytearray) else str(source)
    with _open_npz(source, name) as archive:
        keys = npz_keys(archive)
        if {"x", "y"} <= keys:
            pairs = [("x", "y")]
        elif {"x_train", "y_train"} <= keys:
            pairs = [("x_train", "y_train")]
            if {"x_test", "y_test"} <= keys:
                pairs.append(("x_test", "y_test"))
        else:
            raise DataError(
                f"Cannot load {name}: it holds {_listed(keys)}, but a digit set needs the arrays "
                "x and y (or x_train and y_train)."
            )
        parts = [_read_pair(archive, name, pair, MAX_DIGIT_SET) for pair in pairs]
    images = np.concatenate([images for images, _ in parts])
    labels = np.concatenate([labels for _, labels in parts])
    if len(images) > MAX_DIGIT_SET:
        raise DataError(
            f"Cannot load {name}: it holds {len(images):,} digits, more than the "
            f"{MAX_DIGIT_SET:,} a digit set may have."
        )
    return _read_only(images), _read_only(labels)


def save_digit_set(images, labels) -> bytes:
    """The .npz bytes (arrays x and y) of a set of digits in MNIST's convention."""
    images, labels = _checked_digits(
        np.asarray(images),
        np.asarray(labels),
        "Cannot save these digits",
        ("images", "labels"),
        MAX_DIGIT_SET,
    )
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x=images, y=labels)
    return buffer.getvalue()


def read_idx(path: str | os.PathLike, magic: int | None = None) -> np.ndarray:
    """One file in MNIST's original IDX format, gzipped or not, as a read-only uint8 array."""
    path = Path(path)
    raw = _read_idx_bytes(path)
    if len(raw) < 4:
        raise DataError(f"Cannot load {path}: it is too short to be an IDX file.")
    found = int.from_bytes(raw[:4], "big")
    expected = (magic,) if magic else (IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC)
    if found not in expected:
        wanted = " or ".join(str(number) for number in expected)
        raise DataError(
            f"Cannot load {path}: its magic number is {found}, not {wanted}, "
            "so it is not the MNIST IDX file expected here."
        )
    n_dims = raw[3]
    header_size = 4 + 4 * n_dims
    if len(raw) < header_size:
        raise DataError(f"Cannot load {path}: it is truncated inside its header.")
    shape = tuple(int(size) for size in np.frombuffer(raw, ">u4", count=n_dims, offset=4))
    expected_size = math.prod(shape)
    body_size = len(raw) - header_size
    if body_size < expected_size:
        raise DataError(
            f"Cannot load {path}: it is truncated, with {body_size:,} of the "
            f"{expected_size:,} bytes its header announces."
        )
    if body_size > expected_size:
        raise DataError(
            f"Cannot load {path}: it holds {body_size - expected_size:,} bytes more than "
            "its header announces."
        )
    array = np.frombuffer(raw, np.uint8, count=expected_size, offset=header_size)
    return array.reshape(shape)


# Sources -------------------------------------------------------------------------------------


def _load_auto() -> Dataset:
    """MNISTKIT_DATA if set, else Keras's cached or fresh download, else the bundled sample."""
    chosen = os.environ.get("MNISTKIT_DATA", "").strip()
    if chosen and chosen != "auto":
        try:
            dataset = load_mnist(chosen)
        except DataError as error:
            message = str(error).rstrip(".")
            raise DataError(f"{message} (MNISTKIT_DATA is set to {chosen!r}).") from error
        return replace(dataset, source=f"{dataset.source} (chosen by MNISTKIT_DATA)")
    try:
        return _load_download()
    except DataError as error:
        reason = str(error).rstrip(".")
        offline = isinstance(error, OfflineError)
    sample = _load_sample()
    total = sample.n_train + sample.n_test
    why = (
        "this computer could not reach the internet to download all 70,000"
        if offline
        else "the full MNIST could not be downloaded"
    )
    return replace(
        sample,
        summary=(
            f"A smaller set of digits: the bundled sample of MNIST ({sample.n_train:,} training "
            f"and {sample.n_test:,} test digits), because {why}. Every page works; scores are "
            "measured on fewer test digits."
        ),
        source=(
            f"{'offline: ' if offline else ''}using the bundled {total:,}-digit sample of MNIST "
            f"({sample.n_train:,} training and {sample.n_test:,} test digits), because {reason}"
        ),
    )


def _load_download() -> Dataset:
    """Keras's mnist.npz: from its cache when that copy is intact, else downloaded now."""
    cache_file = _keras_cache_file()
    if cache_file.is_file():
        if _sha256(cache_file) == KERAS_MNIST_SHA256:
            return _dataset_from_npz(
                cache_file, f"the official MNIST, cached by Keras in {cache_file}"
            )
        damaged = f"Keras's cached copy {cache_file} does not match its published checksum"
    else:
        damaged = ""
    try:
        _download(cache_file)
    except DataError as error:
        if not damaged:
            raise
        raise type(error)(f"{damaged}, and {error}") from error
    return _dataset_from_npz(cache_file, f"the official MNIST, downloaded by Keras to {cache_file}")


def _load_sample() -> Dataset:
    """The small stratified sample of MNIST shipped inside the package."""
    if not SAMPLE_PATH.is_file():
        raise DataError(
            f"Cannot load the bundled sample: {SAMPLE_PATH} is missing; rebuild it with "
            "scripts/make_sample.py PATH_TO_MNIST_NPZ."
        )
    return _dataset_from_npz(SAMPLE_PATH, "the bundled sample of MNIST")


def _load_path(path: Path) -> Dataset:
    """A Keras-layout .npz file, or a folder holding MNIST's four IDX files."""
    if path.is_dir():
        return _dataset_from_idx_folder(path)
    return _dataset_from_npz(path, f"MNIST from {path}")


def _dataset_from_npz(path: Path, what: str) -> Dataset:
    """The four arrays of a Keras-layout .npz file, checked."""
    name = str(path)
    with _open_npz(path, name) as archive:
        keys = npz_keys(archive)
        if not set(SPLITS) <= keys:
            raise DataError(
                f"Cannot load {name}: it holds {_listed(keys)}, but MNIST needs the arrays "
                "x_train, y_train, x_test and y_test."
            )
        train = _read_pair(archive, name, ("x_train", "y_train"), MAX_DIGITS)
        test = _read_pair(archive, name, ("x_test", "y_test"), MAX_DIGITS)
    return _dataset(train, test, what)


def _dataset_from_idx_folder(folder: Path) -> Dataset:
    """The four IDX files of a folder (gzipped or not), checked."""
    arrays = {}
    for key, file_name in IDX_FILES.items():
        candidates = [folder / file_name, folder / f"{file_name}.gz"]
        path = next((candidate for candidate in candidates if candidate.is_file()), None)
        if path is None:
            raise DataError(
                f"Cannot load {folder}: the folder has no {file_name} (or {file_name}.gz) file, "
                "and MNIST needs all four IDX files."
            )
        magic = IDX_IMAGES_MAGIC if key.startswith("x") else IDX_LABELS_MAGIC
        arrays[key] = read_idx(path, magic)
    train, test = (
        _checked_digits(
            arrays[images_key],
            arrays[labels_key],
            f"Cannot load {folder}",
            (IDX_FILES[images_key], IDX_FILES[labels_key]),
        )
        for images_key, labels_key in (("x_train", "y_train"), ("x_test", "y_test"))
    )
    return _dataset(train, test, f"MNIST from the IDX files in {folder}")


def _dataset(train: tuple, test: tuple, what: str) -> Dataset:
    """A read-only Dataset whose source names what it holds and how many digits."""
    (x_train, y_train), (x_test, y_test) = train, test
    return Dataset(
        x_train=_read_only(x_train),
        y_train=_read_only(y_train),
        x_test=_read_only(x_test),
        y_test=_read_only(y_test),
        source=f"{what}: {len(y_train):,} training and {len(y_test):,} test digits",
    )


# Downloading ---------------------------------------------------------------------------------


def _keras_cache_file() -> Path:
    """Where Keras keeps its mnist.npz: $KERAS_HOME/datasets, else ~/.keras/datasets."""
    home = os.environ.get("KERAS_HOME") or Path.home() / ".keras"
    return Path(home).expanduser() / "datasets" / "mnist.npz"


def _download(cache_file: Path) -> None:
    """Fetch Keras's mnist.npz into ``cache_file``, checked, all or nothing."""
    _check_reachable(KERAS_MNIST_URL)
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(
            f"MNIST could not be downloaded: the cache folder {cache_file.parent} cannot be "
            f"created ({error.strerror})."
        ) from error
    # The download goes to a uniquely named file that takes the cache's name only once it is
    # complete and checked, so no reader ever finds a half-written mnist.npz.
    partial = cache_file.with_name(f".{cache_file.name}.{secrets.token_hex(6)}.part")
    fetched = partial
    try:
        fetched = _keras_get_file(partial)
        if _sha256(fetched) != KERAS_MNIST_SHA256:
            raise DataError(
                f"MNIST as downloaded from {KERAS_MNIST_URL} does not match Keras's "
                "published checksum."
            )
        os.replace(fetched, cache_file)
    except DataError:
        raise
    except Exception as error:  # Keras reports network failures as a bare Exception
        raise DataError(
            f"MNIST could not be downloaded from {KERAS_MNIST_URL} ({_clause(error)})."
        ) from error
    finally:
        partial.unlink(missing_ok=True)
        fetched.unlink(missing_ok=True)


def _keras_get_file(target: Path) -> Path:
    """Download Keras's mnist.npz to ``target`` with Keras's own downloader (checked by us)."""
    from keras.utils import get_file  # Keras is imported only when a download is needed

    with _socket_timeout(DOWNLOAD_TIMEOUT_SECONDS):
        path = get_file(
            fname=target.name,
            origin=KERAS_MNIST_URL,
            cache_dir=str(target.parent),
            cache_subdir="",
        )
    return Path(path)


def _check_reachable(url: str) -> None:
    """Fail within seconds, rather than hang, when the server of ``url`` cannot be reached."""
    if urllib.request.getproxies().get("https"):
        return  # a proxy may reach what this machine cannot reach directly
    host = urllib.parse.urlsplit(url).hostname
    outcome: list[OSError | None] = []

    def connect() -> None:
        try:
            socket.create_connection((host, 443), timeout=NETWORK_TIMEOUT_SECONDS).close()
            outcome.append(None)
        except OSError as error:
            outcome.append(error)

    # The name lookup ignores socket timeouts, so the attempt runs in a thread we stop waiting for.
    thread = threading.Thread(target=connect, name="mnistkit-network-check", daemon=True)
    thread.start()
    thread.join(NETWORK_TIMEOUT_SECONDS)
    if not outcome:
        raise OfflineError(f"MNIST could not be downloaded: {host} did not answer within seconds.")
    if outcome[0] is not None:
        raise OfflineError(
            f"MNIST could not be downloaded: {host} cannot be reached ({_clause(outcome[0])})."
        )


@contextlib.contextmanager
def _socket_timeout(seconds: float):
    """Give up on network reads that stall for ``seconds`` (urllib waits forever by default)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _sha256(path: Path) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


# Reading and checking ------------------------------------------------------------------------


def _open_npz(source: bytes | str | os.PathLike, name: str) -> zipfile.ZipFile:
    """The zip archive a .npz file is, or a DataError saying why it is not one."""
    try:
        if isinstance(source, bytes | bytearray):
            return zipfile.ZipFile(io.BytesIO(source))
        return zipfile.ZipFile(source)
    except FileNotFoundError as error:
        raise DataError(f"Cannot load {name}: the file does not exist.") from error
    except zipfile.BadZipFile as error:
        raise DataError(
            f"Cannot load {name}: it is not a .npz file (not a zip archive)."
        ) from error
    except OSError as error:
        raise DataError(f"Cannot load {name}: it cannot be read ({error.strerror}).") from error


def _read_pair(
    archive: zipfile.ZipFile, name: str, keys: tuple[str, str], max_digits: int
) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels from a .npz, their layout checked before their data is read."""
    images_key, labels_key = keys
    context = f"Cannot load {name}"
    try:
        _check_images_layout(context, images_key, *npy_header(archive, images_key), max_digits)
        _check_labels_layout(context, labels_key, *npy_header(archive, labels_key), max_digits)
        images = read_npy(archive, images_key)
        labels = read_npy(archive, labels_key)
    except ArchiveError as error:
        raise DataError(f"{context}: {error}.") from error
    return _checked_digits(images, labels, context, keys, max_digits)


def _read_idx_bytes(path: Path) -> bytes:
    """The bytes of an IDX file, decompressed when gzipped, refused when impossibly large."""
    limit = 16 + MAX_DIGITS * IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
    try:
        with open(path, "rb") as file:
            gzipped = file.read(2) == b"\x1f\x8b"
        with gzip.open(path, "rb") if gzipped else open(path, "rb") as file:
            raw = file.read(limit + 1)
    except FileNotFoundError as error:
        raise DataError(f"Cannot load {path}: the file does not exist.") from error
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise DataError(f"Cannot load {path}: it is a damaged or truncated gzip file.") from error
    except OSError as error:
        raise DataError(f"Cannot load {path}: it cannot be read ({error.strerror}).") from error
    if len(raw) > limit:
        raise DataError(f"Cannot load {path}: it is larger than any MNIST IDX file can be.")
    return raw


def _checked_digits(
    images: np.ndarray,
    labels: np.ndarray,
    context: str,
    keys: tuple[str, str],
    max_digits: int = MAX_DIGITS,
) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 28, 28) uint8 and labels (n,) 0-9 of equal length, or a DataError saying why."""
    images_key, labels_key = keys
    _check_images_layout(context, images_key, images.shape, images.dtype, max_digits)
    _check_labels_layout(context, labels_key, labels.shape, labels.dtype, max_digits)
    if len(images) != len(labels):
        raise DataError(
            f"{context}: {images_key} has {_count(len(images), 'image')} but {labels_key} has "
            f"{_count(len(labels), 'label')}, and each image needs exactly one label."
        )
    if len(labels) == 0:
        raise DataError(f"{context}: {images_key} and {labels_key} hold no digits at all.")
    outside = labels[(labels < 0) | (labels > 9)]
    if outside.size:
        raise DataError(
            f"{context}: {labels_key} holds labels outside 0-9 (for example {outside[0]})."
        )
    return images, labels.astype(np.uint8, copy=False)


def _check_images_layout(
    context: str, key: str, shape: tuple, dtype: np.dtype, max_digits: int
) -> None:
    if len(shape) != 3 or tuple(shape[1:]) != IMAGE_SHAPE:
        raise DataError(
            f"{context}: {key} has shape {_shape_text(shape)} but should have shape (n, 28, 28), "
            "one 28x28 image per digit."
        )
    if dtype != np.uint8:
        raise DataError(
            f"{context}: {key} holds {dtype} values but should hold uint8 pixels (0-255)."
        )
    if shape[0] > max_digits:
        raise DataError(
            f"{context}: {key} holds {shape[0]:,} images, more than the {max_digits:,} allowed."
        )


def _check_labels_layout(
    context: str, key: str, shape: tuple, dtype: np.dtype, max_digits: int
) -> None:
    if len(shape) != 1:
        raise DataError(
            f"{context}: {key} has shape {_shape_text(shape)} but should have shape (n,), "
            "one label per digit."
        )
    if dtype.kind not in "ui":
        raise DataError(
            f"{context}: {key} holds {dtype} values but should hold whole numbers from 0 to 9."
        )
    if shape[0] > max_digits:
        raise DataError(
            f"{context}: {key} holds {shape[0]:,} labels, more than the {max_digits:,} allowed."
        )


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def _shape_text(shape: tuple) -> str:
    return f"({shape[0]},)" if len(shape) == 1 else f"({', '.join(str(size) for size in shape)})"


def _clause(error: BaseException) -> str:
    """An error's message squeezed into one clause, to quote inside a sentence."""
    lines = str(error).strip().splitlines() or [type(error).__name__]
    return lines[0].rstrip(".").replace(". ", "; ")


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _listed(keys: set[str]) -> str:
    if not keys:
        return "no arrays"
    names = sorted(keys)
    return "the array " + names[0] if len(names) == 1 else "the arrays " + ", ".join(names)
