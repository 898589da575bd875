"""The figures and display images: built from data, labelled, and true to the numbers."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from mnistkit import plots


def _axis_titles(figure: go.Figure) -> list[str]:
    layout = figure.to_dict()["layout"]
    return [
        axis["title"]["text"]
        for name, axis in layout.items()
        if name.startswith(("xaxis", "yaxis")) and "title" in axis
    ]


def test_display_image_is_enlarged_sharp_and_dark_ink_on_white():
    image = np.zeros((28, 28), dtype=np.uint8)
    image[3, 5] = 255
    shown = plots.display_image(image, size=84)
    assert shown.shape == (84, 84) and shown.dtype == np.uint8
    assert shown[9:12, 15:18].max() == 0  # the inked pixel, three by three, black
    assert shown.sum() == 255 * (84 * 84 - 9)  # everything else white


def test_class_averages_are_the_mean_image_of_each_digit():
    images = np.zeros((4, 28, 28), dtype=np.uint8)
    images[0, 0, 0], images[1, 0, 0], images[2, 5, 5] = 100, 200, 50
    averages = plots.class_averages(images, np.array([3, 3, 7, 7]))
    assert averages.shape == (10, 28, 28)
    assert averages[3, 0, 0] == 150 and averages[7, 5, 5] == 25
    assert averages[0].max() == 0  # an absent digit averages to a blank image


def test_pixel_matrix_prints_the_first_training_digit_like_the_article(mnist_path):
    with np.load(mnist_path, allow_pickle=False) as archive:
        first = archive["x_train"][0]
    rows = plots.pixel_matrix_text(first).splitlines()
    assert len(rows) == 28 and all(len(row.split()) == 28 for row in rows)
    sixth = [int(value) for value in rows[5].split()]
    assert sixth[:24] == [0] * 12 + [3, 18, 18, 18, 126, 136, 175, 26, 166, 255, 247, 127]


def test_count_figure_has_one_labelled_bar_per_digit():
    labels = np.array([0, 1, 1, 9, 9, 9])
    figure = plots.count_figure(labels)
    assert list(figure.data[0].y) == [1, 2, 0, 0, 0, 0, 0, 0, 0, 3]
    assert _axis_titles(figure) == ["Digit", "Training images (count)"]


def test_confusion_figure_shows_counts_and_one_clickable_point_per_cell():
    confusion = np.arange(100).reshape(10, 10)
    figure = plots.confusion_figure(confusion)
    heatmap, clickable = figure.data
    assert np.array_equal(np.asarray(heatmap.text), confusion)
    assert len(clickable.x) == 100
    # The point for true 3, predicted 7 carries that cell's count.
    point = next(i for i in range(100) if clickable.x[i] == 7 and clickable.y[i] == 3)
    assert clickable.customdata[point] == confusion[3, 7]
    assert set(_axis_titles(figure)) == {"Predicted digit", "True digit"}


def test_training_figure_plots_loss_and_accuracy_per_epoch():
    history = [
        {"loss": 0.9, "train_accuracy": 0.8, "validation_accuracy": 0.78, "seconds": 1.0},
        {"loss": 0.5, "train_accuracy": 0.9, "validation_accuracy": None, "seconds": 2.0},
    ]
    figure = plots.training_figure(history)
    loss, train_accuracy, validation_accuracy = figure.data
    assert list(loss.x) == [1, 2] and list(loss.y) == [0.9, 0.5]
    assert list(train_accuracy.y) == pytest.approx([80.0, 90.0])
    assert validation_accuracy.y[1] is None
    assert {"Epoch", "Mean loss", "Accuracy (%)"} <= set(_axis_titles(figure))


def test_training_figure_leaves_out_validation_when_there_was_none():
    history = [{"loss": 0.4, "train_accuracy": 0.9, "validation_accuracy": None, "seconds": 1}]
    assert [trace.name for trace in plots.training_figure(history).data] == [
        "loss",
        "training digits",
    ]


def test_a_followed_runs_curves_grow_in_place_into_the_figure_built_afresh():
    import plotly.io as pio

    history = [
        {"loss": 1 / epoch, "train_accuracy": 0.5 + epoch / 40, "validation_accuracy": 0.6}
        for epoch in range(1, 15)
    ]
    figure = plots.training_figure(history[:1])
    for epoch in (2, 3, 11, 14):  # the page looks when it can, not at every epoch
        assert plots.update_training_figure(figure, history[:epoch])
        assert pio.to_json(figure, validate=False) == pio.to_json(
            plots.training_figure(history[:epoch]), validate=False
        )
    # a run without held-out digits draws one accuracy curve fewer: built again, not grown
    without = [{**row, "validation_accuracy": None} for row in history]
    assert not plots.update_training_figure(plots.training_figure(history[:2]), without[:3])


def test_every_figure_titles_its_axes():
    rng = np.random.default_rng(0)
    figures = [
        plots.pixel_figure(rng.integers(0, 256, (28, 28))),
        plots.per_class_figure(*rng.uniform(0.8, 1.0, (3, 10))),
    ]
    for figure in figures:
        titles = _axis_titles(figure)
        assert len(titles) == 2 and all(titles)
