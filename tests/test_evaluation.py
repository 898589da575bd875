"""Evaluation: scores checked by hand on a tiny fixed model, then on real MNIST."""

from __future__ import annotations

import io

import numpy as np
import pytest
from drawings import canvas_png
from PIL import Image
from sklearn.metrics import accuracy_score, classification_report

from mnistkit.evaluation import (
    Evaluation,
    cell,
    evaluate,
    evaluate_dataset,
    mistakes,
    per_class_table,
    single_digit_latency_ms,
)
from mnistkit.models.base import InputShapeError


class FixedAnswers:
    """A stand-in model that gives the same probabilities whatever the images."""

    classes_ = np.arange(10)

    def __init__(self, probabilities):
        self.probabilities = np.asarray(probabilities, dtype=np.float64)

    def predict_proba(self, images):
        assert len(images) == len(self.probabilities)
        return self.probabilities


def answers(predicted: list[int], confidences: list[float]) -> np.ndarray:
    """Probabilities whose largest entry is ``confidence`` at the ``predicted`` digit."""
    rows = []
    for digit, confidence in zip(predicted, confidences, strict=True):
        row = np.full(10, (1 - confidence) / 9)
        row[digit] = confidence
        rows.append(row)
    return np.array(rows)


LABELS = np.array([0, 0, 1, 1, 2, 9])
PREDICTED = [0, 1, 1, 1, 2, 0]
CONFIDENCES = [0.9, 0.6, 0.8, 0.7, 0.95, 0.99]
IMAGES = np.zeros((6, 28, 28), dtype=np.uint8)


@pytest.fixture
def small() -> Evaluation:
    return evaluate(FixedAnswers(answers(PREDICTED, CONFIDENCES)), IMAGES, LABELS)


def test_scores_match_counts_made_by_hand(small):
    assert small.accuracy == pytest.approx(4 / 6)
    assert small.n_correct == 4 and small.n_digits == 6
    assert small.confusion.shape == (10, 10) and small.confusion.sum() == 6
    assert small.confusion[0, 0] == 1 and small.confusion[0, 1] == 1  # rows: true digit
    assert small.confusion[9, 0] == 1 and small.confusion[2, 2] == 1
    assert small.precision[0] == pytest.approx(1 / 2)  # predicted 0 twice, right once
    assert small.precision[1] == pytest.approx(2 / 3)
    assert small.recall[0] == pytest.approx(1 / 2)
    assert small.recall[1] == pytest.approx(1.0)
    assert small.f1[1] == pytest.approx(2 * (2 / 3) / (2 / 3 + 1))
    assert small.support.tolist() == [2, 2, 1, 0, 0, 0, 0, 0, 0, 1]
    assert small.precision[3] == 0 and small.f1[3] == 0  # a digit never seen scores 0, no warning
    assert small.predictions.tolist() == PREDICTED
    assert small.confidences == pytest.approx(CONFIDENCES)
    assert small.latency_ms >= 0


def test_results_are_read_only(small):
    for array in (small.confusion, small.predictions, small.probabilities, small.labels):
        with pytest.raises(ValueError):
            array[0] = 1


def test_mistakes_come_most_confident_first(small):
    wrong = mistakes(small)
    assert [(m.index, m.true, m.predicted) for m in wrong] == [(5, 9, 0), (1, 0, 1)]
    assert wrong[0].confidence == pytest.approx(0.99)
    assert mistakes(small, limit=1) == wrong[:1]


def test_cell_lists_the_digits_behind_a_confusion_matrix_cell(small):
    assert cell(small, 1, 1).tolist() == [2, 3]  # confidence 0.8 before 0.7
    assert cell(small, 9, 0).tolist() == [5]
    assert cell(small, 5, 5).tolist() == []
    with pytest.raises(ValueError, match="0 to 9"):
        cell(small, 10, 0)


def test_per_class_table_has_a_row_per_digit(small):
    rows = per_class_table(small)
    assert [row["digit"] for row in rows] == list(range(10))
    assert rows[1] == {
        "digit": 1,
        "support": 2,
        "correct": 2,
        "precision": pytest.approx(2 / 3),
        "recall": 1.0,
        "f1": pytest.approx(0.8),
    }


@pytest.mark.parametrize(
    "labels, message",
    [
        (np.array([0, 1]), "one label per image"),
        (np.array([0, 1, 2, 3, 4, 10]), "0 to 9"),
        (np.array([0.5] * 6), "0 to 9"),
    ],
)
def test_bad_labels_are_refused_with_a_sentence(labels, message):
    model = FixedAnswers(answers(PREDICTED, CONFIDENCES))
    with pytest.raises(InputShapeError, match=message):
        evaluate(model, IMAGES, labels)


def test_no_test_digits_is_refused():
    with pytest.raises(ValueError, match="no test digits"):
        evaluate(FixedAnswers(np.zeros((0, 10))), IMAGES[:0], np.array([], dtype=int))


@pytest.fixture(scope="module")
def article(mnist):
    from mnistkit.training import RunConfig, train

    return train(RunConfig.from_preset("scratch-linear", "article"), mnist)


def test_article_model_on_the_real_test_split(article, mnist):
    evaluation = evaluate_dataset(article, mnist)
    assert evaluation.n_digits == 10_000
    assert evaluation.accuracy == 0.7447  # the article's published figure
    assert evaluation.accuracy == article.test_accuracy
    assert evaluation.predictions.tolist() == article.model.predict(mnist.x_test).tolist()
    assert evaluation.accuracy == accuracy_score(mnist.y_test, evaluation.predictions)
    assert evaluation.confusion.sum(axis=1).tolist() == np.bincount(mnist.y_test).tolist()
    report = classification_report(mnist.y_test, evaluation.predictions, output_dict=True)
    for digit in range(10):
        assert evaluation.recall[digit] == pytest.approx(report[str(digit)]["recall"])
        assert evaluation.precision[digit] == pytest.approx(report[str(digit)]["precision"])
    worst = mistakes(evaluation, limit=20)
    assert len(mistakes(evaluation)) == 10_000 - 7447
    assert all(a.confidence >= b.confidence for a, b in zip(worst, worst[1:], strict=False))
    assert all(mnist.y_test[m.index] == m.true != m.predicted for m in worst)


def test_single_digit_latency_includes_reading_the_drawing(article, mnist):
    png = canvas_png(mnist.x_test[0], "black-on-transparent", scale=4, offset=(10, 150))
    for image in (png, Image.open(io.BytesIO(png)), mnist.x_test[0]):
        milliseconds = single_digit_latency_ms(article.model, image, repeats=3)
        assert 0 < milliseconds < 1000
    with pytest.raises(ValueError, match="at least 1"):
        single_digit_latency_ms(article.model, png, repeats=0)


def test_scores_agree_with_scikit_learn_on_random_answers():
    """The NumPy counts and scores are scikit-learn's, including digits never seen or never
    predicted (whose undefined scores are 0)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 300))
        labels = rng.integers(0, rng.integers(1, 11), n)
        predicted = rng.integers(0, rng.integers(1, 11), n)
        probabilities = np.eye(10)[predicted]
        result = evaluate(FixedAnswers(probabilities), np.zeros((n, 784)), labels)
        expected = precision_recall_fscore_support(
            labels, predicted, labels=np.arange(10), zero_division=0
        )
        counts = confusion_matrix(labels, predicted, labels=range(10))
        assert np.array_equal(result.confusion, counts)
        for ours, theirs in zip((result.precision, result.recall, result.f1, result.support),
                                expected, strict=True):  # fmt: skip
            assert np.allclose(ours, theirs)
