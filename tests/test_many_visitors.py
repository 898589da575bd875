"""A class at once: five browser sessions train and draw on one `streamlit run` server.

Each visitor trains a different small model on the bundled sample and draws a digit, all at the
same time (one Chromium, one context per visitor, driven with Playwright's async API so the steps
interleave). Every session must finish, see only its own model and drawing, the shared digits
must be loaded once, and the server must stay within 700 MB. The figures are printed and written
to artifacts/many-visitors.json.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass

import pytest
from browser_helpers import CANVAS, ERRORS, PREDICTION, digit_strokes, launch, streamlit_server
from conftest import ROOT
from playwright.async_api import async_playwright

from mnistkit.models import REGISTRY
from mnistkit.ui.data import LOADED_MESSAGE

pytestmark = pytest.mark.browser

MEMORY_BUDGET_MB = 700  # Streamlit Community Cloud's smallest allowance
EMPTY_ANSWER = "Draw a digit and the model's answer appears here."
REPORT = ROOT / "artifacts" / "many-visitors.json"


@dataclass(frozen=True)
class Visitor:
    family: str
    train_size: str  # as the slider shows it
    epochs: int
    digit: int  # what this visitor draws


VISITORS = [
    Visitor("scratch-linear", "1,000", 3, 7),
    Visitor("scratch-linear", "2,000", 2, 1),
    Visitor("sklearn-mlp", "1,000", 3, 0),
    Visitor("sklearn-mlp", "2,000", 2, 3),
    Visitor("keras-mlp", "1,000", 2, 4),
]


async def wait_for_idle(page) -> None:
    """Wait until the app has rendered and is no longer running its script."""
    await page.wait_for_selector('[data-testid="stMain"] h1')
    await page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"] *')"
    )
    await page.wait_for_timeout(300)


async def settled_text(page, selector: str) -> str:
    """The element's text once the app is idle and the text has stopped changing.

    A digit of two strokes is answered once per stroke: the first answer, to half a digit, can
    show before the second stroke's rerun has begun (browser_helpers.settled_text, async).
    """
    previous = None
    for _ in range(20):
        await wait_for_idle(page)
        await page.wait_for_timeout(700)  # a later stroke's answer may still be on its way
        current = await page.locator(selector).inner_text()
        if current == previous:
            return current
        previous = current
    return previous


async def slide_to(page, name: str, text: str, key: str) -> None:
    """Move the slider called ``name`` with the keyboard until it shows ``text``."""
    # By its own label: the accessible name repeats the group's label ("Epochs Epochs"), and
    # "Training digits" is also part of "Held-out share of the training digits".
    slider = page.get_by_role("slider").and_(page.locator(f'[aria-label="{name}"]'))
    restart = "Home"
    for _ in range(120):
        shown = await slider.get_attribute("aria-valuetext")
        if shown == text:
            return
        await slider.focus()  # a rerun may have redrawn the form and taken the focus away
        pressed, restart = restart or key, None
        await page.keyboard.press(pressed)
        for _ in range(20):  # the value shown follows the key press a moment later
            await page.wait_for_timeout(100)
            if await slider.get_attribute("aria-valuetext") != shown:
                break
        else:  # stuck at the far end, or the press was lost: start again from the first value
            restart = "Home" if pressed == key else None
    raise AssertionError(f"the {name} slider never showed {text}")


async def draw(page, strokes) -> None:
    """Draw ``strokes`` (lists of canvas points) with the mouse, as browser_helpers.draw does."""
    canvas = page.locator(CANVAS).first
    await canvas.scroll_into_view_if_needed()
    box = await canvas.bounding_box()
    for stroke in strokes:
        x, y = stroke[0]
        await page.mouse.move(box["x"] + x, box["y"] + y)
        await page.mouse.down()
        for x, y in stroke[1:]:
            await page.mouse.move(box["x"] + x, box["y"] + y, steps=2)
        await page.mouse.up()


async def own_models(page) -> list[str]:
    """The models the sidebar lists for this session."""
    sidebar = await page.locator('[data-testid="stSidebar"]').inner_text()
    return [line[2:] for line in sidebar.splitlines() if line.startswith("• ")]


async def visit(browser, url: str, visitor: Visitor, start: asyncio.Barrier) -> dict:
    """One visitor: choose a model, train it, then draw a digit; returns what they saw."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    page.set_default_timeout(240_000)
    await page.goto(f"{url}/train")
    await wait_for_idle(page)
    await page.get_by_role("radio", name=REGISTRY[visitor.family].display_name).check(force=True)
    await wait_for_idle(page)
    await slide_to(page, "Training digits", visitor.train_size, "ArrowRight")
    await slide_to(page, "Epochs", str(visitor.epochs), "ArrowRight")
    await start.wait()  # everyone presses Train at the same moment
    began = time.perf_counter()
    await page.get_by_role("button", name="Train", exact=True).click()
    await page.get_by_text("is ready: it reads").wait_for()
    await wait_for_idle(page)
    trained_in = time.perf_counter() - began
    success = await page.locator('[data-testid="stAlertContentSuccess"]').first.inner_text()
    name = success.split(" is ready")[0].splitlines()[-1].strip()  # after the icon's name
    models_after_training = await own_models(page)

    await page.locator('[data-testid="stSidebarNav"] a', has_text="Draw").click()
    await wait_for_idle(page)
    answer_before = await page.locator(PREDICTION).inner_text()
    await page.locator(CANVAS).first.wait_for()
    await page.wait_for_timeout(500)  # the drawing library attaches its pen after the canvas
    await draw(page, digit_strokes(visitor.digit, 150, 140, 170))
    await page.wait_for_function(
        "selector => document.querySelector(selector)?.innerText.includes('Prediction:')",
        arg=PREDICTION,
    )
    answer = await settled_text(page, PREDICTION)  # the answer to the whole drawing
    errors = [await element.inner_text() for element in await page.query_selector_all(ERRORS)]
    seconds = time.perf_counter() - began
    return {
        "visitor": visitor,
        "page": page,
        "context": context,
        "name": name,
        "models_after_training": models_after_training,
        "answer_before_drawing": answer_before,
        "answer": answer,
        "errors": errors,
        "trained_in": trained_in,
        "seconds": seconds,
    }


