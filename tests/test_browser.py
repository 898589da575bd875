"""The dashboard in a real browser: `streamlit run app.py` driven by Chromium through Playwright.

Digits are drawn on the Draw page with the mouse, stroke by stroke, off-centre and at different
sizes, and the model's answer is read back from the page. Screenshots of every page land in
artifacts/screenshots/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import re

import pytest
from browser_helpers import (
    CANVAS,
    PREDICTION,
    clear_canvas,
    click_plot_point,
    digit_strokes,
    error_texts,
    go_to,
    open_page,
    prediction_after_drawing,
    screenshot,
    streamlit_server,
    wait_for_idle,
)
from conftest import ROOT, TITLES

pytestmark = pytest.mark.browser

PAGES = {
    "home": "",
    "data": "data",
    "train": "train",
    "evaluate": "evaluate",
    "compare": "compare",
    "draw": "draw",
}
# (digit, centre x, centre y, height) in canvas pixels: off-centre, small and large.
DRAWINGS = [
    (7, 95, 110, 150),
    (1, 200, 160, 110),
    (0, 150, 150, 210),
    (3, 110, 170, 120),
    (2, 170, 110, 130),
    (4, 120, 140, 170),
]


@pytest.fixture(scope="session")
def ready_made_models(tmp_path_factory, mnist):
    """A folder holding the Draw page's quick model, trained on all of MNIST, as a teacher would."""
    from mnistkit import persistence
    from mnistkit.training import train
    from mnistkit.ui.training import quick_config

    folder = tmp_path_factory.mktemp("ready-made")
    trained = train(quick_config(), mnist)
    assert trained.test_accuracy > 0.96
    persistence.save(trained, folder / "teacher")
    return folder


@pytest.fixture(scope="module")
def full_server(chromium, mnist_path, ready_made_models):
    environment = {"MNISTKIT_DATA": str(mnist_path), "MNISTKIT_MODELS_DIR": str(ready_made_models)}
    with streamlit_server(environment, ROOT / "artifacts" / "server-full.log") as server:
        yield server


@pytest.fixture(scope="module")
def sample_server(chromium):
    environment = {"MNISTKIT_DATA": "sample", "MNISTKIT_MODELS_DIR": ""}
    with streamlit_server(environment, ROOT / "artifacts" / "server-sample.log") as server:
        yield server


@pytest.fixture
def page(browser):
    with open_page(browser) as page:
        yield page


def test_a_link_straight_to_a_page_gets_the_router_on_a_fresh_server(chromium, page):
    # Streamlit runs a file of pages/ by itself when its address is a fresh server's first
    # request; the page must then rerun through app.py, with its navigation and sidebar.
    environment = {"MNISTKIT_DATA": "sample", "MNISTKIT_MODELS_DIR": ""}
    with streamlit_server(environment, ROOT / "artifacts" / "server-fresh.log") as server:
        page.goto(f"{server.url}/train")
        wait_for_idle(page)
        page.get_by_text("Digits in use").wait_for()
        links = page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()
        assert [link.split()[-1] for link in links] == [
            "Home",
            "digits",
            "Train",
            "Evaluate",
            "Compare",
            "Draw",
            "Class",
        ]
        assert page.get_by_role("heading", name=TITLES["train"]).is_visible()
        assert not error_texts(page)


def visit(page, server, name: str) -> None:
    page.goto(f"{server.url}/{PAGES[name]}")
    wait_for_idle(page)


@pytest.mark.slow
@pytest.mark.parametrize(("digit", "x", "y", "height"), DRAWINGS)
def test_a_digit_drawn_with_the_mouse_is_read(full_server, page, digit, x, y, height):
    visit(page, full_server, "draw")  # a link straight to /draw works on a fresh server
    page.locator(CANVAS).first.wait_for()
    answer = prediction_after_drawing(page, digit_strokes(digit, x, y, height))
    screenshot(page, f"draw-{digit}")
    assert re.search(rf"Prediction: {digit}\b", answer), answer
    # the ten bars beside it: the answer's bar is the one marked, with the caption's percent
    bars = page.locator('[data-testid="answer-bars"]').first
    assert bars.locator(".ab-row").count() == 10
    assert bars.get_attribute("data-best") == str(digit)
    sure = int(re.search(r"(\d+)% sure", answer).group(1))
    assert abs(int(bars.locator(".ab-best .ab-value").inner_text().rstrip("%")) - sure) <= 1
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 0  # no plotly on the pad
    assert error_texts(page) == []


