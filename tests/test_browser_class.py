"""Class mode in a real browser, on SQLite and on PostgreSQL: a whole lesson.

A teacher creates a class; two learners in two browser contexts join by the link, each trains a
small model and draws and labels five digits; one reloads and gets everything back; the
teacher's view shows ten digits and both learners; the server restarts on the same database and
everything is still there; the export loads with ``load_mnist``. Screenshots land in
artifacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

import re
from contextlib import ExitStack

import pytest
from browser_helpers import (
    CANVAS,
    add_to_set,
    clear_canvas,
    digit_strokes,
    draw,
    error_texts,
    go_to,
    open_page,
    screenshot,
    streamlit_server,
    wait_for_answer,
    wait_for_idle,
)
from conftest import ROOT, fresh_postgres_database
from playwright.sync_api import expect

from mnistkit.data import load_mnist

pytestmark = pytest.mark.browser

DIGITS = (0, 1, 2, 3, 4)
MAIN = '[data-testid="stMain"]'


@pytest.fixture(params=["sqlite", "postgresql"])
def class_database(request, tmp_path):
    """The environment that points a server at a fresh class database."""
    if request.param == "sqlite":
        yield {"MNISTKIT_STATE_DIR": str(tmp_path / "state"), "MNISTKIT_DATABASE_URL": ""}
    else:
        with fresh_postgres_database(request.getfixturevalue("postgres_url")) as url:
            yield {"MNISTKIT_DATABASE_URL": url}


def alert_sentences(page) -> list[str]:
    """Each error box's text without its icon's name: the sentence a visitor reads."""
    return [text.strip().splitlines()[-1] for text in error_texts(page)]


def create_class(page) -> tuple[str, str, str, str]:
    page.get_by_label("Class name").fill("Year 9 maths")
    page.get_by_role("button", name="Create the class").click()
    created = page.locator(".st-key-class_created")
    created.wait_for()
    wait_for_idle(page)
    text = created.inner_text()
    code = re.search(r"Join code: (\w+)", text).group(1)
    key = page.locator(".st-key-class_teacher_key code").inner_text().strip()
    links = [c.strip() for c in page.locator(".st-key-class_created code").all_inner_texts()]
    join = next(link for link in links if "?join=" in link)
    teacher = next(link for link in links if "teacher=" in link)
    return code, key, join, teacher


def join(page, nickname: str) -> None:
    page.get_by_label(re.compile("^Nickname")).fill(nickname)
    page.get_by_role("button", name="Join", exact=True).click()
    page.get_by_text(f"as {nickname}. Your models").wait_for()
    page.wait_for_function("() => document.cookie.includes('mnistkit_learner=')")


def train_small_model(page) -> str:
    go_to(page, "Train")
    page.get_by_role("button", name="Train", exact=True).click()
    ready = page.get_by_text(re.compile("is ready: it reads"))
    ready.wait_for()
    wait_for_idle(page)
    return ready.inner_text().split(" is ready")[0]


def draw_five(page) -> None:
    go_to(page, "Draw")
    page.locator(CANVAS).first.wait_for()
    page.wait_for_timeout(500)
    for number, digit in enumerate(DIGITS, start=1):
        if number > 1:
            clear_canvas(page)
        draw(page, digit_strokes(digit, 140, 140, 180))
        wait_for_answer(page)
        wait_for_idle(page)
        add_to_set(page, digit)
        plural = "digit" if number == 1 else "digits"
        page.get_by_text(f"your set now holds {number} {plural}.").wait_for()
        wait_for_idle(page)


def teacher_sees(page, teacher_link: str, digits: int, nicknames: list[str]) -> None:
    page.goto(teacher_link)
    wait_for_idle(page)
    page.locator(".st-key-class_digit_count").wait_for()
    assert f"{digits} digits" in page.locator(".st-key-class_digit_count").inner_text()
    screenshot(page, "class-teacher-view-latest")
    learners = page.locator(".st-key-class_learners").inner_text()
    for nickname in nicknames:
        assert nickname in learners, learners


def test_a_whole_lesson_survives_a_reload_and_a_server_restart(
    browser, chromium, class_database, tmp_path
):
    environment = {"MNISTKIT_DATA": "sample", **class_database}
    name = "sqlite" if "MNISTKIT_STATE_DIR" in class_database else "postgresql"
    log = ROOT / "artifacts" / f"server-class-{name}.log"
    with ExitStack() as stack:
        server = stack.enter_context(streamlit_server(environment, log))
        teacher = stack.enter_context(open_page(browser, f"{server.url}/class"))
        code, key, join_link, teacher_link = create_class(teacher)
        assert len(code) == 6 and len(key) >= 20
        assert teacher.locator(MAIN).get_by_role("img").count() >= 1  # the QR code
        screenshot(teacher, f"class-{name}-created")

        models = {}
        pages = {}
        for nickname in ("Ana", "Ben"):
            local = join_link.replace("http://localhost:8501", server.url)
            local = re.sub(r"^http://[^/]+", server.url, local)
            page = stack.enter_context(open_page(browser, local))
            expect(page.get_by_label("Join code").first).to_have_value(code)
            join(page, nickname)
            models[nickname] = train_small_model(page)
            draw_five(page)
            pages[nickname] = page
        screenshot(pages["Ben"], f"class-{name}-learner-draw")

        ana = pages["Ana"]
        ana.reload()
        wait_for_idle(ana)
        go_to(ana, "Train")
        assert models["Ana"] in ana.locator('[data-testid="stSidebar"]').inner_text()
        ana.locator(MAIN).get_by_text(re.compile("is saved in class")).wait_for()
        go_to(ana, "Draw")
        ana.get_by_text("Your set holds 5 digits").wait_for()
        assert error_texts(ana) == []

        teacher_sees(
            teacher,
            teacher_link.replace(re.match(r"^http://[^/]+", teacher_link).group(0), server.url),
            10,
            ["Ana", "Ben"],
        )
        assert error_texts(teacher) == []
        screenshot(teacher, f"class-{name}-teacher")

    # The server restarts on the same database: everything is still there.
    with ExitStack() as stack:
        server = stack.enter_context(streamlit_server(environment, log.with_suffix(".2.log")))
        page = stack.enter_context(open_page(browser, f"{server.url}/class"))
        here = re.sub(r"^http://[^/]+", server.url, teacher_link)
        teacher_sees(page, here, 10, ["Ana", "Ben"])
        with page.expect_download() as download:
            page.get_by_role("button", name="Download .npz").click()
        path = tmp_path / "class.npz"
        download.value.save_as(path)
        exported = load_mnist(path)
        assert exported.n_train + exported.n_test == 10
        assert sorted([*exported.y_train, *exported.y_test]) == sorted(DIGITS * 2)
        assert error_texts(page) == []


def test_bad_input_in_the_browser_is_one_sentence_and_never_html(browser, chromium, tmp_path):
    environment = {"MNISTKIT_DATA": "sample", "MNISTKIT_STATE_DIR": str(tmp_path / "state")}
    log = ROOT / "artifacts" / "server-class-bad-input.log"
    with ExitStack() as stack:
        server = stack.enter_context(streamlit_server(environment, log))
        page = stack.enter_context(open_page(browser, f"{server.url}/class"))
        code, _, _, teacher_link = create_class(page)

        page.get_by_label("Join code").first.fill("WRONG9")
        page.get_by_label(re.compile("^Nickname")).fill("Ana")
        page.get_by_role("button", name="Join", exact=True).click()
        page.get_by_text("There is no class with that join code").wait_for()
        assert alert_sentences(page) == [
            "There is no class with that join code; check the code with your teacher."
        ]

        nickname = '<img src="x" id="injected">'[:24]
        page.get_by_label("Join code").first.fill(code)
        page.get_by_label(re.compile("^Nickname")).fill(nickname)
        page.get_by_role("button", name="Join", exact=True).click()
        page.get_by_text(f"as {nickname}. Your models").wait_for()
        assert page.locator("#injected").count() == 0  # shown as text, never as HTML
        assert nickname in page.locator('[data-testid="stSidebar"]').inner_text()
        page.wait_for_function("() => document.cookie.includes('mnistkit_learner=')")

        wrong = re.sub(r"teacher=[^&]+", "teacher=not-the-key", teacher_link)
        page.goto(re.sub(r"^http://[^/]+", server.url, wrong))
        wait_for_idle(page)
        assert nickname in page.locator('[data-testid="stSidebar"]').inner_text()  # still joined
        assert alert_sentences(page) == [
            f"That is not the teacher key of class {code}; open the teacher link you kept when "
            "you created it."
        ]
        screenshot(page, "class-bad-input")
