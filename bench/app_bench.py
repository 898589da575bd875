"""Benchmark the dashboard as a visitor meets it: `python bench/app_bench.py [--data PATH]`.

Measures, with `streamlit run app.py` and headless Chromium (Debian's `chromium`):

1. start-up: from launching `streamlit run` to the home page's first render;
2. drawing: from lifting the mouse at the end of a stroke on the Draw page to the new
   `Prediction:` on screen, for each of the three default models;
3. memory: the server's peak resident memory (VmHWM in /proc) after one visitor has trained
   all three default models on the full data set, and drawn with each.

The data set is the full MNIST file (default: $MNIST_NPZ or ../shared/data/mnist.npz), passed
to the app as MNISTKIT_DATA. Results are printed and written to artifacts/bench/app_bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser_helpers import (  # noqa: E402 - the helpers live next to the tests
    CANVAS,
    clear_canvas,
    digit_strokes,
    go_to,
    launch,
    streamlit_server,
    wait_for_answer,
    wait_for_idle,
)
from playwright.sync_api import sync_playwright  # noqa: E402

FAMILIES = ["Linear net (NumPy)", "scikit-learn MLP", "Keras MLP"]
DRAWINGS = [(1, 140, 140, 160), (7, 120, 130, 150), (0, 150, 150, 190), (3, 130, 150, 140)]
TRAINING_TIMEOUT_MS = 30 * 60 * 1000


def default_data() -> Path:
    return Path(os.environ.get("MNIST_NPZ") or ROOT.parent / "shared" / "data" / "mnist.npz")


def train_defaults(page, server) -> dict[str, dict[str, float]]:
    """Train each family's defaults through the Train page; wall seconds and memory after each."""
    go_to(page, "Train")
    runs = {}
    for family in FAMILIES:
        page.locator('[data-testid="stRadio"] label', has_text=family).click()
        wait_for_idle(page)
        started = time.perf_counter()
        page.get_by_role("button", name="Train", exact=True).click()
        done = page.locator('[data-testid="stAlertContentSuccess"]', has_text=family)
        done.wait_for(timeout=TRAINING_TIMEOUT_MS)
        seconds = time.perf_counter() - started
        wait_for_idle(page)
        runs[family] = {
            "wall_s": seconds,
            "memory_after_mb": server.memory_mb(),
            "peak_memory_so_far_mb": server.peak_memory_mb(),
        }
        print(
            f"  trained {family} in {seconds:.1f} s (wall, through the page); server memory "
            f"{server.memory_mb():.0f} MB, peak so far {server.peak_memory_mb():.0f} MB"
        )
    return runs


def choose_model(page, family: str) -> None:
    page.locator('[data-testid="stSelectbox"]').first.click()
    page.get_by_role("option").filter(has_text=family).first.click()
    wait_for_idle(page)


def stroke_to_answer_ms(page, strokes) -> float:
    """Draw a one-stroke digit; milliseconds from mouse-up to the answer on screen."""
    clear_canvas(page)
    box = page.locator(CANVAS).first.bounding_box()
    (stroke,) = strokes
    page.mouse.move(box["x"] + stroke[0][0], box["y"] + stroke[0][1])
    page.mouse.down()
    for x, y in stroke[1:]:
        page.mouse.move(box["x"] + x, box["y"] + y, steps=2)
    started = time.perf_counter()
    page.mouse.up()
    wait_for_answer(page, polling=10)
    elapsed = 1000 * (time.perf_counter() - started)
    wait_for_idle(page)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data(), help="full mnist.npz")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        parser.error(f"no MNIST file at {args.data}")
    chromium = shutil.which("chromium")
    if chromium is None:
        parser.error("Debian's chromium is needed (apt-get install chromium)")

    environment = {"MNISTKIT_DATA": str(args.data.resolve()), "MNISTKIT_MODELS_DIR": ""}
    results: dict = {"data": str(args.data)}
    with sync_playwright() as playwright:
        browser = launch(playwright, chromium)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)
        log = ROOT / "artifacts" / "bench" / "server.log"
        with streamlit_server(environment, log) as server:
            page.goto(server.url)
            wait_for_idle(page)
            results["first_render_s"] = time.perf_counter() - server.started
            print(f"streamlit run -> home page rendered: {results['first_render_s']:.1f} s")
            results["memory_after_home_mb"] = server.peak_memory_mb()

            results["training"] = train_defaults(page, server)
            results["memory_after_training_mb"] = server.peak_memory_mb()

            go_to(page, "Draw")
            page.locator(CANVAS).first.wait_for()
            results["stroke_to_answer_ms"] = {}
            for family in FAMILIES:
                choose_model(page, family)
                timings = [
                    stroke_to_answer_ms(page, digit_strokes(digit, x, y, height))
                    for digit, x, y, height in DRAWINGS
                ]
                results["stroke_to_answer_ms"][family] = {
                    "median": statistics.median(timings),
                    "max": max(timings),
                }
                print(f"stroke -> answer with {family}: median {statistics.median(timings):.0f} ms")
            results["peak_memory_mb"] = server.peak_memory_mb()
            print(f"server peak memory (VmHWM): {results['peak_memory_mb']:.0f} MB")
        browser.close()

    output = ROOT / "artifacts" / "bench" / "app_bench.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2))
    print(f"written to {output.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