@pytest.mark.slow
def test_clear_empties_the_canvas_and_the_answer_follows_the_next_drawing(full_server, page):
    visit(page, full_server, "draw")
    assert "Prediction: 1" in prediction_after_drawing(page, digit_strokes(1, 140, 140, 150))
    clear_canvas(page)
    assert "Prediction:" not in page.locator(PREDICTION).inner_text()
    assert "Prediction: 7" in prediction_after_drawing(page, digit_strokes(7, 150, 130, 160))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_renders_on_the_full_data_set(full_server, page, name):
    visit(page, full_server, name)
    assert page.locator("h1").first.inner_text() == TITLES[name]
    assert "60,000" in page.locator('[data-testid="stSidebarUserContent"]').inner_text()
    assert error_texts(page) == []
    screenshot(page, f"full-{name}")


@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_renders_on_the_bundled_sample(sample_server, page, name):
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    visit(page, sample_server, name)
    assert page.locator("h1").first.inner_text() == TITLES[name]
    assert error_texts(page) == []
    # a class behind a school's firewall gets every file from the app's own server
    elsewhere = [url for url in fetched if not url.startswith((f"{sample_server.url}/", "blob:"))]
    assert elsewhere == [], f"the {name} page fetched files from elsewhere: {elsewhere}"
    screenshot(page, f"sample-{name}")


def test_a_visitor_trains_evaluates_and_draws(sample_server, page):
    visit(page, sample_server, "train")
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("is ready: it reads").wait_for()
    wait_for_idle(page)
    assert error_texts(page) == []
    screenshot(page, "sample-train-done")

    go_to(page, "Evaluate")
    click_plot_point(page, page.locator(".stPlotlyChart").first, 9, 4)  # predicted 9, true 4
    wait_for_idle(page)
    assert page.get_by_text(re.compile(r"test digits that are 4 were read as 9")).is_visible()
    screenshot(page, "sample-evaluate-cell")

    go_to(page, "Draw")
    answer = prediction_after_drawing(page, digit_strokes(1, 150, 140, 160))
    assert "Prediction:" in answer
    assert error_texts(page) == []


# A learner picks a family, and presses Train on the form still on screen while the page reruns
# for the new family (under load that takes seconds): the press must train the family picked.
PICK_AND_PRESS = """async family => {
    const label = [...document.querySelectorAll('[data-testid="stRadio"] label')]
        .find(element => element.innerText.includes(family));
    const train = [...document.querySelectorAll('[data-testid="stBaseButton-primaryFormSubmit"]')]
        .find(element => element.innerText.includes('Train'));
    // old elements marked stale: the rerun for the new family is under way
    const running = () => document.querySelector('[data-stale="true"]');
    label.click();
    const started = performance.now();
    while (!running()) {
        if (performance.now() - started > 20000) return 'the page never started its rerun';
        await new Promise(resolve => setTimeout(resolve, 2));
    }
    train.click();  // the old form's button, while the new family's run is under way
    return 'pressed';
}"""


# The server's messages reach the page 50 ms apart, as from a server busy with a class: each is
# handled in its own turn of the page's loop, so a rerun's start is drawn (the old elements marked
# stale) before its new elements come. A lone test server is so quick that its whole rerun can
# arrive at once, and the old form is then replaced before anyone could press it.
SLOW_MESSAGES = """(() => {
    const Real = window.WebSocket;
    window.WebSocket = class extends Real {
        addEventListener(type, listener, ...rest) {
            if (type !== 'message') return super.addEventListener(type, listener, ...rest);
            let due = 0;
            return super.addEventListener(type, event => {
                due = Math.max(due, performance.now()) + 50;
                setTimeout(() => listener.call(this, event), due - performance.now());
            }, ...rest);
        }
    };
})()"""


def test_train_pressed_while_the_family_changes_trains_the_chosen_family(sample_server, page):
    page.add_init_script(SLOW_MESSAGES)
    visit(page, sample_server, "train")  # the form on screen is the first family's
    page.get_by_role("button", name="Train", exact=True).wait_for()  # the last messages came
    wait_for_idle(page)
    assert page.evaluate(PICK_AND_PRESS, "scikit-learn MLP") == "pressed"
    ready = page.locator('[data-testid="stAlertContentSuccess"]', has_text="is ready: it reads")
    ready.wait_for()
    assert "scikit-learn MLP" in ready.inner_text()  # the family the learner picked
    wait_for_idle(page)
    assert error_texts(page) == []
