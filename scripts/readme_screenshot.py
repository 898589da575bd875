"""Make the README's screenshot: `python scripts/readme_screenshot.py [--data mnist.npz]`.

Trains the Draw page's quick model on the given MNIST file into a ready-made models folder,
starts `streamlit run app.py` with it, draws a 3 with the mouse on the Draw page in headless
Chromium (Debian's `chromium`) and saves the window as docs/screenshot.png.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser_helpers import (  # noqa: E402 - the helpers live next to the tests
    digit_strokes,
    draw,
    launch,
    streamlit_server,
    wait_for_answer,
    wait_for_idle,
)
from playwright.sync_api import sync_playwright  # noqa: E402

OUTPUT = ROOT / "docs" / "screenshot.png"


def main(argv: list[str] | None = None) -> int:
    default = os.environ.get("MNIST_NPZ") or ROOT.parent / "shared" / "data" / "mnist.npz"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(default), help="mnist.npz")
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium")
    if chromium is None or not args.data.is_file():
        parser.error("needs Debian's chromium and an MNIST file (--data)")

    from mnistkit import persistence
    from mnistkit.data import load_mnist
    from mnistkit.training import train
    from mnistkit.ui.training import quick_config

    with tempfile.TemporaryDirectory() as folder:
        trained = train(quick_config(), load_mnist(args.data))
        persistence.save(trained, Path(folder) / "quick")
        environment = {"MNISTKIT_DATA": str(args.data.resolve()), "MNISTKIT_MODELS_DIR": folder}
        log = ROOT / "artifacts" / "server-screenshot.log"
        with streamlit_server(environment, log) as server, sync_playwright() as playwright:
            browser = launch(playwright, chromium)
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(f"{server.url}/draw")
            wait_for_idle(page)
            draw(page, digit_strokes(3, 130, 140, 170))
            wait_for_answer(page)
            wait_for_idle(page)
            page.wait_for_timeout(1500)
            OUTPUT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(OUTPUT))
            browser.close()
    print(f"saved {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
