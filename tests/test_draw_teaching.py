"""The Draw page's teaching sections with AppTest: the drawing is fed as the canvas's RGBA array
through session state (the canvas itself is driven in tests/test_browser_draw.py)."""

from __future__ import annotations

import base64
import io
import json
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import ROOT
from drawings import canvas_png
from PIL import Image
from streamlit.testing.v1 import AppTest

from mnistkit import teaching
from mnistkit.data import load_mnist
from mnistkit.preprocess import preprocessing_steps, to_mnist
from mnistkit.training import RunConfig, train

APP = ROOT / "app.py"
MODELS_KEY = "mnistkit_models"
DRAWING_KEY = "draw_drawing"
SECTIONS = ["section_inspector", "section_every_model", "section_evidence", "section_feature_maps"]


@pytest.fixture
def on_the_sample(monkeypatch):
    """The app on the bundled sample, with no ready-made models."""
    monkeypatch.setenv("MNISTKIT_DATA", "sample")
    monkeypatch.delenv("MNISTKIT_MODELS_DIR", raising=False)


@pytest.fixture(scope="module")
def sample():
    return load_mnist("sample")


@pytest.fixture(scope="module")
def models(sample):
    """A linear net and an MLP trained on the sample, named as the Train page names them."""
    linear = train(RunConfig("scratch-linear", epochs=3), sample)
    mlp = train(RunConfig("sklearn-mlp", epochs=3), sample)
    return {linear.name: linear, mlp.name: mlp}


def drawing_of(image: np.ndarray, offset=(20, 60), scale=5) -> np.ndarray:
    """A test digit as the canvas hands it over: RGBA, dark ink on opaque white."""
    picture = Image.open(io.BytesIO(canvas_png(image, "black-on-white", scale, offset)))
    return np.asarray(picture.convert("RGBA"))


def open_sections(at: AppTest) -> None:
    """Open every teaching section, on the pad and for a picture, as a click on each would."""
    for key in SECTIONS:
        at.session_state[key] = at.session_state["upload_" + key] = True


def draw_page(models: dict, drawing: np.ndarray | None, opened: bool = True) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=180).run()
    at.session_state[MODELS_KEY] = dict(models)
    at.switch_page("pages/draw.py")
    if opened:
        open_sections(at)
    if drawing is not None:
        at.session_state[DRAWING_KEY] = drawing
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements) -> str:
    return "\n".join(str(element.value) for element in elements)


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_without_a_drawing_each_section_says_what_to_do(on_the_sample, models):
    at = draw_page(models, None)
    captions = texts(at.caption)
    assert "Draw a digit above and each step appears here." in captions
    assert "Draw a digit above and every model's answer appears here." in captions
    assert "Your set is empty" in captions
    assert at.button(key="handwriting_add").disabled


@pytest.mark.slow
def test_the_inspector_shows_every_step_and_the_switches_skip_them(on_the_sample, models, sample):
    drawing = drawing_of(sample.x_test[0], offset=(10, 140))  # small and off-centre
    at = draw_page(models, drawing)
    markdown = texts(at.markdown)
    for title in ("Your drawing", "1. Ink", "2. Cropped", "3. Scaled to 20x20", "4. Centred"):
        assert f"**{title}" in markdown
    assert "Step skipped" not in texts(at.warning)

    at.toggle(key="inspect_centre").set_value(False)
    run(at)
    assert "Step skipped: centring by centre of mass" in texts(at.warning)
    markdown = texts(at.markdown)
    assert "**4. Placed, not centred**" in markdown and "**4. Centred" not in markdown
    picker_model = models[at.selectbox(key="picked_model").value]
    placed = preprocessing_steps(drawing, center=False)[-1].image
    without = int(picker_model.model.predict(placed[np.newaxis])[0])
    with_all = int(picker_model.model.predict(to_mnist(drawing)[np.newaxis])[0])
    assert f"reads **{without}**" in markdown and f"it reads **{with_all}**" in markdown

    at.toggle(key="inspect_crop_and_scale").set_value(False)
    run(at)
    warnings = texts(at.warning)
    assert "Step skipped: cropping and scaling" in warnings
    assert "**2. Squeezed to 28x28**" in texts(at.markdown)
    assert "**2. Cropped**" not in texts(at.markdown)

    at.toggle(key="inspect_centre").set_value(True)
    at.toggle(key="inspect_crop_and_scale").set_value(True)
    run(at)
    assert "Step skipped" not in texts(at.warning)


