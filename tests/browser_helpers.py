"""Run the dashboard for real and drive it with a browser: server, pages, pen strokes.

Used by the browser tests (tests/test_browser*.py), bench/ and scripts/. The server is
`streamlit run app.py` on a free port; the browser is Debian's Chromium driven by Playwright;
digits are drawn as mouse strokes over the canvas, the way a visitor draws them.
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "artifacts" / "screenshots"  # git-ignored
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CANVAS = ".st-key-draw_canvas canvas.upper-canvas"
PREDICTION = ".st-key-draw_prediction"
ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'
# True once the element named by the argument shows a model's answer.
ANSWERED = "selector => document.querySelector(selector)?.innerText.includes('Prediction:')"

Point = tuple[float, float]


@dataclass
class Server:
    """A running `streamlit run app.py`."""

    process: subprocess.Popen
    url: str
    started: float  # time.perf_counter() just before the process was started
    log: Path

    def peak_memory_mb(self) -> float:
        """The server's peak resident memory so far (VmHWM), in megabytes."""
        return self._status_mb("VmHWM")

    def memory_mb(self) -> float:
        """The server's resident memory now (VmRSS), in megabytes."""
        return self._status_mb("VmRSS")

    def _status_mb(self, field: str) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"{field} missing from /proc/{self.process.pid}/status")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"streamlit did not answer at {url} within {timeout} s")


@contextmanager
def streamlit_server(
    environment: dict[str, str],
    log: Path,
    root: Path = ROOT,
    options: Sequence[str] = (),
    preexec_fn: Callable[[], None] | None = None,
) -> Iterator[Server]:
    """Start `streamlit run app.py` in ``root`` with extra ``environment``; stop it afterwards.

    ``options`` are more `streamlit run` command-line options; ``preexec_fn`` runs in the
    server's process just before Streamlit starts (e.g. to pin it to a core).
    """
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app.py",
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
        *options,
    ]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as output:
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=root,
            env={**os.environ, **environment},
            stdout=output,
            stderr=output,
            preexec_fn=preexec_fn,
        )
        server = Server(process, f"http://127.0.0.1:{port}", started, log)
        try:
            wait_until_healthy(server.url, process)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def launch(playwright, chromium: str):
    """Headless Chromium with the flags every run uses (sync or async Playwright alike)."""
    return playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)


@contextmanager
def open_page(browser, url: str | None = None, width: int = 1400, height: int = 1000):
    """A page in a fresh browser context (a visitor of its own), closed afterwards.

    With ``url`` the page is opened there and the app has rendered when it is handed over.
    """
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        page.set_default_timeout(120_000)
        if url is not None:
            page.goto(url)
            wait_for_idle(page)
        yield page
    finally:
        context.close()


def go_to(page, label: str) -> None:
    """Follow a link in the sidebar, staying in the same session."""
    page.locator('[data-testid="stSidebarNav"] a', has_text=label).click()
    wait_for_idle(page)


def wait_for_idle(page, timeout: float = 60_000) -> None:
    """Wait until the app has rendered and is no longer running its script."""
    page.wait_for_selector('[data-testid="stMain"] h1', timeout=timeout)  # every page has a title
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"] *')",
        timeout=timeout,
    )
    page.wait_for_timeout(300)


def wait_for_answer(page, selector: str = PREDICTION, **options) -> None:
    """Wait until the element at ``selector`` shows the model's answer ("Prediction: ...")."""
    page.wait_for_function(ANSWERED, arg=selector, **options)


def settled_text(page, selector: str) -> str:
    """The element's text once the app is idle and the text has stopped changing."""
    previous = None
    for _ in range(20):
        wait_for_idle(page)
        page.wait_for_timeout(700)  # a later stroke's answer may still be on its way
        current = page.locator(selector).inner_text()
        if current == previous:
            return current
        previous = current
    return previous


def error_texts(page) -> list[str]:
    """The text of every exception or error box on the page."""
    return [element.inner_text() for element in page.query_selector_all(ERRORS)]


