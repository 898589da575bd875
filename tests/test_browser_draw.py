"""The Draw page's teaching sections in a real browser: digits drawn with the mouse are labelled
and added to the learner's set, and the preprocessing switches are flipped. Screenshots land in
artifacts/screenshots/ (git-ignored)."""

from __future__ import annotations

import re

import pytest
from browser_helpers import (
    CANVAS,
    add_to_set,
    clear_canvas,
    digit_strokes,
    error_texts,
    open_page,
    prediction_after_drawing,
    screenshot,
    settled_text,
    streamlit_server,
    wait_for_idle,
)
from conftest import ROOT

pytestmark = pytest.mark.browser

SCORES = ".st-key-handwriting_scores"
INSPECTOR = ".st-key-inspector_answer"


@pytest.fixture(scope="module")
def two_models(tmp_path_factory, sample):
    """A ready-made linear net and MLP, trained on the bundled sample (a few seconds)."""
    from mnistkit import persistence
    from mnistkit.training import RunConfig, train

    folder = tmp_path_factory.mktemp("ready-made-two")
    for number, config in enumerate(
        (RunConfig("scratch-linear", epochs=5), RunConfig("sklearn-mlp", epochs=10))
    ):
        persistence.save(train(config, sample), folder / f"model-{number}")
    return folder


@pytest.fixture(scope="module")
def server(chromium, two_models):
    environment = {"MNISTKIT_DATA": "sample", "MNISTKIT_MODELS_DIR": str(two_models)}
    with streamlit_server(environment, ROOT / "artifacts" / "server-draw.log") as running:
        yield running


@pytest.fixture
def page(browser, server):
    with open_page(browser, f"{server.url}/draw") as page:
        page.locator(CANVAS).first.wait_for()
        for section in ("inspector", "every_model"):  # shut until opened, as a learner opens them
            open_section(page, section)
        yield page


def open_section(page, name: str) -> None:
    """Click a teaching section's title open and wait for what it shows."""
    page.locator(f".st-key-section_{name} summary").first.click()
    wait_for_idle(page)


def draw_and_read(page, strokes) -> int:
    """Draw, wait for the whole drawing's answer, and return the predicted digit."""
    answer = prediction_after_drawing(page, strokes)
    return int(re.search(r"Prediction: (\d)", answer).group(1))


def model_cards(page) -> list[int]:
    """What each model reads in the side-by-side view, in order."""
    cards = page.get_by_text(re.compile(r"^Reads \d$")).all_inner_texts()
    return [int(card.split()[-1]) for card in cards]


def test_a_drawn_and_labelled_digit_updates_the_accuracy_table(page):
    assert "Your set is empty" in page.locator('[data-testid="stMain"]').inner_text()
    draw_and_read(page, digit_strokes(1, 140, 140, 190))
    readings = model_cards(page)
    assert len(readings) == 2
    add_to_set(page, 1)
    page.get_by_text("your set now holds 1 digit.").wait_for()
    table = settled_text(page, SCORES)
    for reading in readings:
        assert f"{int(reading == 1)} of 1" in table, table
    screenshot(page, "draw-handwriting-1")

    clear_canvas(page)
    draw_and_read(page, digit_strokes(7, 150, 140, 190))
    readings_of_seven = model_cards(page)
    add_to_set(page, 7)
    page.get_by_text("your set now holds 2 digits.").wait_for()
    table = settled_text(page, SCORES)
    rows = table.splitlines()
    for first, second in zip(readings, readings_of_seven, strict=True):
        correct = int(first == 1) + int(second == 7)
        assert any(f"{correct} of 2" in row for row in rows), table
    assert "of 1" not in table
    assert error_texts(page) == []
    screenshot(page, "draw-handwriting-2")


def test_turning_centring_off_shows_the_step_skipped(page):
    draw_and_read(page, digit_strokes(7, 70, 200, 110))  # small, in the lower-left corner
    assert "Centred in 28x28" in page.locator('[data-testid="stMain"]').inner_text()
    assert "with every step" in settled_text(page, INSPECTOR).lower()
    screenshot(page, "draw-inspector-all-steps")

    page.get_by_text("Centre by centre of mass").click()
    page.get_by_text("Step skipped: centring by centre of mass").wait_for()
    wait_for_idle(page)
    main = page.locator('[data-testid="stMain"]').inner_text()
    assert "Placed, not centred" in main and "Centred in 28x28" not in main
    assert re.search(r"With these steps .+ reads \d .+ with every step it reads \d", main)
    assert error_texts(page) == []
    screenshot(page, "draw-inspector-no-centring")