@pytest.mark.slow
def test_an_uploaded_picture_gets_the_inspector_and_every_model(on_the_sample, models, sample):
    picture = canvas_png(sample.x_test[0], "black-on-white", 5, (10, 140))  # off-centre
    at = draw_page(models, None)  # nothing drawn: only the picture is inspected
    at.file_uploader(key="digit_picture").upload("mine.png", picture, "image/png")
    run(at)
    labels = [expander.label for expander in at.expander]
    assert "Step by step: how your picture becomes 28x28" in labels
    assert "Every model reads the same picture" in labels
    assert "**Your picture**" in texts(at.markdown)
    cards = [m.value for m in at.markdown if m.value.startswith("#### ")]
    assert len(cards) == len(models)  # the picture's; the empty pad shows none
    assert "Step skipped" not in texts(at.warning)

    at.toggle(key="upload_inspect_centre").set_value(False)
    run(at)
    assert "Step skipped: centring by centre of mass" in texts(at.warning)
    assert at.toggle(key="inspect_centre").value  # the pad's own switch is untouched
    digit = to_mnist(Image.open(io.BytesIO(picture)))
    linear = next(t for t in models.values() if t.config.model == "scratch-linear")
    found = teaching.evidence(linear.model, digit)
    assert f"The highest score, **{found.prediction}**" in texts(at.markdown)

    at.selectbox(key="upload_handwriting_label").set_value(7)
    run(at)
    at.button(key="upload_handwriting_add").click()
    run(at)
    assert "Added your 7: your set now holds 1 digit." in texts(at.success)
    assert "Your set holds **1 digit** (1 × 7)" in texts(at.markdown)  # scored on the Draw tab
    assert at.selectbox(key="upload_handwriting_label").value is None  # ready for the next one


def test_every_model_reads_the_drawing_side_by_side(on_the_sample, models, sample):
    drawing = drawing_of(sample.x_test[1])
    digit = to_mnist(drawing)
    at = draw_page(models, drawing)
    answers = {name: int(t.model.predict(digit[np.newaxis])[0]) for name, t in models.items()}
    captions = texts(at.caption)
    assert all(name in captions for name in models)
    cards = [m.value for m in at.markdown if m.value.startswith("#### ")]
    assert len(cards) == len(models)
    for card, answer in zip(cards, answers.values(), strict=True):
        assert f"Reads {answer}]" in card
    assert at.get("plotly_chart")  # the ten probabilities of each model
    if len(set(answers.values())) == 1:
        assert f"All 2 models read {next(iter(answers.values()))}." in texts(at.success)


def test_disagreement_is_highlighted(on_the_sample, models, sample):
    linear, mlp = models.values()
    for index in range(len(sample.y_test)):
        drawing = drawing_of(sample.x_test[index])
        digit = to_mnist(drawing)[np.newaxis]
        if linear.model.predict(digit)[0] != mlp.model.predict(digit)[0]:
            break
    else:
        pytest.fail("the two models agree on every sample test digit")
    at = draw_page(models, drawing)
    warning = texts(at.warning)
    assert "The models disagree." in warning
    for trained in (linear, mlp):
        assert f"Reads {trained.model.predict(digit)[0]}: “{trained.name}”" in warning  # whole
    assert sum(":red[" in m.value for m in at.markdown) == 1  # the one in the minority


def test_the_evidence_map_needs_a_linear_model(on_the_sample, models, sample):
    drawing = drawing_of(sample.x_test[2])
    at = draw_page(models, drawing)
    assert at.selectbox(key="evidence_model").options == [
        name for name, t in models.items() if t.config.model == "scratch-linear"
    ]
    assert "The highest score" in texts(at.markdown)
    only_mlp = {name: t for name, t in models.items() if t.config.model == "sklearn-mlp"}
    at = draw_page(only_mlp, drawing)
    assert "This part needs a linear net" in texts(at.info)


@pytest.fixture(scope="module")
def cnn(sample):
    """A small CNN trained on the sample: four 3x3 filters in its first layer."""
    return train(RunConfig("keras-cnn", {"filters": 4, "batch_size": 32}, epochs=2), sample)


def heatmaps(at: AppTest, key: str) -> list[np.ndarray]:
    """The z values of each heatmap in the page's plotly chart with ``key``, in order."""
    (chart,) = [chart for chart in at.get("plotly_chart") if chart.proto.id.endswith(key)]
    figure = json.loads(chart.proto.spec)
    return [_plotly_array(trace["z"]) for trace in figure["data"]]


def _plotly_array(value) -> np.ndarray:
    """An array as plotly writes it into JSON: nested lists, or typed bytes in base64."""
    if isinstance(value, dict):
        data = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = [int(size) for size in str(value.get("shape", len(data))).split(",")]
        return data.reshape(shape).astype(float)
    return np.array(value, dtype=float)


