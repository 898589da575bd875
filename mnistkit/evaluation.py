"""How well a trained model reads the test digits: accuracy, confusion, per-class scores, mistakes.

Everything here works on the test split, which training never sees. ``evaluate`` runs the model
once over all the test digits and keeps what every screen needs; the small functions after it
read from that result without running the model again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from mnistkit.models.base import CLASSES, InputShapeError

CHANCE = 1 / len(CLASSES)  # what guessing scores: 10% for ten digits
NEAR_CHANCE = 2 * CHANCE  # below 20%, a model has learned next to nothing (a collapsed run)


@dataclass(frozen=True)
class Evaluation:
    """A model's answers on a set of test digits, and the scores made from them."""

    accuracy: float  # share of digits read correctly, 0..1
    confusion: np.ndarray  # (10, 10) counts; rows: true digit, columns: predicted digit
    precision: np.ndarray  # (10,) of the digits predicted as d, the share that were d
    recall: np.ndarray  # (10,) of the digits that were d, the share predicted as d
    f1: np.ndarray  # (10,) harmonic mean of precision and recall
    support: np.ndarray  # (10,) how many test digits of each class
    labels: np.ndarray  # (n,) the true digits
    predictions: np.ndarray  # (n,) the model's answers
    probabilities: np.ndarray  # (n, 10) how sure the model was of each digit
    latency_ms: float  # mean milliseconds per digit when predicting the whole batch

    @property
    def confidences(self) -> np.ndarray:
        """How sure the model was of each answer (the largest probability)."""
        return self.probabilities.max(axis=1)

    @property
    def n_digits(self) -> int:
        return len(self.labels)

    @property
    def n_correct(self) -> int:
        return int(np.trace(self.confusion))


@dataclass(frozen=True)
class Mistake:
    """One test digit the model got wrong."""

    index: int  # position in the test split
    true: int
    predicted: int
    confidence: float  # the probability the model gave its wrong answer


def evaluate(model: Any, images: np.ndarray, labels: np.ndarray) -> Evaluation:
    """Run ``model`` over ``images`` once and score its answers against ``labels``."""
    labels = _check_labels(images, labels)
    started = time.perf_counter()
    probabilities = np.asarray(model.predict_proba(images), dtype=np.float64)
    seconds = time.perf_counter() - started
    classes = np.asarray(getattr(model, "classes_", CLASSES))
    predictions = classes[np.argmax(probabilities, axis=1)].astype(np.int64)
    confusion = confusion_matrix(labels, predictions)
    precision, recall, f1, support = class_scores(confusion)
    return Evaluation(
        accuracy=float(np.mean(predictions == labels)),
        confusion=_frozen(confusion),
        precision=_frozen(precision),
        recall=_frozen(recall),
        f1=_frozen(f1),
        support=_frozen(support),
        labels=_frozen(labels),
        predictions=_frozen(predictions),
        probabilities=_frozen(probabilities),
        latency_ms=1000 * seconds / len(labels),
    )


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """(10, 10) counts: row ``t``, column ``p`` is how many digits ``t`` were read as ``p``."""
    n = len(CLASSES)
    counted = (predictions >= 0) & (predictions < n)  # an answer that is no digit is in no cell
    cells = n * labels[counted] + predictions[counted]
    return np.bincount(cells, minlength=n * n).reshape(n, n).astype(np.int64)


