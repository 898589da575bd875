"""Benchmarks: what mnistkit costs and saves, measured in one run on real MNIST.

    python -m mnistkit.bench            # one to two minutes on two idle cores
    python -m mnistkit.bench --quick    # under half a minute: fewer images and epochs

1. The article's algorithm, written here in plain Python (lists and loops), against the
   ``article`` preset of the NumPy linear net: time, accuracy, and whether they agree.
2. The Keras default trained through ``mnistkit.training.train`` against a bare ``model.fit`` of
   the same network: the overhead of epoch-by-epoch training with progress reports.
3. The Keras CNN's default: its training time and test accuracy against the goal of 99.0% on
   the test set within 2 minutes of training, with the machine's load beside them.
4. Each default model's time to read one drawn digit, preprocessing included.

MNIST is read from the file in the environment variable ``MNIST_NPZ``, else from
``../shared/data/mnist.npz``; ``--data`` overrides both.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ARTICLE_IMAGES = 1000  # the article trains on the first 1,000 training images
ARTICLE_EPOCHS = 5
ARTICLE_LEARNING_RATE = 1e-7
CANVAS = 280  # pixels a side of the drawing canvas the latency digit is drawn on


@dataclass(frozen=True)
class Sizes:
    """How much work each part of the benchmark does."""

    article_epochs: int
    article_test_digits: int
    keras_train_size: int | None  # None: all 60,000 training images
    keras_epochs: int | None  # None: the default model's epochs
    cnn_train_size: int | None  # for the CNN section; None: all 60,000
    cnn_epochs: int | None  # None: the CNN's default epochs
    others_train_size: int | None  # for the latency models; their accuracy does not matter there
    latency_repeats: int


FULL = Sizes(ARTICLE_EPOCHS, 10_000, None, None, None, None, None, 200)
QUICK = Sizes(2, 1_000, 10_000, 2, 10_000, 1, 10_000, 50)
CNN_GOAL_ACCURACY = 0.990  # the CNN's default on the real test set...
CNN_GOAL_SECONDS = 120  # ...within 2 minutes of training on two cores


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sizes = QUICK if args.quick else FULL
    from mnistkit.data import load_mnist

    dataset = load_mnist(_data_path(args.data))
    print(f"data: {dataset.source}")
    print(f"machine: {os.cpu_count()} CPU cores, Python {sys.version.split()[0]}")
    print("mode: " + ("quick (smaller runs; figures are rougher)" if args.quick else "full"))
    print()
    article_section(dataset, sizes)
    ready = {}
    if not args.skip_keras:
        ready["keras-mlp"] = keras_section(dataset, sizes)
        ready["keras-cnn"] = cnn_section(dataset, sizes)
    latency_section(dataset, sizes, ready, skip_keras=args.skip_keras)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mnistkit.bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="smaller runs, under half a minute")
    parser.add_argument("--data", metavar="FILE", help="mnist.npz (default: $MNIST_NPZ)")
    parser.add_argument("--skip-keras", action="store_true", help="leave out the Keras models")
    return parser


def _data_path(given: str | None) -> Path:
    if given:
        return Path(given)
    if os.environ.get("MNIST_NPZ"):
        return Path(os.environ["MNIST_NPZ"])
    repository = Path(__file__).resolve().parent.parent
    for candidate in (Path("../shared/data/mnist.npz"), repository / "../shared/data/mnist.npz"):
        if candidate.is_file():
            return candidate
    raise SystemExit("bench: MNIST not found; set MNIST_NPZ or pass --data PATH/mnist.npz")


# --- 1. the article's algorithm ----------------------------------------------------------------


def plain_python_train(images: list[list[int]], labels: list[int], epochs: int) -> list[list]:
    """The article's network with nothing but lists: returns ten rows of 784 weights."""
    weights = [[digit / 10_000 for _ in range(784)] for digit in range(10)]
    for _ in range(epochs):
        for pixels, label in zip(images, labels, strict=True):
            scores = plain_python_scores(weights, pixels)
            for digit, row in enumerate(weights):
                delta = scores[digit] - (1 if digit == label else 0)
                row[:] = [
                    weight - ARTICLE_LEARNING_RATE * (delta * pixel)
                    for weight, pixel in zip(row, pixels, strict=True)
                ]
    return weights


