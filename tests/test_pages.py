"""The dashboard's pages, run headless with Streamlit's AppTest on the bundled sample."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import plotly.io
import pytest
from conftest import ROOT, TITLES, keras_slow, sample_app
from drawings import canvas_png
from job_helpers import finish_run
from streamlit.testing.v1 import AppTest

APP = ROOT / "app.py"
PAGES = {
    "home": "pages/home.py",
    "data": "pages/data.py",
    "train": "pages/train.py",
    "evaluate": "pages/evaluate.py",
    "compare": "pages/compare.py",
    "draw": "pages/draw.py",
}
MODELS_KEY = "mnistkit_models"


@pytest.fixture
def app(monkeypatch) -> AppTest:
    return sample_app(monkeypatch, timeout=180)


def open_page(at: AppTest, name: str) -> AppTest:
    """Show page ``name`` in the same session (as a click in the sidebar would)."""
    at.switch_page(PAGES[name]).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def own_models(at: AppTest) -> dict:
    return dict(at.session_state[MODELS_KEY]) if MODELS_KEY in at.session_state else {}


def train_through_the_form(at: AppTest, family="scratch-linear", train_size=1000, epochs=2):
    """Fill in the Train page's form for a small run and press Train."""
    open_page(at, "train")
    at.radio(key="train_family").set_value(family).run()
    at.select_slider(key=f"train_{family}_train_size").set_value(train_size)
    at.slider(key=f"train_{family}_epochs").set_value(epochs)
    finish_run(at.form_submit_button[0].click().run())
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements) -> str:
    return "\n".join(str(element.value) for element in elements)


@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_renders_on_the_bundled_sample(app, name):
    open_page(app, name)
    assert [title.value for title in app.title] == [TITLES[name]]
    sidebar = texts(app.sidebar.caption)
    assert "sample" in sidebar.lower(), sidebar  # the data source, as Dataset.source says it


def test_home_links_the_four_steps_and_compare(app):
    open_page(app, "home")
    links = {link.proto.page for link in app.get("page_link")}
    assert {"data", "train", "evaluate", "draw", "compare"} <= {link.strip("/") for link in links}


def test_the_data_page_filters_and_reshuffles_its_digits(app, sample):
    open_page(app, "data")
    app.get("button_group")[0].set_value(3).run()
    before = list(app.image[0].captions)  # the sample grid comes first
    assert len(before) == 39 and all(caption.startswith("3 ") for caption in before)
    next(button for button in app.button if button.label == "Shuffle").click().run()
    after = list(app.image[0].captions)
    assert after != before and all(caption.startswith("3 ") for caption in after)


def test_the_data_page_shows_a_digits_pixel_values(app, sample):
    open_page(app, "data")
    app.number_input[0].set_value(7).run()
    printed = app.code[0].value.splitlines()
    assert len(printed) == 28
    assert [int(value) for value in printed[14].split()] == list(sample.x_train[7][14])


@pytest.mark.parametrize(
    "family", keras_slow(["scratch-linear", "sklearn-mlp", "keras-mlp", "keras-cnn"])
)
def test_training_through_the_form_adds_a_model_to_the_session(app, family):
    train_through_the_form(app, family, train_size=1000, epochs=1)
    models = own_models(app)
    assert len(models) == 1
    ((name, trained),) = models.items()
    assert trained.config.model == family and trained.config.train_size == 1000
    assert trained.config.epochs == 1 and len(trained.history) == 1
    assert name in texts(app.success)
    assert f"{100 * trained.test_accuracy:.1f}%" in name  # a readable name with its score


def test_moving_a_slider_does_not_train(app):
    open_page(app, "train")
    app.slider(key="train_scratch-linear_epochs").set_value(3).run()
    app.select_slider(key="train_scratch-linear_train_size").set_value(500).run()
    assert own_models(app) == {}