def class_scores(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per digit: precision, recall, F1 (0 where undefined) and support, from the confusion."""
    right = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    precision = np.divide(right, predicted, out=np.zeros_like(right), where=predicted > 0)
    recall = np.divide(right, support, out=np.zeros_like(right), where=support > 0)
    both = 2 * right + (predicted - right) + (support - right)  # 2 TP + FP + FN
    f1 = np.divide(2 * right, both, out=np.zeros_like(right), where=both > 0)
    return precision, recall, f1, support.astype(np.int64)


def evaluate_dataset(trained: Any, dataset: Any) -> Evaluation:
    """Evaluate a ``TrainedModel`` on the test split of a ``Dataset``."""
    return evaluate(trained.model, dataset.x_test, dataset.y_test)


def mistakes(evaluation: Evaluation, limit: int | None = None) -> list[Mistake]:
    """The digits the model got wrong, the most confident mistakes first."""
    wrong = np.flatnonzero(evaluation.predictions != evaluation.labels)
    confidences = evaluation.confidences
    # A stable sort on the negated confidence keeps test-set order among equal confidences.
    ordered = wrong[np.argsort(-confidences[wrong], kind="stable")][:limit]
    return [
        Mistake(
            index=int(index),
            true=int(evaluation.labels[index]),
            predicted=int(evaluation.predictions[index]),
            confidence=float(confidences[index]),
        )
        for index in ordered
    ]


def cell(evaluation: Evaluation, true: int, predicted: int) -> np.ndarray:
    """Indices of the test digits behind one confusion-matrix cell, most confident first."""
    for name, digit in (("true", true), ("predicted", predicted)):
        if (
            isinstance(digit, bool)
            or not isinstance(digit, int | np.integer)
            or not 0 <= digit <= 9
        ):
            raise ValueError(f"The {name} digit must be a whole number from 0 to 9; got {digit!r}.")
    inside = np.flatnonzero((evaluation.labels == true) & (evaluation.predictions == predicted))
    return inside[np.argsort(-evaluation.confidences[inside], kind="stable")]


def per_class_table(evaluation: Evaluation) -> list[dict[str, float | int]]:
    """One row per digit: how many test digits, how many right, precision, recall and F1."""
    return [
        {
            "digit": int(digit),
            "support": int(evaluation.support[digit]),
            "correct": int(evaluation.confusion[digit, digit]),
            "precision": float(evaluation.precision[digit]),
            "recall": float(evaluation.recall[digit]),
            "f1": float(evaluation.f1[digit]),
        }
        for digit in CLASSES
    ]


def single_digit_latency_ms(model: Any, image: Any, repeats: int = 50) -> float:
    """Median milliseconds to read one drawn digit, preprocessing included.

    ``image`` is what a user hands over: PNG bytes, a path, a PIL image or a pixel array. The
    first call is made before timing starts, so one-off set-up (Keras compiling its graph) is
    left out.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1; got {repeats}.")
    _read_one(model, image)
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        _read_one(model, image)
        timings.append(time.perf_counter() - started)
    return 1000 * float(np.median(timings))


def _read_one(model: Any, image: Any) -> np.ndarray:
    from mnistkit.preprocess import read_image, to_mnist

    if isinstance(image, bytes | str) or hasattr(image, "__fspath__") or hasattr(image, "read"):
        image = read_image(image)
    return model.predict_proba(to_mnist(image)[np.newaxis])


def _check_labels(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != len(images):
        raise InputShapeError(
            f"Expected one label per image ({len(images)}); got labels of shape {labels.shape}."
        )
    if len(labels) == 0:
        raise InputShapeError("There are no test digits to evaluate on.")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() > 9:
        raise InputShapeError("Labels must be whole numbers from 0 to 9.")
    return labels.astype(np.int64)


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.array(array)  # a private copy, so freezing it cannot affect the caller
    array.flags.writeable = False
    return array


# Leaderboard columns and which way is better: True when higher is better.
LEADERBOARD_COLUMNS: dict[str, bool] = {
    "test accuracy (%)": True,
    "training time (s)": False,
    "reading time (ms per digit)": False,
    "parameters": False,
    **{f"F1 of {digit} (%)": True for digit in CLASSES},
}


def leaderboard(models: list[tuple[str, Any, Evaluation]]) -> list[dict[str, Any]]:
    """One row per ``(name, trained model, evaluation)``: the leaderboard's columns, by model."""
    return [
        {
            "model": name,
            "test accuracy (%)": 100 * evaluation.accuracy,
            "training time (s)": float(trained.seconds),
            "reading time (ms per digit)": float(evaluation.latency_ms),
            "parameters": int(trained.model.count_parameters()),
            **{f"F1 of {d} (%)": 100 * float(evaluation.f1[d]) for d in CLASSES},
        }
        for name, trained, evaluation in models
    ]


def best_in_each_column(rows: list[dict[str, Any]]) -> dict[str, list[int]]:
    """For each leaderboard column, the rows holding its best value (ties share the mark)."""
    best = {}
    for column, higher_is_better in LEADERBOARD_COLUMNS.items():
        values = [row[column] for row in rows]
        if values:
            target = max(values) if higher_is_better else min(values)
            best[column] = [index for index, value in enumerate(values) if value == target]
    return best


def no_better_than_chance(
    accuracy: float | None,
    history: list[dict],
    *,
    learning_rate: float | None = None,
    default_learning_rate: float | None = None,
) -> str | None:
    """The sentence saying a run ended near chance, with its likely cause; ``None`` if it learned.

    ``history`` is the run's epochs (each with its ``loss``); the learning rates, when known, let
    the sentence name the likely cause and the value to try instead.
    """
    if accuracy is None or accuracy >= NEAR_CHANCE:
        return None
    score = (
        f"It reads no better than chance: {100 * accuracy:.1f}% of the test digits, where "
        f"guessing gets {100 * CHANCE:.0f}%. "
    )
    return score + _likely_cause(history, learning_rate, default_learning_rate)


def chance_verdict(trained: Any) -> str | None:
    """``no_better_than_chance`` for a ``TrainedModel``, its settings read from the run."""
    learning_rate = default = None
    config = getattr(trained, "config", None)
    if config is not None:
        from mnistkit.models import get_model_class

        learning_rate = config.hyperparameters.get("learning_rate")
        default = get_model_class(config.model).defaults().get("learning_rate")
    return no_better_than_chance(
        trained.test_accuracy,
        list(trained.history or []),
        learning_rate=learning_rate,
        default_learning_rate=default,
    )


def _likely_cause(history: list[dict], learning_rate: float | None, default: float | None) -> str:
    losses = [row["loss"] for row in history if row.get("loss") is not None]
    rate = "" if learning_rate is None else f" ({learning_rate:g})"
    instead = "" if default is None else f"; try its default, {default:g}"
    too_high = learning_rate is not None and default is not None and learning_rate > 10 * default
    loss_rose = len(losses) > 1 and losses[-1] > losses[0]
    if too_high or loss_rose:
        return (
            f"The likely cause: the learning rate{rate} is too high for this model, so each "
            f"update overshoots instead of improving the weights{instead}."
        )
    if learning_rate is not None and default is not None and learning_rate < default / 100:
        return (
            f"The likely cause: the learning rate{rate} is too low for this model to learn in "
            f"{len(history)} epoch{'' if len(history) == 1 else 's'}{instead}."
        )
    return (
        "The likely cause: the run was too short or had too few training digits to learn; "
        "try more epochs or more training digits."
    )