def plain_python_scores(weights: list[list[float]], pixels: list[int]) -> list[float]:
    """Each digit's weighted sum of the pixels."""
    return [
        sum(weight * pixel for weight, pixel in zip(row, pixels, strict=True)) for row in weights
    ]


def plain_python_predict(weights: list[list[float]], images: list[list[int]]) -> list[int]:
    predictions = []
    for pixels in images:
        scores = plain_python_scores(weights, pixels)
        predictions.append(scores.index(max(scores)))
    return predictions


def article_section(dataset: Any, sizes: Sizes) -> None:
    from mnistkit.training import RunConfig, train

    n_test = sizes.article_test_digits
    train_images = dataset.x_train[:ARTICLE_IMAGES].reshape(ARTICLE_IMAGES, 784)
    train_labels = dataset.y_train[:ARTICLE_IMAGES]
    test_images, test_labels = dataset.x_test[:n_test], dataset.y_test[:n_test]

    pixels, labels = train_images.tolist(), train_labels.tolist()
    python_train, weights = _timed(lambda: plain_python_train(pixels, labels, sizes.article_epochs))
    test_pixels = test_images.reshape(n_test, 784).tolist()
    python_predict, python_answers = _timed(lambda: plain_python_predict(weights, test_pixels))

    config = RunConfig.from_preset("scratch-linear", "article")
    config = RunConfig(**{**config.to_dict(), "epochs": sizes.article_epochs})
    numpy_train, trained = _timed(lambda: train(config, _Subset(dataset, n_test)))
    numpy_predict, numpy_answers = _timed(lambda: trained.model.predict(test_images))

    python_answers = np.asarray(python_answers)
    agree = int(np.sum(python_answers == numpy_answers))
    learned = trained.model.to_network().layers[0].weights.T  # (10, 784): a row per digit
    weight_gap = float(np.max(np.abs(np.asarray(weights) - learned)))
    print(
        f"1. The article's algorithm: first {ARTICLE_IMAGES:,} training images, "
        f"{sizes.article_epochs} epochs, {n_test:,} test digits"
    )
    _table(
        ["", "plain Python", "mnistkit (NumPy)", "speed-up"],
        [
            ["training", _s(python_train), _s(numpy_train), _ratio(python_train, numpy_train)],
            [
                f"predicting {n_test:,} digits",
                _s(python_predict),
                _s(numpy_predict),
                _ratio(python_predict, numpy_predict),
            ],
            [
                "test accuracy",
                f"{np.mean(python_answers == test_labels):.4f}",
                f"{np.mean(numpy_answers == test_labels):.4f}",
                "",
            ],
        ],
    )
    print(
        f"  predictions agree on {agree:,} of {n_test:,} test digits; "
        f"largest weight difference {weight_gap:.1e}"
    )
    print(
        f"  (mnistkit's training time is the whole train() call: {sizes.article_epochs} epochs, "
        "a training-accuracy check"
    )
    print(f"   after each, and the accuracy on the {n_test:,} test digits at the end)")
    print()


class _Subset:
    """A data set whose test split is cut to its first ``n_test`` digits."""

    def __init__(self, dataset: Any, n_test: int):
        self.x_train, self.y_train = dataset.x_train, dataset.y_train
        self.x_test, self.y_test = dataset.x_test[:n_test], dataset.y_test[:n_test]
        self.source = dataset.source


# --- 2. Keras: train() against a bare model.fit ------------------------------------------------


