"""Benchmark the live reader: `python bench/live_bench.py [--drawings N]`.

Trains the linear net, the scikit-learn MLP and the Keras MLP on the bundled sample (their
default sizes, which is what the speed depends on), serves them as ready-made models, and draws
digits with the mouse on the Draw page in headless Chromium (Debian's `chromium`). The reader
times each of its own updates (reading the pen's pixels, preprocessing and the forward pass:
`data-ms`); every update while the pen moves is recorded. Prints the median and 95th percentile
per model and the size of each model's network as sent to the browser, once per choice of model.
Results are also written to artifacts/bench/live_bench.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from browser_helpers import (  # noqa: E402 - the helpers live next to the tests
    CANVAS,
    clear_canvas,
    digit_strokes,
    draw,
    launch,
    streamlit_server,
    wait_for_idle,
)
from live_helpers import LIVE, RECORD_UPDATES  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

MODELS = [  # (model family, the words its label in the model picker contains)
    ("scratch-linear", "Linear net (NumPy)"),
    ("sklearn-mlp", "scikit-learn MLP"),
    ("keras-mlp", "Keras MLP"),
]
DIGITS = (0, 1, 2, 3, 4, 7)


def ready_made(folder: Path) -> dict[str, dict]:
    """Train each family on the sample into ``folder``; its network's size for the browser."""
    from mnistkit import persistence
    from mnistkit.data import load_mnist
    from mnistkit.network import payload_size, to_payload
    from mnistkit.training import RunConfig, train

    sample = load_mnist("sample")
    sizes = {}
    for number, (family, label) in enumerate(MODELS):
        trained = train(RunConfig(family, epochs=2), sample)
        persistence.save(trained, folder / f"model-{number}")
        payload = to_payload(trained.model.to_network())
        sizes[label] = {
            "parameters": trained.model.to_network().parameters,
            "weights_mb": payload_size(payload) / 1e6,
            "json_mb": len(json.dumps(payload)) / 1e6,
        }
    return sizes


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drawings", type=int, default=12, help="digits drawn per model")
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium")
    if chromium is None:
        print("Debian's chromium is needed: apt-get install chromium", file=sys.stderr)
        return 1
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        sizes = ready_made(Path(folder))
        environment = {"MNISTKIT_DATA": "sample", "MNISTKIT_MODELS_DIR": folder}
        log = ROOT / "artifacts" / "bench" / "live-server.log"
        with streamlit_server(environment, log) as server, sync_playwright() as playwright:
            browser = launch(playwright, chromium)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(300_000)
            page.goto(f"{server.url}/draw")
            wait_for_idle(page, timeout=300_000)
            page.locator(CANVAS).first.wait_for()
            page.locator(LIVE).wait_for()
            for _, label in MODELS:
                page.locator('[data-testid="stSelectbox"]').first.click()
                page.get_by_role("option").filter(has_text=label).first.click()
                wait_for_idle(page)
                page.evaluate(RECORD_UPDATES)
                for number in range(args.drawings):
                    if page.locator(LIVE).get_attribute("data-digit") is not None:
                        clear_canvas(page)
                        page.evaluate(RECORD_UPDATES)  # the fresh canvas, same reader
                    digit = DIGITS[number % len(DIGITS)]
                    draw(page, digit_strokes(digit, 140, 140, 120 + 10 * (number % 12)))
                    wait_for_idle(page)
                    times = page.evaluate(
                        "() => window.liveUpdates.filter(u => u.state === 'drawing').map(u => u.ms)"
                    )
                    results.setdefault(label, []).extend(times)
            browser.close()
    report = {}
    print("Live reader, one update (pen pixels + preprocessing + forward pass), headless Chromium")
    print("on a shared 2-core machine (noisy); the network is sent once per choice of model:")
    for _, label in MODELS:
        times = results.get(label, [])
        if not times:
            print(f"  {label}: no updates recorded")
            continue
        report[label] = {
            "updates": len(times),
            "median_ms": statistics.median(times),
            "p95_ms": percentile(times, 0.95),
            **sizes[label],
        }
        entry = report[label]
        print(
            f"  {label:20s} median {entry['median_ms']:5.2f} ms, p95 {entry['p95_ms']:5.2f} ms "
            f"over {entry['updates']} updates; network {entry['parameters']:,} parameters, "
            f"{entry['weights_mb']:.2f} MB of float32, {entry['json_mb']:.2f} MB as sent"
        )
    out = ROOT / "artifacts" / "bench" / "live_bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