@pytest.mark.slow
def test_a_cnn_shows_its_first_filters_and_what_they_find(on_the_sample, models, cnn, sample):
    drawing = drawing_of(sample.x_test[3])
    at = draw_page(models, drawing)
    assert "This part needs a convolutional network" in texts(at.info)

    with_cnn = {**models, cnn.name: cnn}
    at = draw_page(with_cnn, None)
    assert "Draw a digit above to see what each filter finds in it." in texts(at.caption)
    at = draw_page(with_cnn, drawing)
    assert at.selectbox(key="feature_maps_model").options == [cnn.name]
    explanation = texts(at.markdown)
    assert "slides each of its 4 filters, 3x3 pixels of weights" in explanation
    assert "a 26x26 feature map" in explanation and "Each filter picks out" in explanation
    # The chart is this model's own first layer on this drawing: filter, map, filter, map...
    drawn = heatmaps(at, "feature_maps_chart")
    found = teaching.feature_maps(cnn.model, to_mnist(drawing))
    assert len(drawn) == 2 * 4
    for index in range(4):
        np.testing.assert_allclose(drawn[2 * index], found.kernels[index], rtol=1e-6)
        np.testing.assert_allclose(drawn[2 * index + 1], found.maps[index], rtol=1e-6)
    keras_layer = cnn.model.model_.layers[1]  # after the Rescaling
    np.testing.assert_allclose(
        found.kernels, np.moveaxis(keras_layer.get_weights()[0][:, :, 0, :], -1, 0), rtol=1e-6
    )
    assert found.maps.min() >= 0 and found.maps.max() > 0  # ReLU: some filter finds something


def add_to_set(at: AppTest, label: int) -> AppTest:
    at.selectbox(key="handwriting_label").set_value(label)
    run(at)
    at.button(key="handwriting_add").click()
    return run(at)


def test_add_takes_the_drawing_on_the_pad_when_pressed(on_the_sample, models, sample):
    at = draw_page(models, None, opened=False)
    at.selectbox(key="handwriting_label").set_value(7)
    run(at)
    at.button(key="handwriting_add").click()  # nothing drawn yet: nothing added, the 7 kept
    run(at)
    assert "Draw your 7 on the pad above first" in texts(at.info)
    assert "handwriting_labels" not in at.session_state
    assert at.selectbox(key="handwriting_label").value == 7
    # the set's own part of the page did not rerun with the strokes: the press reads the pad
    first, last = drawing_of(sample.x_test[0]), drawing_of(sample.x_test[1])
    at.session_state[DRAWING_KEY] = first
    at.selectbox(key="handwriting_label").set_value(int(sample.y_test[1]))
    run(at)
    at.session_state[DRAWING_KEY] = last  # more strokes after the digit was chosen
    at.button(key="handwriting_add").click()
    run(at)
    np.testing.assert_array_equal(at.session_state["handwriting_images"][0], to_mnist(last))


def score_rows(at: AppTest) -> dict[str, list[str]]:
    (table,) = at.table
    frame = table.value
    return {row["Model"]: [str(value) for value in row.values] for _, row in frame.iterrows()}


@pytest.mark.slow
def test_a_labelled_drawing_joins_the_set_and_every_model_is_scored(on_the_sample, models, sample):
    drawings = [drawing_of(sample.x_test[index]) for index in range(3)]
    labels = [int(label) for label in sample.y_test[:3]]
    at = draw_page(models, drawings[0])
    assert not at.table
    add_to_set(at, labels[0])
    assert "your set now holds 1 digit." in texts(at.success)
    assert at.selectbox(key="handwriting_label").value is None  # asked afresh for each drawing
    for drawing, label in zip(drawings[1:], labels[1:], strict=True):
        at.session_state[DRAWING_KEY] = drawing
        add_to_set(at, label)
    images = np.array([to_mnist(drawing) for drawing in drawings])
    rows = score_rows(at)
    assert list(rows) == list(models)
    for name, trained in models.items():
        correct = int(np.sum(trained.model.predict(images) == labels))
        row = rows[name]
        assert f"{correct} of 3" in row
        assert f"{100 * correct / 3:.1f}" in row
        assert f"{100 * trained.test_accuracy:.1f}" in row  # beside its MNIST test accuracy
    assert at.selectbox(key="handwriting_confusion_model").options == list(models)
    stored = at.session_state["handwriting_labels"]
    assert stored.tolist() == labels