def keras_section(dataset: Any, sizes: Sizes) -> Any:
    from mnistkit.training import RunConfig, train

    config = RunConfig(
        model="keras-mlp", train_size=sizes.keras_train_size, epochs=sizes.keras_epochs
    )
    # A small run of each first: Keras and JAX start up and import lazily on first use, a cost
    # that would otherwise fall on whichever of the two runs came first.
    warm_up = dataclasses.replace(config, train_size=1000, epochs=1)
    train(warm_up, dataset)
    bare_keras_fit(warm_up, dataset)
    # train() goes first, so that anything a first run pays for counts against mnistkit.
    mnistkit_seconds, trained = _timed(lambda: train(config, dataset))
    bare_seconds, bare_accuracy = _timed(lambda: bare_keras_fit(config, dataset))
    overhead = mnistkit_seconds / bare_seconds - 1
    n_train = len(dataset.y_train) if config.train_size is None else config.train_size
    print(
        f"2. The Keras default ({trained.model.describe()}, dropout "
        f"{config.hyperparameters['dropout']:g}): {n_train:,} training images, {config.epochs} "
        "epochs,\n   through train() and through a bare model.fit of the same network"
    )
    _table(
        ["", "bare model.fit", "mnistkit train()", "overhead"],
        [
            [
                "training + test accuracy",
                _s(bare_seconds),
                _s(mnistkit_seconds),
                f"{overhead:+.1%}",
            ],
            ["test accuracy", f"{bare_accuracy:.4f}", f"{trained.test_accuracy:.4f}", ""],
        ],
    )
    verdict = "met" if overhead < 0.10 else "NOT met"
    print(f"  target: overhead under 10% -> {verdict} (each timed after a small warm-up run)")
    print("  train() checks training and validation accuracy after every epoch; the bare fit")
    print("  computes the validation loss after every epoch")
    print()
    return trained


# --- 3. the Keras CNN: training time and accuracy ---------------------------------------------


def cnn_section(dataset: Any, sizes: Sizes) -> Any:
    """Train the CNN's default once and print its time and test accuracy against the goal."""
    from mnistkit.training import RunConfig, train

    config = RunConfig(model="keras-cnn", train_size=sizes.cnn_train_size, epochs=sizes.cnn_epochs)
    # Keras and JAX start up on first use (done already if section 2 ran): not training time.
    train(dataclasses.replace(config, train_size=500, epochs=1), dataset)
    load_before = os.getloadavg()[0]
    cpu_before = time.process_time()
    trained = train(config, dataset)
    cpu_seconds = time.process_time() - cpu_before
    load_after = os.getloadavg()[0]
    training_seconds = trained.history[-1]["seconds"]
    n_train = len(dataset.y_train) if config.train_size is None else config.train_size
    n_fit = n_train - int(n_train * config.validation_share)
    print(
        f"3. The Keras CNN default ({trained.model.describe()}, dense "
        f"{config.hyperparameters['dense_units']}, {trained.model.count_parameters():,} "
        f"parameters): {n_fit:,} training images, {config.epochs} epochs"
    )
    _table(
        ["", "value"],
        [
            ["training (wall clock, per-epoch checks included)", _s(training_seconds)],
            ["of which CPU time, both cores together", _s(cpu_seconds)],
            ["test accuracy (10,000 real test digits)", f"{trained.test_accuracy:.4f}"],
            ["load average (1 min) before / after", f"{load_before:.1f} / {load_after:.1f}"],
        ],
    )
    per_epoch = ", ".join(
        f"{row['validation_accuracy']:.4f}" for row in trained.history if row["validation_accuracy"]
    )
    print(f"  validation accuracy after each epoch: {per_epoch}")
    met = trained.test_accuracy >= CNN_GOAL_ACCURACY and training_seconds <= CNN_GOAL_SECONDS
    print(
        f"  goal: >= {CNN_GOAL_ACCURACY:.1%} within {CNN_GOAL_SECONDS} s -> "
        f"{'met' if met else 'NOT met'}"
        + (" (quick mode: fewer images and epochs, not the goal's run)" if sizes.cnn_epochs else "")
    )
    print(f"  wall time counts only when the load average stays near {os.cpu_count()} or below")
    print()
    return trained


