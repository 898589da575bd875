"""What a visitor costs the browser: `python bench/browser_bench.py [--visitors 5] [--data PATH]`.

The class benchmark runs every visitor's tab in one Chromium on one core, so each tab's own work
is the floor under every time it measures. This benchmark opens fresh visitors (a browser context
each, as there) one after another, never two at once, and prints the CPU seconds the whole
Chromium process tree (browser, renderer, GPU and network processes) and Playwright's driver
spend, at the median:

- to open a bare Streamlit page (one title, nothing of mnistkit's): the floor any Streamlit app
  pays for a new browser;
- to open mnistkit's Home page, and its Draw page with the ready-made models;
- to draw a digit on Draw and get the answer.

It ends with what a class of N arriving over S seconds asks of one browser core: N times the cost
of one visitor, over S. Above 1.0 the core cannot keep up, and tabs wait for each other.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from browser_helpers import (  # noqa: E402 - the helpers live next to the tests
    ANSWERED,
    CANVAS,
    PREDICTION,
    digit_strokes,
    launch,
    streamlit_server,
)
from class_bench import default_data, ensure_ready_made  # noqa: E402

BARE_PAGE = 'import streamlit as st\n\nst.title("A bare Streamlit page")\n'
IDLE = "() => !document.querySelector('[data-testid=\"stStatusWidget\"] *')"
SETTLE_MS = 1500  # after the page is idle, late work (fonts, components) still lands


def browser_cpu_s() -> float:
    """CPU seconds used so far by every Chromium process and Playwright's driver (node)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")[0]
            if not (command.endswith((b"chromium", b"chrome", b"node")) or b"chrom" in command):
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def visit(browser, url: str, draw: bool) -> tuple[float, float | None]:
    """A fresh visitor opens ``url`` (and draws a 7): the browser CPU seconds for each step."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.set_default_timeout(300_000)
        before = browser_cpu_s()
        page.goto(url)
        page.wait_for_selector('[data-testid="stMain"] h1')
        page.wait_for_function(IDLE, polling=250)
        if draw:
            page.locator(CANVAS).first.wait_for()
        page.wait_for_timeout(SETTLE_MS)
        opened = browser_cpu_s()
        if not draw:
            return opened - before, None
        box = page.locator(CANVAS).first.bounding_box()
        for stroke in digit_strokes(7, 140, 140, 170):
            page.mouse.move(box["x"] + stroke[0][0], box["y"] + stroke[0][1])
            page.mouse.down()
            for x, y in stroke[1:]:
                page.mouse.move(box["x"] + x, box["y"] + y, steps=2)
            page.mouse.up()
        page.wait_for_function(ANSWERED, arg=PREDICTION, polling=250)
        page.wait_for_function(IDLE, polling=250)
        page.wait_for_timeout(SETTLE_MS)
        return opened - before, browser_cpu_s() - opened
    finally:
        context.close()


def measure(url: str, visitors: int, draw: bool = False) -> tuple[float, float | None]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright, shutil.which("chromium"))
        visit(browser, url, draw)  # the first visitor also warms the server: not counted
        costs = [visit(browser, url, draw) for _ in range(visitors)]
        browser.close()
    opens = statistics.median(cost[0] for cost in costs)
    drawings = statistics.median(cost[1] for cost in costs) if draw else None
    return opens, drawings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=5, help="fresh visitors per page")
    parser.add_argument("--data", type=Path, default=default_data(), help="full mnist.npz")
    parser.add_argument("--models", type=Path, default=ROOT / "artifacts" / "bench" / "ready-made")
    parser.add_argument("--class-size", type=int, default=30)
    parser.add_argument(
        "--arrival", type=float, default=60.0, help="seconds the class arrives over"
    )
    args = parser.parse_args(argv)
    if not args.data.is_file():
        parser.error(f"no MNIST file at {args.data}")
    if shutil.which("chromium") is None:
        parser.error("Debian's chromium is needed (apt-get install chromium)")
    ensure_ready_made(args.models, args.data)
    logs = ROOT / "artifacts" / "bench"

    with tempfile.TemporaryDirectory() as bare:
        (Path(bare) / "app.py").write_text(BARE_PAGE)
        with streamlit_server({}, logs / "bare-server.log", root=Path(bare)) as server:
            bare_open, _ = measure(server.url, args.visitors)
    environment = {
        "MNISTKIT_DATA": str(args.data.resolve()),
        "MNISTKIT_MODELS_DIR": str(args.models.resolve()),
    }
    with streamlit_server(environment, logs / "browser-server.log") as server:
        home_open, _ = measure(server.url, args.visitors)
        draw_open, drawing = measure(f"{server.url}/draw", args.visitors, draw=True)

    print(f"\nBrowser CPU per fresh visitor (median of {args.visitors}, one at a time)")
    print(f"open a bare Streamlit page:   {bare_open:.2f} s")
    print(f"open mnistkit's Home:         {home_open:.2f} s")
    print(f"open mnistkit's Draw:         {draw_open:.2f} s")
    print(f"draw a 7 and get the answer:  {drawing:.2f} s")
    for label, cost in (("a bare Streamlit page", bare_open), ("Draw", draw_open + drawing)):
        load = args.class_size * cost / args.arrival
        print(
            f"{args.class_size} visitors over {args.arrival:.0f} s, {label}: "
            f"{load:.2f} s of browser CPU per second (one core gives 1.00)"
        )
    return 0


if __name__ == "__main__":
    started = time.perf_counter()
    code = main()
    print(f"({time.perf_counter() - started:.0f} s)")
    raise SystemExit(code)
