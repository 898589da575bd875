"""Experiments that compare runs: the article step by step, learning curves, disagreements.

Each experiment is a generator that trains one run at a time and yields its result as soon as it
is done, so a screen can keep every finished result even when the experiment is stopped halfway.
Nothing here knows about a screen.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mnistkit.models import build_model
from mnistkit.training import RunConfig, TrainedModel, train

LEARNING_CURVE_SIZES = (500, 1_000, 5_000, 20_000, 60_000)  # training images per run
ARTICLE_IMAGES = 1_000  # the first article trained on the first 1,000 training images


@dataclass(frozen=True)
class Step:
    """One row of the article walkthrough: what changes, why, and the run that shows it."""

    title: str
    why: str
    config: Callable[[int], RunConfig]  # from the number of training images available


@dataclass(frozen=True)
class Result:
    """A finished run of an experiment."""

    label: str  # the step's title, or the training-set size
    train_size: int  # training images used, the validation share included
    trained: TrainedModel

    @property
    def test_accuracy(self) -> float:
        return float(self.trained.test_accuracy or 0.0)

    @property
    def seconds(self) -> float:
        return self.trained.seconds


def _article(**changes: Any) -> Callable[[int], RunConfig]:
    """The article's run with some settings changed (train_size=None: every image)."""

    def config(available: int) -> RunConfig:
        article = RunConfig.from_preset("scratch-linear", "article")
        settings = {k: v for k, v in changes.items() if k in {"train_size", "epochs"}}
        hyperparameters = {k: v for k, v in changes.items() if k not in settings}
        size = settings.get("train_size", article.train_size)
        return dataclasses.replace(
            article,
            hyperparameters={**article.hyperparameters, **hyperparameters},
            train_size=None if size is None else min(size, available),
        )

    return config


def _defaults(model: str) -> Callable[[int], RunConfig]:
    """A model's default run on every training image."""
    return lambda available: RunConfig(model=model)


SCALED = {"input_scaling": "unit", "learning_rate": 1e-3}
CROSS_ENTROPY = {**SCALED, "loss": "cross_entropy", "learning_rate": 1e-2}
MINI_BATCHES = {**CROSS_ENTROPY, "batch_size": 100, "shuffle": True, "learning_rate": 0.5}

WALKTHROUGH: tuple[Step, ...] = (
    Step(
        "1. The article's run",
        "Ten weighted sums of raw 0-255 pixels, squared error, one image per update, learning "
        "rate 1e-7, the first 1,000 training images, 5 epochs: the first article exactly.",
        _article(),
    ),
    Step(
        "2. Scaled inputs",
        "Pixels divided by 255, so they run from 0 to 1. The same step size would now barely "
        "move the weights, so the learning rate grows to 1e-3; big raw numbers no longer dwarf "
        "the weights' scale.",
        _article(**SCALED),
    ),
    Step(
        "3. Cross-entropy",
        "Softmax turns the ten scores into probabilities and the loss pushes up the right "
        "digit's probability, instead of dragging every score towards 0 or 1 (learning rate "
        "1e-2).",
        _article(**CROSS_ENTROPY),
    ),
    Step(
        "4. Mini-batches",
        "Each update averages 100 shuffled images instead of following every single one: far "
        "fewer, smoother updates, so one pass costs much less (learning rate 0.5).",
        _article(**MINI_BATCHES),
    ),
    Step(
        "5. All the training images",
        "The same linear net on every training image instead of the first 1,000: more "
        "handwriting to learn from, which the article's pure-Python loops could not afford.",
        _article(**MINI_BATCHES, train_size=None),
    ),
    Step(
        "6. A hidden layer (scikit-learn)",
        "scikit-learn's MLP: 256 hidden units between the pixels and the ten outputs, so the "
        "model can combine strokes before it decides (its default settings).",
        _defaults("sklearn-mlp"),
    ),
    Step(
        "7. Two hidden layers (Keras)",
        "A Keras MLP with 256 and 128 hidden units and dropout, like the Keras articles' "
        "networks (its default settings).",
        _defaults("keras-mlp"),
    ),
    Step(
        "8. Convolutions (Keras)",
        "A Keras CNN: small filters slide over the image and answer the same question at every "
        "position (is there a stroke here, a curve there?), so a 7 is a 7 wherever its corner "
        "falls; two such blocks, then a dense layer (its default settings).",
        _defaults("keras-cnn"),
    ),
)


