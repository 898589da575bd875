"""Issue 16 in a real browser: with a model that collapsed, draw a digit, then upload a picture of
the same digit; the page shows both answers and no traceback, at 1400 px and at 390 px.
Screenshots land in artifacts/screenshots/ (git-ignored)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from browser_helpers import (
    CANVAS,
    PREDICTION,
    digit_strokes,
    draw,
    error_texts,
    open_page,
    screenshot,
    streamlit_server,
    wait_for_answer,
    wait_for_idle,
)
from conftest import ROOT
from drawings import canvas_png

pytestmark = pytest.mark.browser

UPLOAD_ANSWER = ".st-key-upload_prediction"
EXCEPTION = '[data-testid="stException"]'


@pytest.fixture(scope="module")
def collapsed_folder(tmp_path_factory, sample):
    """A ready-made scikit-learn MLP trained at a learning rate of 10: it collapsed."""
    from mnistkit import persistence
    from mnistkit.training import RunConfig, train

    config = RunConfig("sklearn-mlp", hyperparameters={"learning_rate": 10.0}, epochs=2)
    trained = train(config, sample)
    assert trained.test_accuracy < 0.2
    folder = tmp_path_factory.mktemp("ready-made-collapsed")
    persistence.save(trained, folder / "collapsed")
    three = sample.x_test[int(np.flatnonzero(sample.y_test == 3)[0])]
    (folder.parent / "three.png").write_bytes(canvas_png(three, "black-on-white", 5, (20, 60)))
    return folder


@pytest.fixture(scope="module")
def server(chromium, collapsed_folder):
    environment = {"MNISTKIT_DATA": "sample", "MNISTKIT_MODELS_DIR": str(collapsed_folder)}
    with streamlit_server(environment, ROOT / "artifacts" / "server-teacher.log") as running:
        yield running


@pytest.mark.parametrize("width", [1400, 390])
def test_drawing_then_uploading_with_a_collapsed_model_shows_no_traceback(
    browser, server, collapsed_folder, width
):
    with open_page(browser, f"{server.url}/draw", width=width) as page:
        assert "reads no better than chance" in page.locator('[data-testid="stMain"]').inner_text()
        page.locator(CANVAS).first.wait_for()
        draw(page, digit_strokes(3, 130, 140, 170))
        wait_for_answer(page)
        wait_for_idle(page)
        page.get_by_role("tab", name="Upload a picture").click()
        picture = collapsed_folder.parent / "three.png"
        page.locator(".st-key-digit_picture input[type=file]").set_input_files(str(picture))
        wait_for_answer(page, UPLOAD_ANSWER)
        wait_for_idle(page)
        screenshot(page, f"teacher-collapsed-upload-{width}")
        assert page.query_selector_all(EXCEPTION) == []
        assert error_texts(page) == []
        drawn = re.search(r"Prediction: \d", page.locator(PREDICTION).text_content())
        uploaded = re.search(r"Prediction: \d", page.locator(UPLOAD_ANSWER).text_content())
        assert drawn and uploaded
        assert drawn.group() == uploaded.group()  # the same answer twice: it raised before


@pytest.mark.parametrize(("width", "numbers_shown"), [(1400, True), (390, False)])
def test_the_pixel_grid_shows_its_numbers_where_they_fit(browser, server, width, numbers_shown):
    """On a projector the 784 numbers are written on the grid; on a phone, where 28 of them
    cannot fit across, the grid keeps its shades and the numbers are in the box below."""
    with open_page(browser, f"{server.url}/data", width=width) as page:
        label = page.locator(".st-key-data_pixel_grid g.heatmap-label text").first
        label.wait_for(state="attached")
        assert label.is_visible() is numbers_shown
        if numbers_shown:  # readable from the back of a room: at least 12 px tall
            assert label.bounding_box()["height"] >= 12
        screenshot(page, f"teacher-data-grid-{width}")
