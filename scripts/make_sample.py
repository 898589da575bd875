"""Build mnistkit/assets/mnist_sample.npz, the small MNIST sample shipped inside mnistkit.

Usage: python scripts/make_sample.py PATH_TO_MNIST_NPZ [--output PATH]

The sample holds 6,000 training and 1,000 test digits drawn from the full MNIST with a fixed
seed, each class in proportion to its share of the split, in their original order. It is
written with a fixed timestamp, so running the script again gives the same file.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout, without installing mnistkit

from mnistkit.data import SAMPLE_PATH, load_mnist  # noqa: E402

TRAIN_SIZE = 6_000
TEST_SIZE = 1_000
SEED = 0
MAX_BYTES = 1_500_000
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)  # the earliest a zip file can hold; any fixed date would do


def stratified_indices(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` indices into ``labels``, each class in proportion to its count, sorted."""
    classes, counts = np.unique(labels, return_counts=True)
    quotas = counts * size / len(labels)
    shares = np.floor(quotas).astype(int)
    # Largest remainders first, so the shares add up to exactly ``size``.
    shares[np.argsort(shares - quotas, kind="stable")[: size - shares.sum()]] += 1
    chosen = [
        rng.choice(np.flatnonzero(labels == digit), share, replace=False)
        for digit, share in zip(classes, shares, strict=True)
    ]
    return np.sort(np.concatenate(chosen))


def make_sample(mnist_path: Path, seed: int = SEED) -> dict[str, np.ndarray]:
    """The sample's four arrays, in Keras's layout."""
    mnist = load_mnist(mnist_path)
    rng = np.random.default_rng(seed)
    train = stratified_indices(mnist.y_train, TRAIN_SIZE, rng)
    test = stratified_indices(mnist.y_test, TEST_SIZE, rng)
    return {
        "x_train": mnist.x_train[train],
        "y_train": mnist.y_train[train],
        "x_test": mnist.x_test[test],
        "y_test": mnist.y_test[test],
    }


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """What np.savez_compressed writes, but with a fixed timestamp and all or nothing."""
    partial = path.with_name(f".{path.name}.part")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for key, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())
    os.replace(partial, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mnist", type=Path, help="the full MNIST in Keras's layout (mnist.npz)")
    parser.add_argument("--output", type=Path, default=SAMPLE_PATH, help="where to write it")
    arguments = parser.parse_args(argv)
    arrays = make_sample(arguments.mnist)
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    write_npz(arguments.output, arrays)
    size = arguments.output.stat().st_size
    counts = np.bincount(arrays["y_train"], minlength=10).tolist()
    print(f"Wrote {arguments.output} ({size:,} bytes); training digits per class: {counts}")
    if size >= MAX_BYTES:
        print(f"The sample is larger than {MAX_BYTES:,} bytes.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