def test_the_article_preset_fills_in_the_article_settings(app):
    open_page(app, "train")
    app.selectbox(key="train_scratch-linear_preset").set_value("article").run()
    finish_run(app.form_submit_button[0].click().run())
    (trained,) = own_models(app).values()
    assert trained.config.preset() == "article"
    assert trained.config.train_size == 1000 and trained.config.epochs == 5
    assert "article preset" in trained.name


def test_a_divergent_run_shows_a_sentence_not_a_traceback(app):
    open_page(app, "train")
    app.select_slider(key="train_scratch-linear_learning_rate").set_value(10.0)
    app.selectbox(key="train_scratch-linear_loss").set_value("squared_error")
    app.select_slider(key="train_scratch-linear_train_size").set_value(1000)
    finish_run(app.form_submit_button[0].click().run())
    assert not app.exception
    assert "learning rate" in texts(app.error).lower()
    assert own_models(app) == {}


def test_unreadable_layer_widths_are_explained(app):
    open_page(app, "train")
    app.radio(key="train_family").set_value("sklearn-mlp").run()
    app.text_input(key="train_sklearn-mlp_hidden_layers").input("128-lots")
    app.form_submit_button[0].click().run()
    assert not app.exception
    assert "hidden_layers" in texts(app.error)
    assert own_models(app) == {}


def test_evaluate_shows_the_confusion_matrix_of_a_trained_model(app):
    train_through_the_form(app)
    (trained,) = own_models(app).values()
    open_page(app, "evaluate")
    accuracy = next(metric for metric in app.metric if metric.label == "Test accuracy")
    assert accuracy.value == f"{100 * trained.test_accuracy:.1f}%"
    figures = [plotly.io.from_json(chart.proto.spec) for chart in app.get("plotly_chart")]
    confusion = next(figure for figure in figures if figure.data[0].type == "heatmap")
    counts = np.asarray(confusion.data[0].text)
    assert counts.shape == (10, 10) and counts.sum() == 1000  # the sample's test digits
    assert confusion.layout.xaxis.title.text == "Predicted digit"
    assert "test digits that are" in texts(app.markdown)


@pytest.mark.slow
def test_choosing_a_confusion_cell_shows_its_digits(app, sample):
    train_through_the_form(app)
    open_page(app, "evaluate")
    app.selectbox(key="cell_true").set_value(3)
    app.selectbox(key="cell_predicted").set_value(3).run()
    (trained,) = own_models(app).values()
    correct_threes = int(np.sum((trained.predict(sample.x_test) == 3) & (sample.y_test == 3)))
    assert f"**{correct_threes:,}** test digits that are 3 were read correctly." in texts(
        app.markdown
    )


def test_evaluate_without_a_model_points_to_train(app):
    open_page(app, "evaluate")
    assert "train one first" in texts(app.info)


def test_draw_without_a_model_offers_a_quick_model(app):
    open_page(app, "draw")
    assert "There is no model yet" in texts(app.info)
    (button,) = [b for b in app.button if b.label == "Train a quick model"]
    button.click().run()
    assert not app.exception
    finish_run(app)  # trained in a worker, like a Train run; the page shows the pad when done
    (trained,) = own_models(app).values()
    assert trained.test_accuracy > 0.85  # on the sample's 1,000 test digits
    assert "Draw a digit and the model's answer appears here." in texts(app.markdown)


@pytest.mark.slow
def test_an_uploaded_picture_is_read_on_the_draw_page(app, sample):
    train_through_the_form(app, "sklearn-mlp", train_size=0, epochs=3)
    open_page(app, "draw")
    index = int(np.flatnonzero(sample.y_test == 7)[0])
    picture = canvas_png(sample.x_test[index], style="black-on-white", scale=5, offset=(20, 60))
    app.file_uploader(key="digit_picture").upload("seven.png", picture, "image/png").run()
    assert not app.exception
    assert "Prediction: 7" in texts(app.markdown)


