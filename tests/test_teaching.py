"""The Draw page's teaching logic: every model's reading, a linear model's evidence, and a
learner's handwriting set (scores, file format, bad uploads)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from drawings import canvas_png
from PIL import Image, ImageDraw

from mnistkit.data import DataError, load_mnist
from mnistkit.preprocess import preprocessing_steps, read_image, to_mnist
from mnistkit.teaching import (
    MNIST_STROKE_SHARE,
    NotLinearError,
    Reading,
    add_digit,
    answers,
    disagree,
    evidence,
    handwriting_file,
    is_linear,
    merged,
    read_handwriting_file,
    read_with_every_model,
    scores_on_handwriting,
    stroke_hint,
    stroke_share,
    weight_images,
)
from mnistkit.training import RunConfig, train


@pytest.fixture(scope="module")
def sample():
    return load_mnist("sample")


@pytest.fixture(scope="module")
def linear(sample):
    return train(RunConfig("scratch-linear", epochs=3), sample).model


@pytest.fixture(scope="module")
def article_linear(sample):
    return train(RunConfig.from_preset("scratch-linear", "article"), sample).model


@pytest.fixture(scope="module")
def mlp(sample):
    return train(RunConfig("sklearn-mlp", epochs=3), sample).model


@pytest.mark.parametrize("which", ["linear", "article_linear"])
def test_evidence_adds_up_to_the_models_own_scores(request, sample, which):
    model = request.getfixturevalue(which)  # pixels scaled to 0-1, and raw 0-255 (the article)
    for digit in sample.x_test[:20]:
        found = evidence(model, digit)
        scores = model.decision_function(digit[np.newaxis])[0]
        assert np.allclose(found.contributions.sum(axis=(1, 2)) + found.biases, scores)
        assert np.allclose(found.scores, scores)
        assert found.prediction == model.predict(digit[np.newaxis])[0]


def test_evidence_is_zero_where_there_is_no_ink_and_weights_are_the_models_rows(linear, sample):
    digit = sample.x_test[0]
    found = evidence(linear, digit)
    assert np.all(found.contributions[:, digit == 0] == 0)
    assert np.array_equal(found.weights.reshape(10, 784), linear.coef_)
    assert np.array_equal(weight_images(linear), found.weights)


def test_only_a_linear_model_has_weight_images(linear, mlp, sample):
    assert is_linear(linear) and not is_linear(mlp)
    with pytest.raises(NotLinearError, match="linear model"):
        weight_images(mlp)
    with pytest.raises(NotLinearError):
        evidence(mlp, sample.x_test[0])


def test_every_model_reads_the_digit_as_it_would_alone(linear, mlp, sample):
    digit = sample.x_test[3]
    readings = read_with_every_model({"linear": linear, "mlp": mlp}, digit)
    assert [reading.name for reading in readings] == ["linear", "mlp"]
    for reading, model in zip(readings, (linear, mlp), strict=True):
        assert np.allclose(reading.probabilities, model.predict_proba(digit[np.newaxis])[0])
        assert reading.prediction == model.predict(digit[np.newaxis])[0]


def test_disagreement_groups_the_models_by_answer():
    def reading(name, digit):
        probabilities = np.full(10, 0.05)
        probabilities[digit] = 0.55
        return Reading(name, probabilities)

    agreeing = [reading("a", 3), reading("b", 3)]
    assert not disagree(agreeing) and answers(agreeing) == {3: ["a", "b"]}
    split = [reading("a", 3), reading("b", 5), reading("c", 5)]
    assert disagree(split)
    assert list(answers(split).items()) == [(5, ["b", "c"]), (3, ["a"])]  # commonest first


def test_a_misshaped_digit_is_refused(linear):
    with pytest.raises(ValueError, match="28x28"):
        read_with_every_model({"linear": linear}, np.zeros((20, 20), np.uint8))


def test_adding_digits_builds_a_set_in_mnist_layout(sample):
    images, labels = add_digit(None, None, sample.x_test[0], 7)
    images, labels = add_digit(images, labels, sample.x_test[1], np.int64(2))
    assert images.shape == (2, 28, 28) and images.dtype == np.uint8
    assert labels.tolist() == [7, 2] and labels.dtype == np.uint8
    assert np.array_equal(images[1], sample.x_test[1])


@pytest.mark.parametrize("label", [10, -1, 2.5, True, "7"])
def test_a_label_outside_0_to_9_is_refused(sample, label):
    with pytest.raises(DataError, match="0 to 9"):
        add_digit(None, None, sample.x_test[0], label)


def test_the_set_file_round_trips(sample):
    images, labels = sample.x_test[:15], sample.y_test[:15]
    restored_images, restored_labels = read_handwriting_file(handwriting_file(images, labels))
    assert np.array_equal(restored_images, images)
    assert np.array_equal(restored_labels, labels)
    with np.load(io.BytesIO(handwriting_file(images, labels)), allow_pickle=False) as archive:
        assert archive["x"].dtype == np.uint8 and archive["x"].shape == (15, 28, 28)


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


GOOD_IMAGES = np.zeros((3, 28, 28), np.uint8)
GOOD_LABELS = np.array([1, 2, 3], np.uint8)
BAD_UPLOADS = {
    "wrong keys": (_npz(images=GOOD_IMAGES, labels=GOOD_LABELS), "needs the arrays x and y"),
    "wrong shape": (_npz(x=np.zeros((3, 20, 20), np.uint8), y=GOOD_LABELS), "shape"),
    "wrong dtype": (_npz(x=GOOD_IMAGES.astype(np.float32), y=GOOD_LABELS), "uint8"),
    "float labels": (_npz(x=GOOD_IMAGES, y=GOOD_LABELS.astype(np.float64)), "whole numbers"),
    "label 12": (_npz(x=GOOD_IMAGES, y=np.array([1, 12, 3])), "outside 0-9"),
    "lengths differ": (_npz(x=GOOD_IMAGES, y=np.array([1, 2])), "exactly one label"),
    "pickle": (
        _npz(x=np.full((3, 28, 28), {"a": 1}, dtype=object), y=GOOD_LABELS),
        "should hold uint8",
    ),
    "not a zip": (b"\x93NUMPY not an npz", "not a .npz"),
}


@pytest.mark.parametrize("name", list(BAD_UPLOADS))
def test_a_bad_set_file_is_refused_with_a_sentence(name):
    data, phrase = BAD_UPLOADS[name]
    with pytest.raises(DataError, match=phrase) as caught:
        read_handwriting_file(data)
    assert str(caught.value).endswith(".")


def test_merging_keeps_the_learners_digits_first_and_refuses_too_many(sample):
    images, labels = merged(
        sample.x_test[:2], sample.y_test[:2], sample.x_test[5:8], sample.y_test[5:8]
    )
    assert labels.tolist() == sample.y_test[[0, 1, 5, 6, 7]].tolist()
    assert np.array_equal(images[2], sample.x_test[5])
    many = np.zeros((10_000, 28, 28), np.uint8)
    with pytest.raises(DataError, match="more than"):
        merged(many, np.zeros(10_000, np.uint8), sample.x_test[:1], sample.y_test[:1])


def test_scores_on_handwriting_are_each_models_own_results(linear, mlp, sample):
    images, labels = sample.x_test[:40], sample.y_test[:40]
    scores = scores_on_handwriting(
        {"linear": linear, "mlp": mlp}, images, labels, {"linear": 0.9, "mlp": None}
    )
    assert [score.name for score in scores] == ["linear", "mlp"]
    for score, model in zip(scores, (linear, mlp), strict=True):
        assert score.accuracy == pytest.approx(np.mean(model.predict(images) == labels))
        assert score.evaluation.confusion.sum() == 40
        assert np.array_equal(
            score.evaluation.confusion.sum(axis=1), np.bincount(labels, minlength=10)
        )
    assert scores[0].mnist_accuracy == 0.9 and scores[1].mnist_accuracy is None
    with pytest.raises(DataError, match="empty"):
        scores_on_handwriting({"linear": linear}, images[:0], labels[:0])


@pytest.mark.slow
def test_skipping_centring_misreads_off_centre_digits(mnist):
    """The inspector's lesson, measured on real MNIST: off-centre digits need centring."""
    model = train(RunConfig("scratch-linear", epochs=3), mnist).model
    images, labels = mnist.x_test[:300], mnist.y_test[:300]
    centred, placed = [], []
    for image in images:
        picture = read_image(canvas_png(image, "black-on-white", scale=5, offset=(10, 130)))
        centred.append(to_mnist(picture))
        placed.append(preprocessing_steps(picture, center=False)[-1].image)
    with_centring = np.mean(model.predict(np.array(centred)) == labels)
    without_centring = np.mean(model.predict(np.array(placed)) == labels)
    print(f"off-centre digits read: {with_centring:.1%} centred, {without_centring:.1%} not")
    assert with_centring > 0.8
    assert without_centring < with_centring - 0.3


def test_the_stroke_range_is_mnists_own(mnist):
    shares = [stroke_share(image) for image in mnist.x_test[:1000]]
    low, high = np.percentile(shares, [10, 90])
    assert low == pytest.approx(MNIST_STROKE_SHARE[0], abs=0.01)
    assert high == pytest.approx(MNIST_STROKE_SHARE[1], abs=0.01)


def _pen_drawing(width: int) -> np.ndarray:
    """A 7 drawn with a pen ``width`` pixels wide on a 280x280 white canvas."""
    picture = Image.new("RGBA", (280, 280), "white")
    pen = ImageDraw.Draw(picture)
    pen.line([(80, 40), (200, 40), (130, 240)], fill=(27, 27, 27, 255), width=width)
    return np.asarray(picture)


def test_a_thin_or_thick_pen_gets_a_hint_and_an_mnist_like_one_none():
    assert "wider pen" in stroke_hint(_pen_drawing(6))
    assert stroke_hint(_pen_drawing(24)) is None  # the pad's default width, about MNIST's
    assert "thinner pen" in stroke_hint(_pen_drawing(120))
