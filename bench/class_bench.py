"""A class on one server: `python bench/class_bench.py [--visitors 30] [--data PATH]`.

N visitors (default 30) arrive over a minute, each in their own browser context of one headless
Chromium, against one `streamlit run app.py` with ready-made models and full MNIST. Each opens the
Draw page and draws a digit; a third of them then train a default model on the Train page. The
server is pinned to core 0 and the browser to core 1 (``os.sched_setaffinity``), as the class
figures in issue 13 were measured. Printed, and written to artifacts/bench/class_bench.json:

- the answer time after the pen first lifts (median, 95th percentile), timed in the page, and
  the page-open time (95th);
- each training's wait (Train pressed -> "is ready") and every error a visitor saw;
- the server process's own CPU seconds per visitor (the browsers' work shows in every time
  measured from a browser, so this is the server's real cost);
- peak memory of the server process and of its whole process tree (workers included);
- memory before the class, and after every tab has closed and Streamlit's disconnected-session
  TTL has passed.

Ready-made models (a scikit-learn and a Keras MLP with default settings) are trained once with
the command line into artifacts/bench/ready-made/ and reused by later runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser_helpers import (  # noqa: E402 - the helpers live next to the tests
    CANVAS,
    ERRORS,
    PREDICTION,
    digit_strokes,
    launch,
    streamlit_server,
)

READY_MADE = {"sklearn-mlp.skops": "sklearn-mlp", "keras-mlp.keras": "keras-mlp"}
# the radio labels trained in turn, and their families' keys
TRAINED_FAMILIES = {
    "scikit-learn MLP": "sklearn-mlp",
    "Linear net (NumPy)": "scratch-linear",
    "Keras MLP": "keras-mlp",
}
DIGITS = [0, 1, 2, 3, 4, 7]
SESSION_TTL_S = 30  # server.disconnectedSessionTTL for the run, so the wait for it stays short
TRAINING_TIMEOUT_S = 20 * 60
IDLE = "() => !document.querySelector('[data-testid=\"stStatusWidget\"] *')"
# Waiting pages are checked every POLL_MS: checking thirty of them at every frame (Playwright's
# default) loaded the one browser core the class shares. Answers are timed by the page itself:
# WATCH_ANSWER arms a watcher before the pen lifts, ANSWER_SEEN waits for the wall-clock time
# (ms since the epoch) at which the page first showed "Prediction:".
POLL_MS = 250
WATCH_ANSWER = """selector => {
  const shown = () => document.querySelector(selector)?.textContent.includes("Prediction:");
  const now = () => performance.timeOrigin + performance.now();
  window.__answerSeen = new Promise(resolve => {
    if (shown()) return resolve(now());
    const watcher = new MutationObserver(() => {
      if (shown()) { watcher.disconnect(); resolve(now()); }
    });
    watcher.observe(document.body, {subtree: true, childList: true, characterData: true});
  });
}"""
ANSWER_SEEN = "() => window.__answerSeen"


def default_data() -> Path:
    return Path(os.environ.get("MNIST_NPZ") or ROOT.parent / "shared" / "data" / "mnist.npz")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


# --- the server and its memory ------------------------------------------------------------------


def tree(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        children = Path(f"/proc/{current}/task/{current}/children")
        if children.exists():
            queue.extend(int(child) for child in children.read_text().split())
    return found


def status_mb(pid: int, field: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """The process's own user + system CPU time (not its children's)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class MemoryWatch:
    """Samples the server's and its tree's resident memory every 0.2 s, keeping the peaks."""

    def __init__(self, pid: int):
        self.pid, self.tree_peak_mb, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            total = sum(status_mb(pid, "VmRSS") for pid in tree(self.pid))
            self.tree_peak_mb = max(self.tree_peak_mb, total)

    def tree_now_mb(self) -> float:
        return sum(status_mb(pid, "VmRSS") for pid in tree(self.pid))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def ensure_ready_made(folder: Path, data: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, family in READY_MADE.items():
        if not (folder / name).is_file():
            print(f"training the ready-made {family} once (reused by later runs)…", flush=True)
            subprocess.run(
                [sys.executable, "-m", "mnistkit", "train", "--model", family, "--out",
                 str(folder / name), "--data", str(data)],
                check=True, cwd=ROOT,
            )  # fmt: skip


# --- one visitor ----------------------------------------------------------------------------------


async def wait_idle(page, timeout_ms: float = 300_000) -> None:
    await page.wait_for_selector('[data-testid="stMain"] h1', timeout=timeout_ms)
    await page.wait_for_function(IDLE, timeout=timeout_ms, polling=POLL_MS)


async def visitor(number: int, browser, url: str, delay: float, trains: bool, results: dict):
    await asyncio.sleep(delay)
    record: dict = {"visitor": number, "errors": []}
    results["visitors"].append(record)
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    page.set_default_timeout(300_000)
    try:
        started = time.perf_counter()
        await page.goto(f"{url}/draw")
        await page.locator(CANVAS).first.wait_for()
        await wait_idle(page)
        record["page_open_s"] = time.perf_counter() - started
        await page.wait_for_timeout(500)  # the pen attaches just after the canvas appears
        canvas = page.locator(CANVAS).first
        await canvas.scroll_into_view_if_needed()
        box = await canvas.bounding_box()
        digit = DIGITS[number % len(DIGITS)]
        strokes = digit_strokes(digit, 140, 140, 170)
        # the answer to the first lift of the pen (a 4's second stroke comes after it)
        await page.evaluate(WATCH_ANSWER, PREDICTION)
        for index, stroke in enumerate(strokes):
            await page.mouse.move(box["x"] + stroke[0][0], box["y"] + stroke[0][1])
            await page.mouse.down()
            for x, y in stroke[1:]:
                await page.mouse.move(box["x"] + x, box["y"] + y, steps=2)
            if index == 0:
                lifted = time.time()
            await page.mouse.up()
        record["answer_s"] = await page.evaluate(ANSWER_SEEN) / 1000 - lifted
        print(f"visitor {number}: answer {record['answer_s']:.2f} s", flush=True)
        await wait_idle(page)
        record["errors"] += [await e.inner_text() for e in await page.query_selector_all(ERRORS)]
        if trains:
            family = list(TRAINED_FAMILIES)[(number // 3) % len(TRAINED_FAMILIES)]
            record["trained"] = family
            await page.locator('[data-testid="stSidebarNav"] a', has_text="Train").click()
            await wait_idle(page)
            await page.locator('[data-testid="stRadio"] label', has_text=family).first.click()
            # the form of the chosen family: pressing Train before it came reran the old one
            await page.locator(f".st-key-train_{TRAINED_FAMILIES[family]}_epochs").wait_for()
            await wait_idle(page)
            pressed = time.perf_counter()
            await page.get_by_role("button", name="Train", exact=True).click()
            ready = page.locator('[data-testid="stAlertContentSuccess"]', has_text="is ready")
            await ready.wait_for(timeout=TRAINING_TIMEOUT_S * 1000)
            record["training_wait_s"] = time.perf_counter() - pressed
            print(f"visitor {number}: {family} ready after {record['training_wait_s']:.0f} s")
            await wait_idle(page)
        record["errors"] += [await e.inner_text() for e in await page.query_selector_all(ERRORS)]
    except Exception as error:  # a visitor who was not served is a result, not a crash
        record["errors"].append(f"{type(error).__name__}: {str(error).splitlines()[0]}")
        await page.screenshot(path=str(ROOT / "artifacts" / "bench" / f"visitor-{number}.png"))
    finally:
        await context.close()


async def run_class(url: str, visitors: int, arrival_s: float, results: dict) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await launch(playwright, shutil.which("chromium"))
        spacing = arrival_s / max(1, visitors - 1)
        await asyncio.gather(
            *(
                visitor(number, browser, url, number * spacing, number % 3 == 2, results)
                for number in range(visitors)
            )
        )
        await browser.close()


async def warm_up(url: str) -> None:
    """One visit to Draw before the class, so that data and ready-made models are loaded."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await launch(playwright, shutil.which("chromium"))
        page = await browser.new_page()
        await page.goto(f"{url}/draw")
        await page.locator(CANVAS).first.wait_for(timeout=300_000)
        await wait_idle(page)
        await browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=30)
    parser.add_argument("--arrival", type=float, default=60.0, help="seconds over which they come")
    parser.add_argument("--data", type=Path, default=default_data(), help="full mnist.npz")
    parser.add_argument("--models", type=Path, default=ROOT / "artifacts" / "bench" / "ready-made")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        parser.error(f"no MNIST file at {args.data}")
    if shutil.which("chromium") is None:
        parser.error("Debian's chromium is needed (apt-get install chromium)")
    ensure_ready_made(args.models, args.data)

    environment = {
        "MNISTKIT_DATA": str(args.data.resolve()),
        "MNISTKIT_MODELS_DIR": str(args.models.resolve()),
    }
    log = ROOT / "artifacts" / "bench" / "class-server.log"
    ttl = ["--server.disconnectedSessionTTL", str(SESSION_TTL_S)]
    pin = lambda: os.sched_setaffinity(0, {0})  # noqa: E731 - the server on core 0
    results: dict = {"visitors": [], "count": args.visitors}
    with streamlit_server(environment, log, options=ttl, preexec_fn=pin) as server:
        os.sched_setaffinity(0, {1})  # this script, Playwright's driver and Chromium on core 1
        process, url = server.process, server.url
        watch = MemoryWatch(process.pid)
        asyncio.run(warm_up(url))
        time.sleep(SESSION_TTL_S + 5)  # the warm-up visitor's session is gone too
        results["before_mb"] = {"server": status_mb(process.pid, "VmRSS"),
                                "tree": watch.tree_now_mb()}  # fmt: skip
        cpu_before = cpu_seconds(process.pid)
        started = time.perf_counter()
        asyncio.run(run_class(url, args.visitors, args.arrival, results))
        results["class_wall_s"] = time.perf_counter() - started
        results["server_cpu_s"] = cpu_seconds(process.pid) - cpu_before
        results["peak_mb"] = {"server": status_mb(process.pid, "VmHWM"),
                              "tree": watch.tree_peak_mb}  # fmt: skip
        time.sleep(SESSION_TTL_S + 15)  # every tab closed; Streamlit forgets their sessions
        results["after_mb"] = {"server": status_mb(process.pid, "VmRSS"),
                               "tree": watch.tree_now_mb()}  # fmt: skip
        watch.stop()
    report(results)
    output = ROOT / "artifacts" / "bench" / "class_bench.json"
    output.write_text(json.dumps(results, indent=2))
    print(f"written to {output.relative_to(ROOT)}")
    errors = [error for record in results["visitors"] for error in record["errors"]]
    unfinished = [r for r in results["visitors"] if "trained" in r and "training_wait_s" not in r]
    return 1 if errors or unfinished else 0


def report(results: dict) -> None:
    records = results["visitors"]
    answers = [r["answer_s"] for r in records if "answer_s" in r]
    opens = [r["page_open_s"] for r in records if "page_open_s" in r]
    waits = [r["training_wait_s"] for r in records if "training_wait_s" in r]
    trainers = [r for r in records if "trained" in r]
    errors = [(r["visitor"], error) for r in records for error in r["errors"]]
    count = results["count"]
    print(f"\n{count} visitors over one server (server on core 0, Chromium on core 1)")
    print(f"served (answer seen): {len(answers)} of {count}; errors: {len(errors)}")
    for visitor, error in errors[:10]:
        print(f"  visitor {visitor}: {error}")
    if answers:
        print(
            f"answer after the pen lifts: median {statistics.median(answers):.2f} s, "
            f"95th percentile {percentile(answers, 0.95):.2f} s (target <= 3 s)"
        )
    if opens:
        print(f"Draw page open: 95th percentile {percentile(opens, 0.95):.1f} s")
    print(
        f"trainings finished: {len(waits)} of {len(trainers)}"
        + (
            f"; wait median {statistics.median(waits):.0f} s, longest {max(waits):.0f} s"
            if waits
            else ""
        )
    )
    print(
        f"server CPU: {results['server_cpu_s']:.1f} s in all, "
        f"{results['server_cpu_s'] / count:.3f} s per visitor (target <= 0.15 s)"
    )
    peak, before, after = results["peak_mb"], results["before_mb"], results["after_mb"]
    print(
        f"peak memory: server {peak['server']:.0f} MB (target <= 400 MB), "
        f"process tree {peak['tree']:.0f} MB"
    )
    print(
        f"memory before the class: server {before['server']:.0f} MB, tree {before['tree']:.0f} MB; "
        f"after it left (TTL {SESSION_TTL_S} s passed): server {after['server']:.0f} MB "
        f"({after['server'] - before['server']:+.0f} MB, target within 50 MB), "
        f"tree {after['tree']:.0f} MB"
    )


if __name__ == "__main__":
    raise SystemExit(main())