@pytest.mark.slow
def test_the_downloaded_set_can_be_uploaded_again(on_the_sample, models, sample, monkeypatch):
    offered = []  # the bytes the page hands to its download button

    def spy(images, labels):
        offered.append(teaching.handwriting_file(images, labels))
        return offered[-1]

    monkeypatch.setattr(
        "mnistkit.ui.teaching.teaching",
        SimpleNamespace(**{**vars(teaching), "handwriting_file": spy}),
    )
    at = draw_page(models, drawing_of(sample.x_test[4]))
    add_to_set(at, int(sample.y_test[4]))
    (button,) = at.get("download_button")
    assert button.label == "Download my set (.npz)"
    saved = offered[-1]
    fresh = draw_page(models, None)
    fresh.file_uploader(key="handwriting_upload").upload("mine.npz", saved, "application/zip")
    run(fresh)
    assert "Added 1 digit from mine.npz" in texts(fresh.success)
    assert np.array_equal(
        fresh.session_state["handwriting_images"], at.session_state["handwriting_images"]
    )
    assert score_rows(fresh).keys() == models.keys()


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


BAD_FILES = {
    "wrong keys": _npz(images=np.zeros((2, 28, 28), np.uint8), labels=np.array([1, 2])),
    "wrong shape": _npz(x=np.zeros((2, 27, 28), np.uint8), y=np.array([1, 2])),
    "wrong dtype": _npz(x=np.zeros((2, 28, 28), np.float64), y=np.array([1, 2])),
    "bad label": _npz(x=np.zeros((2, 28, 28), np.uint8), y=np.array([1, 11])),
    "lengths differ": _npz(x=np.zeros((2, 28, 28), np.uint8), y=np.array([1, 2, 3])),
    "pickle": _npz(x=np.full((2, 28, 28), {"x": 1}, dtype=object), y=np.array([1, 2])),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(BAD_FILES))
def test_a_bad_set_file_is_explained_and_the_set_and_models_survive(
    on_the_sample, models, sample, name
):
    at = draw_page(models, drawing_of(sample.x_test[5]))
    add_to_set(at, int(sample.y_test[5]))
    before = at.session_state["handwriting_images"].copy()
    at.file_uploader(key="handwriting_upload").upload("bad.npz", BAD_FILES[name], "application/zip")
    run(at)
    error = texts(at.error)
    assert error.startswith("bad.npz was not added: Cannot load the uploaded file:"), error
    assert np.array_equal(at.session_state["handwriting_images"], before)
    assert list(at.session_state[MODELS_KEY]) == list(models)
    assert list(score_rows(at)) == list(models)  # the page keeps working


def test_a_pen_lift_leaves_shut_sections_alone_and_an_open_one_works_once_per_drawing(
    on_the_sample, models, sample, monkeypatch
):
    import mnistkit.ui.drawing as pad
    import mnistkit.ui.teaching as sections

    calls: dict[str, int] = {}

    def count(module, name: str) -> None:
        original = getattr(module, name)

        def counted(*args, **kwargs):
            calls[name] = calls.get(name, 0) + 1
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)

    count(pad, "to_mnist")  # the drawing made 28x28
    count(sections, "preprocessing_steps")  # the inspector's step pictures
    count(teaching, "read_with_every_model")  # the inspector's and every model's readings
    count(teaching, "evidence")  # the linear model's evidence
    count(sections.plots, "readings_figure")  # every model's chart
    first, second, third = (drawing_of(sample.x_test[index]) for index in range(3))

    at = draw_page(models, first, opened=False)
    assert calls == {"to_mnist": 1}, calls  # once for the answer; no section worked
    assert "**1. Ink**" not in texts(at.markdown)
    assert [e.label for e in at.expander][:2] == [
        "Step by step: how your drawing becomes 28x28",
        "Every model reads the same drawing",
    ]

    at.session_state[DRAWING_KEY] = second  # a pen lift
    run(at)
    assert calls == {"to_mnist": 2}, calls

    at.session_state["section_inspector"] = at.session_state["section_every_model"] = True
    run(at)  # opened: they work, on the drawing already made 28x28
    assert calls == {
        "to_mnist": 2,
        "preprocessing_steps": 1,
        "read_with_every_model": 3,  # the inspector's two readings and every model's
        "readings_figure": 1,
    }, calls
    assert "**1. Ink**" in texts(at.markdown)

    at.slider(key="pen_width").set_value(30)  # a rerun that changes nothing they show
    run(at)
    assert calls["preprocessing_steps"] == 1 and calls["readings_figure"] == 1, calls
    assert calls["read_with_every_model"] == 3 and calls["to_mnist"] == 2, calls

    at.session_state[DRAWING_KEY] = third  # a pen lift with two sections open
    run(at)
    assert calls == {
        "to_mnist": 3,
        "preprocessing_steps": 2,
        "read_with_every_model": 6,
        "readings_figure": 2,
    }, calls  # once more each, for the new drawing; the shut evidence map never worked
