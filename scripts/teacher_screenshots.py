"""Screenshots of every page at 1400 px and at 390 px: `python scripts/teacher_screenshots.py`.

Trains three small ready-made models on the bundled sample (a linear net, a scikit-learn MLP and
one that collapsed at a learning rate of 10, so the failure marking shows), starts
`streamlit run app.py` with them in headless Chromium (Debian's `chromium`), trains one more on
the Train page, draws a 3 on the Draw page, and saves each page under artifacts/screenshots/ as
`teacher-<page>-<width>.png`. Look at them before calling a page done.
"""

from __future__ import annotations

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
    error_texts,
    launch,
    screenshot,
    streamlit_server,
    wait_for_answer,
    wait_for_idle,
)
from playwright.sync_api import sync_playwright  # noqa: E402

PAGES = ["", "data", "train", "evaluate", "compare", "draw", "class"]
WIDTHS = (1400, 390)


def ready_made_models(folder: Path) -> None:
    from mnistkit import persistence
    from mnistkit.data import load_mnist
    from mnistkit.training import RunConfig, train

    sample = load_mnist("sample")
    runs = {
        "linear": RunConfig(model="scratch-linear", epochs=3),
        "mlp": RunConfig(model="sklearn-mlp", hyperparameters={"hidden_layers": (64,)}, epochs=3),
        "collapsed": RunConfig(
            model="sklearn-mlp", hyperparameters={"learning_rate": 10.0}, epochs=2
        ),
    }
    for name, config in runs.items():
        persistence.save(train(config, sample), folder / name)


def main() -> int:
    chromium = shutil.which("chromium")
    if chromium is None:
        print("needs Debian's chromium (apt-get install chromium)", file=sys.stderr)
        return 2
    problems = []
    with tempfile.TemporaryDirectory() as folder:
        ready_made_models(Path(folder))
        environment = {
            "MNISTKIT_DATA": "sample",
            "MNISTKIT_MODELS_DIR": folder,
            "MNISTKIT_STATE_DIR": str(Path(folder) / "state"),  # class mode's own SQLite file
            "PYTHONPATH": str(ROOT),
        }
        log = ROOT / "artifacts" / "server-teacher-screenshots.log"
        with streamlit_server(environment, log) as server, sync_playwright() as playwright:
            browser = launch(playwright, chromium)
            for width in WIDTHS:
                context = browser.new_context(viewport={"width": width, "height": 900})
                page = context.new_page()
                page.set_default_timeout(180_000)
                for name in PAGES:
                    page.goto(f"{server.url}/{name}")
                    wait_for_idle(page)
                    if name == "train" and width == WIDTHS[0]:
                        page.get_by_role("button", name="Train", exact=True).click()
                        page.get_by_text("Settings used:").wait_for()
                        wait_for_idle(page)
                    if name == "draw":
                        draw(page, digit_strokes(3, 130, 140, 170))
                        wait_for_answer(page)
                        wait_for_idle(page)
                        page.wait_for_timeout(1500)
                    main = "document.querySelector('[data-testid=\"stMain\"]')"
                    page.evaluate(f"() => {main}.scrollTo(0, 1e6)")  # lazy tables render
                    page.wait_for_timeout(1500)
                    page.evaluate(f"() => {main}.scrollTo(0, 0)")
                    path = screenshot(page, f"teacher-{name or 'home'}-{width}")
                    problems += [f"{path.name}: {text}" for text in error_texts(page)]
                    print(f"saved {path.relative_to(ROOT)}")
                context.close()
            browser.close()
    for problem in problems:
        print(f"error box: {problem}")
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