def screenshot(page, name: str) -> Path:
    """Save the whole page (Streamlit scrolls inside its own box, so the window is stretched)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    size = page.viewport_size
    measure = "() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight"
    for _ in range(3):  # charts and images change the height as they arrive
        height = page.evaluate(measure)
        page.set_viewport_size({"width": size["width"], "height": max(size["height"], height)})
        page.wait_for_timeout(1000)
    page.wait_for_function("() => Array.from(document.images).every(image => image.complete)")
    page.screenshot(path=str(path))
    page.set_viewport_size(size)
    return path


# --- drawing --------------------------------------------------------------------------------


def draw(page, strokes: list[list[Point]], canvas: str = CANVAS) -> None:
    """Draw ``strokes`` (lists of points in canvas pixels) with the mouse over the canvas."""
    element = page.locator(canvas).first
    element.scroll_into_view_if_needed()
    box = element.bounding_box()
    for stroke in strokes:
        x, y = stroke[0]
        page.mouse.move(box["x"] + x, box["y"] + y)
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=2)
        page.mouse.up()


def add_to_set(page, label: int) -> None:
    """Label the drawn digit on the Draw page and add it to the learner's own set."""
    choice = page.locator(".st-key-handwriting_label input")
    choice.click()
    choice.fill(str(label))
    page.keyboard.press("Enter")
    wait_for_idle(page)
    page.get_by_role("button", name="Add to my set").click()
    wait_for_idle(page)


def prediction_after_drawing(page, strokes: list[list[Point]]) -> str:
    """Draw the strokes, wait for the model's answer to the whole drawing and return its text."""
    draw(page, strokes)
    wait_for_answer(page)
    return settled_text(page, PREDICTION)


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int = 24):
    """Points along an ellipse from angle ``start`` to ``end`` (degrees, 0 = right, 90 = down)."""
    return [
        (
            cx + rx * math.cos(math.radians(start + (end - start) * i / n)),
            cy + ry * math.sin(math.radians(start + (end - start) * i / n)),
        )
        for i in range(n + 1)
    ]


def _line(start: Point, end: Point, n: int = 12) -> list[Point]:
    return [
        (start[0] + (end[0] - start[0]) * i / n, start[1] + (end[1] - start[1]) * i / n)
        for i in range(n + 1)
    ]


def digit_strokes(digit: int, cx: float, cy: float, height: float) -> list[list[Point]]:
    """Pen strokes of a plainly written ``digit`` centred at (cx, cy), ``height`` pixels tall."""
    half = height / 2
    if digit == 0:
        return [_arc(cx, cy, 0.36 * height, half, -90, 275, n=40)]
    if digit == 1:
        return [_line((cx + 0.06 * height, cy - half), (cx - 0.04 * height, cy + half))]
    if digit == 2:
        top = _arc(cx, cy - 0.22 * height, 0.28 * height, 0.28 * height, 200, 380)
        return [
            top
            + _line(top[-1], (cx - 0.3 * height, cy + half))[1:]
            + _line((cx - 0.3 * height, cy + half), (cx + 0.32 * height, cy + half))[1:]
        ]
    if digit == 3:
        upper = _arc(cx, cy - 0.25 * height, 0.27 * height, 0.25 * height, 200, 450)
        lower = _arc(cx, cy + 0.25 * height, 0.3 * height, 0.25 * height, 270, 520)
        return [upper + lower]
    if digit == 4:
        elbow = (cx - 0.3 * height, cy + 0.15 * height)
        return [
            _line((cx - 0.02 * height, cy - half), elbow)
            + _line(elbow, (cx + 0.3 * height, cy + 0.15 * height))[1:],
            _line((cx + 0.12 * height, cy - 0.3 * height), (cx + 0.12 * height, cy + half)),
        ]
    if digit == 7:
        corner = (cx + 0.3 * height, cy - half)
        return [
            _line((cx - 0.3 * height, cy - half), corner)
            + _line(corner, (cx - 0.08 * height, cy + half))[1:]
        ]
    raise ValueError(f"No pen strokes written for {digit}.")


def click_plot_point(page, chart, x: float, y: float) -> None:
    """Click the point at data coordinates (x, y) of the Plotly chart ``chart`` (a locator)."""
    chart.scroll_into_view_if_needed()
    chart.locator(".nsewdrag").first.wait_for()
    position = chart.locator(".js-plotly-plot").first.evaluate(
        """(plot, [x, y]) => {
            const layout = plot._fullLayout, box = plot.getBoundingClientRect();
            return {x: box.left + layout._size.l + layout.xaxis.l2p(x),
                    y: box.top + layout._size.t + layout.yaxis.l2p(y)};
        }""",
        [x, y],
    )
    page.mouse.move(position["x"], position["y"])
    page.wait_for_timeout(200)
    page.mouse.click(position["x"], position["y"])


def clear_canvas(page) -> None:
    """Press Clear and wait until the fresh, empty canvas is ready for the pen."""
    old = page.locator(CANVAS).first.element_handle()
    page.get_by_role("button", name="Clear", exact=True).click()
    page.wait_for_function("canvas => !canvas.isConnected", arg=old)
    page.locator(CANVAS).first.wait_for()
    wait_for_idle(page)
    page.wait_for_timeout(500)  # the drawing library attaches its pen after the canvas appears