@pytest.mark.slow
def test_a_bad_picture_shows_an_error_and_the_page_keeps_working(app):
    train_through_the_form(app)
    open_page(app, "draw")
    app.file_uploader(key="digit_picture").upload("digit.png", b"not a picture", "image/png")
    app.run()
    assert not app.exception
    assert "could not be used" in texts(app.error)
    assert len(own_models(app)) == 1
    open_page(app, "evaluate")  # and the rest still works


@pytest.mark.slow
def test_a_bad_model_file_shows_an_error_and_keeps_the_models(app):
    train_through_the_form(app)
    before = own_models(app)
    app.file_uploader(key="model_upload").upload("model.keras", b"PK\x03\x04 not really").run()
    assert not app.exception
    assert "model.keras was not added" in texts(app.error)
    assert own_models(app).keys() == before.keys()
    finish_run(app.form_submit_button[0].click().run())  # the page still trains
    assert len(own_models(app)) == 2


@pytest.mark.slow
def test_a_downloaded_model_can_be_uploaded_again(app, monkeypatch):
    from mnistkit import persistence

    train_through_the_form(app)
    (trained,) = own_models(app).values()
    data, filename = persistence.dumps(trained)
    fresh = AppTest.from_file(str(APP), default_timeout=180).run()
    open_page(fresh, "train")
    fresh.file_uploader(key="model_upload").upload(filename, data).run()
    assert not fresh.exception
    assert list(own_models(fresh)) == [trained.name]
    assert "was added to your models" in texts(fresh.success)


def test_ready_made_models_are_offered_to_every_visitor(app, monkeypatch, tmp_path, sample):
    from mnistkit import persistence
    from mnistkit.training import RunConfig, train

    trained = train(RunConfig("scratch-linear", train_size=1000, epochs=1), sample)
    persistence.save(trained, tmp_path / "teacher")
    (tmp_path / "notes.txt").write_text("not a model")
    monkeypatch.setenv("MNISTKIT_MODELS_DIR", str(tmp_path))
    open_page(app, "draw")
    (picker,) = [box for box in app.selectbox if box.label == "Model that reads your digit"]
    assert picker.options == [f"{trained.name} (ready-made)"]
    assert "notes.txt" in texts(app.warning)  # a file that is not a model is named, not fatal
    assert own_models(app) == {}  # ready-made models are shared, not copied into the session


HOME_IMPORTS = """
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[1], default_timeout=120).run()
assert not at.exception, at.exception
print(sorted(name for name in ("keras", "jax") if name in sys.modules))
"""


def _modules_after_home(environment: dict[str, str]) -> str:
    """Which of keras and jax a fresh process has imported after rendering the home page."""
    result = subprocess.run(
        [sys.executable, "-c", HOME_IMPORTS, str(APP)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_the_home_page_first_render_imports_neither_keras_nor_jax(monkeypatch):
    environment = {k: v for k, v in os.environ.items() if k != "MNISTKIT_MODELS_DIR"}
    assert _modules_after_home({**environment, "MNISTKIT_DATA": "sample"}) == "[]"


@pytest.mark.slow
def test_ready_made_keras_models_do_not_slow_the_home_page(tmp_path, sample):
    from mnistkit import persistence
    from mnistkit.training import RunConfig, train

    trained = train(RunConfig("keras-mlp", train_size=500, epochs=1), sample)
    persistence.save(trained, tmp_path / "keras-model")
    environment = {**os.environ, "MNISTKIT_DATA": "sample", "MNISTKIT_MODELS_DIR": str(tmp_path)}
    assert _modules_after_home(environment) == "[]"


def test_pages_stay_thin_and_only_the_ui_imports_streamlit():
    for page in (ROOT / "pages").glob("*.py"):
        assert len(page.read_text().splitlines()) < 150, page.name
    for module in (ROOT / "mnistkit").rglob("*.py"):
        if "ui" not in module.relative_to(ROOT / "mnistkit").parts:
            assert "import streamlit" not in module.read_text(), module
