"""No exception ever reaches a page: every page and tab walked with AppTest on the bundled sample.

The walk holds a model that collapsed (it answers the same digit, with the same probabilities,
whatever it is shown) beside one that learned, so that two parts of a page can show identical
answers: the case that once gave a ``StreamlitDuplicateElementId`` traceback on the Draw page.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import sample_app
from drawings import canvas_png
from job_helpers import finish_run
from streamlit.testing.v1 import AppTest

PAGES = ["home", "data", "train", "evaluate", "compare", "draw"]
COMPARE_TABS = ["The article, step by step", "Learning curves", "Where the models disagree"]
DRAWING_KEY = "draw_drawing"
SECTIONS = ["section_inspector", "section_every_model", "section_evidence", "section_feature_maps"]


@pytest.fixture
def app(monkeypatch) -> AppTest:
    return sample_app(monkeypatch)


def no_traceback(at: AppTest, where: str) -> None:
    """Fail with the page and the exception when anything reached the page."""
    assert not at.exception, f"{where}: {[e.value for e in at.exception]}"
    shown = " ".join(str(e.value) for e in [*at.markdown, *at.error, *at.warning, *at.caption])
    assert "Traceback" not in shown and 'File "/' not in shown, f"{where}: {shown[:300]}"


def open_page(at: AppTest, name: str) -> AppTest:
    for key in SECTIONS:  # the Draw page's teaching sections, opened so that they run too
        at.session_state[key] = at.session_state["upload_" + key] = True
    at.switch_page(f"pages/{name}.py").run()
    no_traceback(at, name)
    return at


def train(at: AppTest, family: str, learning_rate: float | None = None, size: int = 1000) -> None:
    """A small run through the Train page's form (``size`` 0: every training digit)."""
    open_page(at, "train")
    at.radio(key="train_family").set_value(family).run()
    at.select_slider(key=f"train_{family}_train_size").set_value(size)
    at.slider(key=f"train_{family}_epochs").set_value(2)
    if learning_rate is not None:
        at.select_slider(key=f"train_{family}_learning_rate").set_value(learning_rate)
    finish_run(at.form_submit_button[0].click().run())
    no_traceback(at, f"train {family}")


def collapsed_only(at: AppTest) -> None:
    train(at, "sklearn-mlp", learning_rate=10.0, size=0)
    (trained,) = at.session_state["mnistkit_models"].values()
    assert trained.test_accuracy < 0.2  # it collapsed, as a learning rate of 10 makes it


def test_a_drawing_then_an_identical_upload_shows_no_traceback(app, sample):
    """The issue's steps: a collapsed model, a drawing, then a picture on the Upload tab."""
    collapsed_only(app)
    open_page(app, "draw")
    index = int(np.flatnonzero(sample.y_test == 3)[0])
    app.session_state[DRAWING_KEY] = np.repeat(
        (255 - np.kron(sample.x_test[index], np.ones((10, 10), np.uint8)))[..., None], 4, axis=2
    )
    app.run()
    no_traceback(app, "draw, after drawing")
    picture = canvas_png(sample.x_test[index], style="black-on-white", scale=5, offset=(20, 60))
    app.file_uploader(key="digit_picture").upload("three.png", picture, "image/png").run()
    no_traceback(app, "draw, after uploading")
    answers = [m.value for m in app.markdown if str(m.value).startswith("### Prediction:")]
    assert len(answers) == 2 and answers[0] == answers[1]  # identical answers, both shown


def test_every_page_and_tab_with_every_model_shows_no_traceback(app, sample):
    collapsed_only(app)
    train(app, "scratch-linear")
    names = list(app.session_state["mnistkit_models"])
    index = int(np.flatnonzero(sample.y_test == 7)[0])
    picture = canvas_png(sample.x_test[index], style="black-on-white", scale=5, offset=(20, 60))
    for name in PAGES:
        open_page(app, name)
    for tab in COMPARE_TABS:
        open_page(app, "compare")
        app.session_state["compare_tab"] = tab
        app.run()
        no_traceback(app, f"compare, {tab}")
    for model in names:  # the collapsed one too, chosen by hand
        for page in ("evaluate", "draw"):
            open_page(app, page)
            app.selectbox[0].set_value(model).run()
            no_traceback(app, f"{page} with {model}")
        app.session_state[DRAWING_KEY] = np.full((280, 280, 4), 255, np.uint8)  # an empty pad
        app.run()
        no_traceback(app, f"draw with {model}, empty pad")
        app.file_uploader(key="digit_picture").upload("seven.png", picture, "image/png").run()
        no_traceback(app, f"draw with {model}, a picture")
        app.file_uploader(key="digit_picture").upload("bad.png", b"not a picture", "image/png")
        app.run()
        no_traceback(app, f"draw with {model}, a bad picture")