def bare_keras_fit(config: Any, dataset: Any) -> float:
    """The Keras default network built and fitted directly; returns its test accuracy."""
    import keras

    settings = config.hyperparameters
    size = len(dataset.y_train) if config.train_size is None else config.train_size
    images = dataset.x_train[:size].reshape(size, 784)
    labels = dataset.y_train[:size]
    n_fit = size - int(size * config.validation_share)
    keras.utils.set_random_seed(config.seed)
    layers = [keras.Input(shape=(784,)), keras.layers.Rescaling(1 / 255)]
    for width in settings["hidden_layers"]:
        layers.append(keras.layers.Dense(width, activation=settings["activation"]))
        if settings["dropout"] > 0:
            layers.append(keras.layers.Dropout(settings["dropout"]))
    layers.append(keras.layers.Dense(10, activation="softmax"))
    model = keras.Sequential(layers)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=settings["learning_rate"]),
        loss="sparse_categorical_crossentropy",
    )
    model.fit(
        images[:n_fit],
        labels[:n_fit],
        batch_size=settings["batch_size"],
        epochs=config.epochs,
        validation_data=(images[n_fit:], labels[n_fit:]) if n_fit < size else None,
        verbose=0,
    )
    test = dataset.x_test.reshape(len(dataset.x_test), 784)
    answers = np.argmax(model.predict(test, batch_size=1024, verbose=0), axis=1)
    return float(np.mean(answers == dataset.y_test))


# --- 4. latency of one drawn digit -------------------------------------------------------------


def latency_section(
    dataset: Any, sizes: Sizes, ready: dict[str, Any], *, skip_keras: bool = False
) -> None:
    from mnistkit.evaluation import evaluate_dataset, single_digit_latency_ms
    from mnistkit.models import REGISTRY
    from mnistkit.preprocess import read_image, to_mnist
    from mnistkit.training import RunConfig, train

    drawing = drawn_digit_png(dataset.x_test[0])
    repeats = sizes.latency_repeats
    preprocessing = _median_ms(lambda: to_mnist(read_image(drawing)), repeats)
    rows = []
    for family in REGISTRY:
        if family.startswith("keras-") and skip_keras:
            continue
        if family in ready:
            trained = ready[family]
        else:
            config = RunConfig(model=family, train_size=sizes.others_train_size)
            trained = train(config, dataset)
        latency = single_digit_latency_ms(trained.model, drawing, repeats=repeats)
        batch = evaluate_dataset(trained, dataset).latency_ms
        answer = int(trained.model.predict(to_mnist(read_image(drawing))[np.newaxis])[0])
        rows.append(
            [
                trained.model.describe(),
                f"{latency:.2f} ms",
                f"{batch * 1000:.1f} µs",
                f"{trained.test_accuracy:.4f}",
                f"{answer} ({int(dataset.y_test[0])})",
                "met" if latency < 10 else "NOT met",
            ]
        )
    print(
        f"4. Reading one drawn digit ({CANVAS}x{CANVAS} RGBA PNG, median of {repeats}), "
        "preprocessing included"
    )
    _table(
        ["model", "one digit", "per digit in a batch", "test accuracy", "answer (true)", "< 10 ms"],
        rows,
    )
    print(f"  of which decoding and preprocessing the drawing: {preprocessing:.2f} ms")
    if sizes.others_train_size is not None:
        print(f"  (quick mode: models trained on {sizes.others_train_size:,} images only)")
    print()


def drawn_digit_png(digit: np.ndarray) -> bytes:
    """A test digit drawn small and off-centre in black on a transparent canvas, as PNG bytes."""
    from PIL import Image

    enlarged = Image.fromarray(np.asarray(digit, dtype=np.uint8)).resize((112, 112))
    ink = np.zeros((CANVAS, CANVAS), dtype=np.uint8)
    ink[140:252, 30:142] = np.asarray(enlarged)
    black = np.zeros_like(ink)
    buffer = io.BytesIO()
    Image.fromarray(np.dstack([black, black, black, ink]), mode="RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


# --- helpers -----------------------------------------------------------------------------------


def _timed(work: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def _median_ms(work: Callable[[], Any], repeats: int) -> float:
    work()
    timings = [_timed(work)[0] for _ in range(repeats)]
    return 1000 * float(np.median(timings))


def _s(seconds: float) -> str:
    return f"{seconds:.2f} s"


def _ratio(slow: float, fast: float) -> str:
    return f"{slow / fast:,.0f}x"


def _table(header: list[str], rows: list[list[str]]) -> None:
    """Columns aligned: the first to the left, the others to the right."""
    table = [header, *rows]
    widths = [max(len(row[column]) for row in table) for column in range(len(header))]
    for index, row in enumerate(table):
        cells = [
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        print("  " + "   ".join(cells).rstrip())
        if index == 0:
            print("  " + "   ".join("-" * width for width in widths))


if __name__ == "__main__":
    sys.exit(main())