def walkthrough(
    dataset,
    steps: Sequence[Step] = WALKTHROUGH,
    skip: int = 0,
    on_start: Callable[[int, Step, RunConfig], None] | None = None,
    on_epoch: Callable[[int, dict], Any] | None = None,
) -> Iterator[Result]:
    """Train each step after the first ``skip`` in turn and yield its result when it is done."""
    available = len(dataset.y_train)
    for index, step in enumerate(steps):
        if index < skip:
            continue
        config = step.config(available)
        if on_start is not None:
            on_start(index, step, config)
        trained = train(config, dataset, on_epoch=on_epoch)
        yield Result(step.title, config.train_size or available, trained)


def article_first_image(dataset) -> np.ndarray:
    """The article's first check: its net, trained 5 epochs on the first image alone, scores it.

    Returns the ten weighted sums it gives that image afterwards (the article prints them).
    """
    article = RunConfig.from_preset("scratch-linear", "article")
    model = build_model("scratch-linear", **article.hyperparameters, epochs=article.epochs)
    model.fit(dataset.x_train[:1], dataset.y_train[:1])
    return model.decision_function(dataset.x_train[:1])[0]


def curve_sizes(available: int, sizes: Sequence[int] = LEARNING_CURVE_SIZES) -> list[int]:
    """The sizes that fit in ``available`` training images, ending with all of them."""
    fitting = sorted({size for size in sizes if size < available})
    return [*fitting, available]


def learning_curve(
    config: RunConfig,
    dataset,
    sizes: Sequence[int],
    done: Sequence[int] = (),
    on_start: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[int, dict], Any] | None = None,
) -> Iterator[Result]:
    """Train ``config`` on each training-set size not in ``done``; yield each result when done."""
    available = len(dataset.y_train)
    for index, size in enumerate(sizes):
        if size in done:
            continue
        if on_start is not None:
            on_start(index, size)
        run = dataclasses.replace(config, train_size=None if size >= available else size)
        yield Result(f"{size:,} images", size, train(run, dataset, on_epoch=on_epoch))


@dataclass(frozen=True)
class Disagreement:
    """A test digit that the models label differently."""

    index: int  # position in the test set
    true: int  # its label
    answers: dict[str, int]  # each model's answer


def disagreements(
    predictions: Mapping[str, np.ndarray], labels: np.ndarray, limit: int | None = None
) -> list[Disagreement]:
    """The test digits on which the models' answers differ, most divided first."""
    if len(predictions) < 2:
        return []
    names = list(predictions)
    table = np.stack([np.asarray(predictions[name]) for name in names])  # (models, digits)
    distinct = np.array([len(np.unique(column)) for column in table.T])
    order = np.flatnonzero(distinct > 1)
    order = order[np.argsort(-distinct[order], kind="stable")][:limit]
    return [
        Disagreement(
            int(index),
            int(labels[index]),
            {name: int(table[row, index]) for row, name in enumerate(names)},
        )
        for index in order
    ]


def nearest_training_digits(
    image: np.ndarray, images: np.ndarray, count: int = 8, chunk: int = 10_000
) -> np.ndarray:
    """Positions of the ``count`` training images closest to ``image``, pixel by pixel.

    Distance is the sum of squared pixel differences; the training set is read a chunk at a
    time, so no float copy of all of it is ever made.
    """
    query = np.asarray(image, dtype=np.int32).reshape(-1)
    flat = images.reshape(len(images), -1)
    distances = np.empty(len(flat), dtype=np.int64)
    for start in range(0, len(flat), chunk):
        difference = flat[start : start + chunk].astype(np.int32) - query
        distances[start : start + chunk] = np.einsum("ij,ij->i", difference, difference)
    count = min(count, len(flat))
    nearest = np.argpartition(distances, count - 1)[:count]
    return nearest[np.argsort(distances[nearest], kind="stable")]