async def a_class_at_once(url: str, chromium: str) -> tuple[list[dict], float]:
    async with async_playwright() as playwright:
        browser = await launch(playwright, chromium)
        start = asyncio.Barrier(len(VISITORS))
        began = time.perf_counter()
        sessions = await asyncio.gather(*(visit(browser, url, v, start) for v in VISITORS))
        wall = time.perf_counter() - began
        for session in sessions:  # after everyone has trained and drawn
            session["models_at_the_end"] = await own_models(session["page"])
            session["answer_at_the_end"] = await session["page"].locator(PREDICTION).inner_text()
        for session in sessions:
            await session.pop("context").close()
            del session["page"]
        await browser.close()
    return sessions, wall


def test_five_visitors_train_and_draw_at_once_within_the_memory_budget(chromium):
    environment = {"MNISTKIT_DATA": "sample", "MNISTKIT_MODELS_DIR": ""}
    log = ROOT / "artifacts" / "server-many-visitors.log"
    with streamlit_server(environment, log) as server:
        sessions, wall = asyncio.run(a_class_at_once(server.url, chromium))
        peak = server.peak_memory_mb()
    figures = {
        "sessions": len(sessions),
        "wall_seconds": round(wall, 1),
        "server_peak_memory_mb": round(peak, 1),
        "memory_budget_mb": MEMORY_BUDGET_MB,
        "visitors": [
            {
                "model": session["visitor"].family,
                "training_digits": session["visitor"].train_size,
                "epochs": session["visitor"].epochs,
                "drew": session["visitor"].digit,
                "trained": session["name"],
                "answer": session["answer"].splitlines()[0],
                "train_seconds": round(session["trained_in"], 1),
                "seconds": round(session["seconds"], 1),
            }
            for session in sessions
        ],
    }
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(figures, indent=1))
    print(f"\n{len(sessions)} sessions at once: {wall:.1f} s wall time, server peak {peak:.0f} MB")

    for session in sessions:
        who = session["visitor"]
        assert session["errors"] == [], who
        assert session["models_after_training"] == [session["name"]], who  # only their own
        assert session["models_at_the_end"] == [session["name"]], who
        assert session["answer_before_drawing"].strip() == EMPTY_ANSWER, who  # no one else's
        assert "Prediction:" in session["answer"] and session["name"] in session["answer"], who
        assert session["answer_at_the_end"] == session["answer"], who
    loads = [line for line in log.read_text().splitlines() if LOADED_MESSAGE in line]
    assert len(loads) == 1, loads
    assert peak < MEMORY_BUDGET_MB


def test_leaving_the_train_page_mid_run_lets_the_run_finish_in_its_worker(chromium):
    """A click on another page while a model trains: the run goes on in its worker process,
    the sidebar says how far it is, and the finished model joins the list on the other page."""
    environment = {"MNISTKIT_DATA": "sample", "MNISTKIT_MODELS_DIR": ""}
    log = ROOT / "artifacts" / "server-interrupted.log"
    with streamlit_server(environment, log) as server:
        asyncio.run(leave_mid_run(server.url, chromium))


async def leave_mid_run(url: str, chromium: str) -> None:
    async with async_playwright() as playwright:
        browser = await launch(playwright, chromium)
        page = await browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(240_000)
        await page.goto(f"{url}/train")
        await wait_for_idle(page)
        await slide_to(page, "Training digits", "500", "ArrowRight")
        await slide_to(page, "Epochs", "1", "ArrowRight")
        await page.get_by_role("button", name="Train", exact=True).click()
        await page.get_by_text("is ready: it reads").wait_for()
        await wait_for_idle(page)
        (first,) = await own_models(page)

        await page.get_by_role("radio", name=REGISTRY["sklearn-mlp"].display_name).check(force=True)
        await wait_for_idle(page)
        await slide_to(page, "Epochs", "60", "ArrowRight")  # all 6,000 digits: a long run
        await page.get_by_role("button", name="Train", exact=True).click()
        try:
            await page.get_by_text(re.compile(r"Epoch [2-9] of 60")).wait_for(timeout=90_000)
        finally:
            await page.screenshot(path=str(ROOT / "artifacts" / "interrupted-run.png"))
        await page.locator('[data-testid="stSidebarNav"] a', has_text="Draw").click()
        # the page changes at the next run, which may wait for the run-progress follower's own
        await page.get_by_role("heading", name="Draw a digit").wait_for(timeout=60_000)
        await wait_for_idle(page)
        assert await own_models(page) == [first]  # nothing half-trained joins the list
        sidebar = page.locator('[data-testid="stSidebar"]')
        await sidebar.get_by_text(re.compile(r"Your run: epoch \d+ of 60")).wait_for()
        # The run goes on in its worker; when it is done it joins the list, here on Draw.
        await page.wait_for_function(
            "() => [...document.querySelectorAll('[data-testid=\"stSidebar\"] *')]"
            ".filter(e => e.children.length === 0 && e.textContent.startsWith('\u2022 '))"
            ".length >= 2",
            timeout=240_000,
        )
        await wait_for_idle(page)
        models = await own_models(page)
        assert models[0] == first and len(models) == 2 and "scikit-learn MLP" in models[1]
        await browser.close()
